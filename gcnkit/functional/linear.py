r"""A linear map :math:`z W^\top + b` whose weight gradient stays fast when ``z`` is narrow.

For an input with very few features (a recurrent model's input side: 1 to a few channels per
node), BLAS computes the weight gradient :math:`G^\top Z` (``[out, M] @ [M, in]``) on a slow path:
with ``in = 2`` it takes 7x longer than :math:`(Z^\top G)^\top`, the same product with the
operands swapped. :func:`linear` takes the fast order for inputs of at most :data:`NARROW`
features and is ``torch.nn.functional.linear`` otherwise.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, Optional, Sequence, Tuple, TypeVar, Union, overload

import torch
from torch import Tensor

from gcnkit.functional.cache import _version

#: Inputs with at most this many features use the swapped weight-gradient product.
NARROW = 8
_is_compiling = getattr(torch.compiler, "is_compiling", None) or torch._dynamo.is_compiling  # < 2.3: dynamo's
_shared: ContextVar[Optional[dict]] = ContextVar("gcnkit_shared_weights", default=None)
R = TypeVar("R")


@contextmanager
def shared_weights() -> Iterator[None]:
    """Within this block (one recurrent sequence's forward) what is derived from parameters alone
    (a weight's transpose for a GEMM, a concatenation of weights) is made once and shared by every
    step, instead of once per step: one autograd node per sequence, not one per step. Made again
    when a parameter is written in place or grad mode changes; a write that bypasses the version
    counter (through ``.data``) in the middle of a sequence is not seen by a shared concatenation.
    Weights that are not ``Parameter`` objects (rebuilt per call by pruning, hook-based weight
    norm or an uncached parametrization) are not kept: they would never be met again."""
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)


def derived(key: str, weights: Sequence[Tensor], make: Callable[[], R]) -> R:
    """``make()``, shared within a :func:`shared_weights` block for the same ``weights``."""
    if _is_compiling() or torch._C._are_functorch_transforms_active():  # (before the ContextVar,
        return make()  # which dynamo cannot trace)
    memo = _shared.get()
    if memo is None or not all(isinstance(w, torch.nn.Parameter) or id(w) in memo for w in weights):
        return make()  # (what derived() made in this block counts as a parameter: its transpose)
    k = (key, torch.is_grad_enabled()) + tuple(id(w) for w in weights)
    versions = tuple(_version(w) for w in weights)
    hit = memo.get(k)
    if hit is None or hit[1] != versions or any(a is not b for a, b in zip(hit[0], weights)):
        # (the weights kept alive, so that their ids stay theirs; an entry made stale by an
        # in-place write is replaced, not kept beside the new one)
        hit = memo[k] = (tuple(weights), versions, make())
        memo[id(hit[2])] = hit  # (kept alive by the entry: the id stays its own)
    return hit[2]


def _t(weight: Tensor) -> Tensor:
    return derived("t", (weight,), weight.t)


class _NarrowLinear(torch.autograd.Function):
    """``z W^T + b`` for a narrow ``z``, returned in column blocks of ``sizes`` (one output per
    block, each its own contiguous tensor: their gradients are never concatenated)."""

    @staticmethod
    def forward(ctx, z: Tensor, weight: Tensor, bias: Optional[Tensor], sizes: Tuple[int, ...]):
        ctx.save_for_backward(z, weight)
        ctx.set_materialize_grads(False)
        ctx.has_bias, ctx.sizes = bias is not None, sizes
        z2 = z.reshape(-1, z.size(-1))
        outs = []
        for w, b in zip(weight.split(sizes), (None,) * len(sizes) if bias is None else bias.split(sizes)):
            if z2.size(1) == 1:  # an outer product: one pass (addmm copies the bias first, then a K=1 GEMM)
                out = torch.mul(z2, w.t()) if b is None else torch.addcmul(b, z2, w.t())
            else:
                out = torch.mm(z2, w.t()) if b is None else torch.addmm(b, z2, w.t())
            outs.append(out.view(*z.shape[:-1], w.size(0)))
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads: Tensor):
        z, weight = ctx.saved_tensors
        z2 = z.reshape(-1, z.size(-1))
        parts = [(g, w, n) for g, w, n in zip(grads, weight.split(ctx.sizes), ctx.sizes)]
        grad_z = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            for g, w, _ in parts:
                if g is not None:
                    gz = torch.mm(g.reshape(-1, g.size(-1)), w)
                    grad_z = gz if grad_z is None else grad_z.add_(gz)
            grad_z = torch.zeros_like(z) if grad_z is None else grad_z.view(z.shape)
        if ctx.needs_input_grad[1]:
            grad_w = torch.cat([torch.zeros_like(w) if g is None else torch.mm(z2.t(), g.reshape(-1, n)).t()
                                for g, w, n in parts])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = torch.cat([weight.new_zeros(n) if g is None else g.reshape(-1, n).sum(0)
                                for g, _, n in parts])
        return grad_z, grad_w, grad_b, None


@overload
def linear(z: Tensor, weight: Tensor, bias: Optional[Tensor] = None, split: None = None, *,
           add: Optional[Tensor] = None) -> Tensor: ...
@overload
def linear(z: Tensor, weight: Tensor, bias: Optional[Tensor], split: Sequence[int], *,
           add: None = None) -> Tuple[Tensor, ...]: ...
@overload
def linear(z: Tensor, weight: Tensor, bias: Optional[Tensor] = None, *, split: Sequence[int],
           add: None = None) -> Tuple[Tensor, ...]: ...
@overload  # (forwarding both optional: a conv's transform)
def linear(z: Tensor, weight: Tensor, bias: Optional[Tensor], split: Optional[Sequence[int]], *,
           add: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, ...]]: ...
def linear(z: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
           split: Optional[Sequence[int]] = None, *,
           add: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, ...]]:
    r""":math:`z W^\top + b` for ``z`` of shape ``[*, in]``, ``weight`` ``[out, in]``; the same
    values and gradients as ``torch.nn.functional.linear``.

    Args:
        split (sequence of int, optional): return the output's column blocks of these widths
            (summing to ``out``) as a tuple, like ``output.split(split, dim=-1)``; for a narrow
            ``z`` each block is computed on its own, so the backward pass does not concatenate
            their gradients into one ``[*, out]`` tensor.
        add (Tensor, optional): ``[*, out]``, returns :math:`A + z W^\top + b`, with :math:`A`
            the GEMM's accumulator (``addmm``) when ``z`` has more than :data:`NARROW` features
            and ``A`` can be viewed as a matrix (otherwise added after the product): a recurrent
            cell adds its input side :math:`U x_t` to :math:`W h_{t-1}` without a pass of its
            own over the gate pre-activations. Not together with ``split``.

    Shapes:
        - **input:** ``[*, in]``
        - **output:** ``[*, out]`` (a tuple of ``[*, split[i]]`` with ``split``)
    """
    sizes = None if split is None else tuple(int(n) for n in split)
    if sizes is not None and sum(sizes) != weight.size(0):
        raise ValueError(f"split {list(sizes)} does not sum to the {weight.size(0)} output features")
    if add is not None:
        return _linear_add(z, weight, bias, add, sizes)
    # under autocast the forward's products run in the low precision but a custom backward would
    # not: leave those to F.linear, which autocast knows
    if (z.size(-1) <= NARROW and z.dim() >= 2 and z.is_contiguous() and z.layout == torch.strided
            and not _is_compiling()  # torch.compile derives its own backward (and torch 2.11's
            # dynamo failed to trace this Function with an AssertionError)
            and not torch.is_autocast_enabled(z.device.type)
            and not torch._C._are_functorch_transforms_active()):  # torch.func: F.linear
        outs = _NarrowLinear.apply(z, weight, bias, sizes or (weight.size(0),))
        return outs if sizes is not None else outs[0]
    out = torch.nn.functional.linear(z, weight, bias)
    return out if sizes is None else out.split(sizes, dim=-1)


def _linear_add(z: Tensor, weight: Tensor, bias: Optional[Tensor], add: Tensor,
                sizes: Optional[Tuple[int, ...]]) -> Tensor:
    """``add + z W^T + b``, the product accumulated into ``add`` by one ``addmm``."""
    if sizes is not None:
        raise ValueError("linear takes split or add, not both")
    if add.shape[-1:] != weight.shape[:1] or add.shape[:-1] != z.shape[:-1]:
        raise ValueError(f"add has shape {tuple(add.shape)} but z W^T has "
                         f"{tuple(z.shape[:-1]) + (weight.size(0),)}")
    if z.size(-1) <= NARROW or z.dim() < 2 or z.layout != torch.strided:  # the paths above, then +
        return add + linear(z, weight, bias)
    if z.dim() == 2:  # one sequence of a small graph: per-call overhead matters, no reshapes
        out = torch.addmm(add, z, _t(weight))
        return out if bias is None else out.add_(bias)
    z2 = z.reshape(-1, z.size(-1))
    add2 = _as_matrix(add)
    if add2 is None:  # a column block of a batch of steps (B > 1): reshape would copy it, then
        # addmm copies it again: add it after
        out = torch.add(torch.mm(z2, _t(weight)).view(add.shape), add)
        return out if bias is None else out.add_(bias)
    out = torch.addmm(add2, z2, _t(weight))
    return (out if bias is None else out.add_(bias)).view(add.shape)


def _as_matrix(t: Tensor) -> Optional[Tensor]:
    """``t`` viewed as ``[-1, t.size(-1)]``, or ``None`` when its leading axes cannot be merged
    without a copy (decided from the strides, so ``torch.compile`` traces it: a failing ``view``
    inside ``try`` does not)."""
    expected = None
    for size, stride in zip(reversed(t.shape[:-1]), reversed(t.stride()[:-1])):
        if size == 1:
            continue
        if expected is not None and stride != expected:
            return None
        expected = stride * size
    return t.view(-1, t.size(-1))


def linear_sum(zs: Sequence[Tensor], weights: Sequence[Tensor], bias: Optional[Tensor] = None, *,
               add: Optional[Tensor] = None) -> Tensor:
    r""":math:`\sum_k z_k W_k^\top + b` (plus ``add``): ``linear(cat(zs), cat(weights, 1), bias,
    add=add)`` without the concatenation. The products are accumulated into one output by in-place
    GEMMs (``addmm_``), so a Chebyshev basis :math:`[T_0 X, \dots, T_K X]` is never copied into one
    ``[*, (K + 1) F]`` tensor, and its gradient is never split out of one (4–10% of a GConvGRU
    training step on Los-loop batches in back-to-back runs). Narrow inputs (at most :data:`NARROW` features), 16-bit
    tensors and autocast take the concatenated path. Being in place, the accumulation cannot be
    ``torch.func.vmap``-ed over the weights: use ``linear(cat(zs), cat(weights, 1))`` there.

    Shapes: ``zs[k]`` ``[*, in]``, ``weights[k]`` ``[out, in]``, ``add`` ``[*, out]``; output ``[*, out]``.
    """
    if not len(zs) or len(zs) != len(weights):
        raise ValueError(f"linear_sum takes as many weights as inputs (at least one), got {len(zs)} "
                         f"inputs and {len(weights)} weights")
    z0 = zs[0]
    # the concatenated path for: narrow inputs; autocast and 16-bit tensors (a running sum rounded
    # to 16 bits after every term is less accurate than one GEMM's float32 accumulation); and
    # inputs it would reject (rows of different shapes, a bias of another dtype)
    if (z0.size(-1) <= NARROW or z0.dim() < 2 or any(z.layout != torch.strided for z in zs)
            or torch.is_autocast_enabled(z0.device.type) or z0.dtype in (torch.float16, torch.bfloat16)
            or any(z.shape[:-1] != z0.shape[:-1] for z in zs) or (bias is not None and bias.dtype != z0.dtype)):
        return linear(torch.cat(list(zs), dim=-1), torch.cat(list(weights), dim=1), bias, add=add)
    shape = z0.shape[:-1] + (weights[0].size(0),)
    if add is not None and add.shape != shape:
        raise ValueError(f"add has shape {tuple(add.shape)} but the sum has {tuple(shape)}")
    # as in linear(add=): a block that cannot be viewed as a matrix is added after
    add2 = None if add is None else _as_matrix(add)
    z2 = [z.reshape(-1, z.size(-1)) for z in zs]
    out = torch.mm(z2[0], weights[0].t()) if add2 is None else torch.addmm(add2, z2[0], weights[0].t())
    for z, w in zip(z2[1:], weights[1:]):
        out.addmm_(z, w.t())
    if bias is not None:
        out.add_(bias)
    out = out.view(shape)
    return out if add is None or add2 is not None else torch.add(out, add)
