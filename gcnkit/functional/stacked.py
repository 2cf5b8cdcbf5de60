r"""Stacked models against one sparse matrix: ``S`` weight matrices, ``S`` value vectors on one
pattern, one kernel call each way.

``out[s] = X_s W_s`` where every ``X_s`` has the pattern of ``x`` and its own values (a per-model
sparse dropout of the same features): the ``S`` products are one ``embedding_bag`` over the
stacked weights ``[S F, C]`` (bag ``(s, i)`` holds row ``i``'s column indices shifted by
``s F``), and the weight gradient ``X_s^\top G_s`` is the same call on the cached transpose
pattern. Every bag is summed on its own, so model ``s``'s result does not depend on the others.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gcnkit.functional.sparse import CSRMatrix


def _stacked_pattern(x: CSRMatrix, copies: int) -> tuple:
    """Bag indices and offsets of ``copies`` stacked products with ``x``'s pattern and with its
    transpose's, and the permutation of the values into the transpose's order; kept on the
    pattern (shared by every :meth:`CSRMatrix.with_values` copy), the last few counts."""
    store = x._pattern.setdefault("stacked", {})
    key = (copies, x.device)
    if key not in store:
        if len(store) >= 4:
            store.clear()
        n, f = x.shape
        crow_t, col_t, perm, _ = x._transpose_pattern()
        s = torch.arange(copies, device=x.device).unsqueeze(1)
        idx = (x.col.unsqueeze(0) + s * f).reshape(-1)
        offsets = (x.crow[:-1].unsqueeze(0) + s * x.nnz).reshape(-1)
        idx_t = (col_t.unsqueeze(0) + s * n).reshape(-1)
        offsets_t = (crow_t[:-1].unsqueeze(0) + s * x.nnz).reshape(-1)
        store[key] = (idx, offsets, idx_t, offsets_t, perm)
    return store[key]


class _StackedCSRLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, values: Tensor, pattern: tuple, shape: tuple) -> Tensor:
        idx, offsets, _, _, _ = pattern
        s, f, c = weight.shape
        out = F.embedding_bag(idx, weight.reshape(s * f, c), offsets, mode="sum",
                              per_sample_weights=values.reshape(-1))
        ctx.save_for_backward(values)
        ctx.pattern, ctx.shape = pattern, shape
        return out.view(s, shape[0], c)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (values,) = ctx.saved_tensors
        _, _, idx_t, offsets_t, perm = ctx.pattern
        s, n, c = grad.shape
        grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_weight = F.embedding_bag(idx_t, grad.reshape(s * n, c).contiguous(), offsets_t, mode="sum",
                                          per_sample_weights=values.index_select(1, perm).reshape(-1))
            grad_weight = grad_weight.view(s, ctx.shape[1], c)
        return grad_weight, None, None, None


def stacked_csr_linear(x: CSRMatrix, values: Tensor, weight: Tensor) -> Tensor:
    r""":math:`X_s W_s` for ``S`` models at once: ``x`` a :class:`CSRMatrix` ``[N, F]`` giving the
    pattern, ``values`` ``[S, nnz]`` each model's values on it (e.g. its sparse dropout of the
    features), ``weight`` ``[S, F, C]``. Differentiable in ``weight`` (not in ``values``).

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``values`` :math:`(S, \text{nnz})`, ``weight`` :math:`(S, F, C)`
        - **output:** :math:`(S, N, C)`
    """
    if not isinstance(x, CSRMatrix):
        raise TypeError(f"stacked_csr_linear takes a CSRMatrix x, got {type(x).__name__}")
    if weight.dim() != 3 or weight.size(1) != x.shape[1]:
        raise ValueError(f"weight must have shape [S, F={x.shape[1]}, C], got {tuple(weight.shape)}")
    if values.shape != (weight.size(0), x.nnz):
        raise ValueError(f"values must have shape [S={weight.size(0)}, nnz={x.nnz}] (one value per stored entry "
                         f"of x per model), got {tuple(values.shape)}")
    if values.requires_grad:
        raise ValueError("stacked_csr_linear is not differentiable in values (features); detach them")
    if values.device != weight.device or x.device != weight.device:
        raise ValueError(f"x on {x.device}, values on {values.device}, weight on {weight.device}: move them "
                         f"to one device")
    if values.dtype != weight.dtype:
        raise TypeError(f"values are {values.dtype} but weight is {weight.dtype}; cast one of them")
    pattern = _stacked_pattern(x, weight.size(0))
    return _StackedCSRLinear.apply(weight.contiguous(), values.contiguous(), pattern, x.shape)
