"""Products of a :class:`~gcnkit.functional.sparse.CSRMatrix` with dense matrices.

:func:`csr_matmul` multiplies ``a @ x`` differentiably with respect to the dense operand and, when
they require grad, to the stored values (learnable edge weights): through MKL's / cuSPARSE's CSR
kernels with a custom backward that uses the matrix's cached transpose; on the CPU, for small
products, through a kept dense copy of the matrix, and for float32 products at least
:data:`_GATHER_MIN_COLUMNS` wide through PyTorch's ``embedding_bag`` (FBGEMM's gather-and-sum
kernel, which is exactly a CSR product: bag ``i`` sums the rows ``x[col[j]]`` of row ``i``'s
entries, weighted by their values).
"""
from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor

from gcnkit.functional import sparse as _sparse
from gcnkit.functional.cache import _version, hold
from gcnkit.functional.sparse import _LOW_PRECISION, CSRMatrix
from gcnkit.functional.validation import refuse_functorch


#: On the CPU a floating-point product ``a @ x`` of at most this many multiply-adds
#: (``rows × x.numel()``) with one ``[N, F]`` operand and a matrix of at most
#: :data:`_DENSE_MAX_ENTRIES` entries runs against a kept dense copy of ``a``: for small graphs
#: (Chickenpox's 20 nodes, a recurrent state's step) the sparse kernel's and the custom backward's
#: fixed cost per call (about 60 us for a product and its gradient here) is most of the time, and
#: a dense product of this size takes a few microseconds. Batches keep the CSR path (a broadcast
#: dense product was slower there), and so do larger, sparser matrices (a 256-node graph with 8
#: features was slower dense).
_DENSE_MAX_MACS = 1 << 19
_DENSE_MAX_ENTRIES = 128 * 128

#: On the CPU a float32 product with at least this many columns runs through ``embedding_bag``
#: (bags = rows, indices = ``col``, offsets = ``crow[:-1]``, per-sample weights = values) instead
#: of MKL's CSR kernel. Measured on one core of the 2-core EPYC VM (torch 2.13): Los-loop's
#: 32-window block-diagonal adjacency (97k entries) times 64 columns 0.19 ms against 0.61 ms,
#: 128 columns 0.42 ms against 2.29 ms; Cora's adjacency times 64 columns 0.05 against 0.14 ms.
#: Narrower products (the Kipf model's 16 and 7) were as fast or slower, and float64 slower.
_GATHER_MIN_COLUMNS = 32


_checked = threading.local()


def _finite(t: Tensor) -> bool:
    """Whether every entry of ``t`` is finite (one reduction: a NaN or an infinity makes the sum
    non-finite; a finite sum that overflows only sends the product to the exact sparse path), or
    the caller vouched for its operands (:func:`finite_operands`)."""
    return getattr(_checked, "on", False) or math.isfinite(t.detach().sum().item())


@contextmanager
def finite_operands() -> Iterator[None]:
    """Small products inside skip the check that keeps a NaN of one node off the dense path (about
    14 us a product, 6% of a Chickenpox epoch): for callers that checked their inputs, such as
    :func:`~gcnkit.nn.recurrent.run_sequence` (its ``x`` and state), whose values in between are
    finite unless they overflow.

    Returns:
        a context manager (yields ``None``; the previous setting is restored on exit).
    """
    before = getattr(_checked, "on", False)
    _checked.on = True
    try:
        yield
    finally:
        _checked.on = before


def _dense_mm(a: CSRMatrix, x: Tensor) -> Tensor:
    """``a @ x`` through ``a``'s dense copy (autograd's own ``mm``), in ``x``'s dtype, for a finite
    ``x``: a dense product would spread a NaN or infinity of one node to every node (0 · NaN = NaN)."""
    if torch.is_autocast_enabled(x.device.type):  # as the sparse product: no low-precision detour
        with torch.autocast(x.device.type, enabled=False):
            return _dense_mm(a, x)
    hold(a)
    if x.dim() == 2:  # (a view costs as much as the product here)
        return torch.mm(a._kept_dense(), x)
    out = torch.mm(a._kept_dense(), x.reshape(x.size(-2), x.size(-1)))
    return out.view(*x.shape[:-2], a.shape[0], x.size(-1))


def _mm(a: CSRMatrix, x: Tensor) -> Tensor:
    """Plain (non-differentiable) ``a @ x`` for 2-D ``x``, with a float32 detour where the
    sparse kernel lacks the dtype (bfloat16/float16 on CPU). Under autocast the product runs in
    ``x``'s dtype (autocast would send it to a low-precision sparse kernel CPUs lack)."""
    if torch.is_autocast_enabled(x.device.type):
        with torch.autocast(x.device.type, enabled=False):
            return _mm(a, x)
    hold(a)  # a CUDA graph being captured reads a's tensors at every replay: keep them alive
    if x.dtype in _LOW_PRECISION and x.device.type == "cpu":
        return (a.to(dtype=torch.float32).to_torch() @ x.float()).to(x.dtype)
    if torch.is_grad_enabled():  # double backward: keep it differentiable
        return a.to_torch() @ x
    if (x.device.type == "cpu" and x.dtype == torch.float32 == a.value.dtype
            and x.size(-1) >= _GATHER_MIN_COLUMNS and x.layout == torch.strided and x.is_contiguous()):
        return torch.nn.functional.embedding_bag(a.col, x, a.crow[:-1], mode="sum",
                                                 per_sample_weights=a.value)
    # into a new, unfilled output: `@` zero-fills one first (beta=0 ignores its contents)
    out = x.new_empty(a.shape[0], x.size(-1))
    return torch.addmm(out, a.to_torch(), x, beta=0, out=out)


class _CSRMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: CSRMatrix, value: Tensor, x: Tensor) -> Tensor:  # value is a.value
        ctx.a = a
        ctx.version = _version(value)
        ctx.save_for_backward(x if value.requires_grad else None)
        return _mm(a, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        a: CSRMatrix = ctx.a
        if _version(a.value) != ctx.version:  # as autograd's own check of saved tensors
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                "inplace operation: the values of a sparse matrix (sparse features or an adjacency) "
                "were written in place between the forward and the backward pass; clone them first")
        (x,) = ctx.saved_tensors
        # sparse CSR features give a sparse CSR product, and its gradient may come sparse: the
        # gathers below need rows of dense matrices (as wide as the features, as in the dense case)
        grad = grad.to_dense() if grad.layout != torch.strided else grad.contiguous()
        grad_x = _mm(a.t(), grad) if ctx.needs_input_grad[2] else None
        grad_value = None
        if ctx.needs_input_grad[1]:
            x = x.to_dense() if x.layout != torch.strided else x
            grad_value = (grad.index_select(0, a.row) * x.index_select(0, a.col)).sum(-1)
        return None, grad_value, grad_x


def csr_matmul(a: CSRMatrix, x: Tensor) -> Tensor:
    r"""``a @ x`` for a :class:`CSRMatrix` ``a`` of shape ``[M, N]``.

    ``x`` has shape ``[N, F]`` or ``[*, N, F]``; a batch over one static graph is one sparse
    matmul: ``[B*N, F]`` against the cached block-diagonal :meth:`CSRMatrix.block_diagonal` (no
    copies of ``x``), or, for very large batches or values that require grad, with the batch
    folded into columns. Differentiable in ``x`` (through the cached
    transpose) and in ``a.value`` when it requires grad.

    ``x`` has the matrix's dtype (or, on the CPU, bfloat16/float16 against a float32 or float64
    matrix: the product runs in float32 and comes back in ``x``'s dtype); other dtypes are a
    ``TypeError``. A NaN or infinity in a row of ``x`` reaches only the rows of its neighbours, as
    in the sparse formula (the gradient of a small CPU product, computed densely, is the exception:
    a non-finite upstream gradient reaches every node's, as in a dense ``mm``). That check costs
    a reduction of ``x`` per small product; :func:`finite_operands` lets callers that checked their
    inputs skip it (:func:`~gcnkit.nn.recurrent.run_sequence` does).

    The kernel: on the CPU, small products of a finite ``x`` multiply a kept dense copy of ``a``, float32 products
    of at least 32 columns go through ``embedding_bag`` (a column index outside ``[0, N)`` is
    then an error naming it), the others through MKL; on CUDA, cuSPARSE. Results agree to
    float32 rounding.

    Args:
        a (CSRMatrix): the matrix ``[M, N]``.
        x (Tensor): dense or sparse CSR, ``[N, F]`` or ``[*, N, F]``.

    Returns:
        Tensor: ``a @ x``, ``[M, F]`` or ``[*, M, F]``, in ``x``'s dtype.

    Shapes:
        - **input:** ``[N, F]`` or ``[*, N, F]``
        - **output:** ``[M, F]`` or ``[*, M, F]``
    """
    if not isinstance(x, Tensor) or x.layout not in (torch.strided, torch.sparse_csr):
        got = f"a {x.layout} tensor" if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"csr_matmul multiplies by a dense or sparse CSR x [N, F] / [*, N, F], got {got}; "
                        f"NormalizedGraph.matmul and gcnkit.functional.propagate take any sparse features")
    if x.dim() < 2:
        raise ValueError(f"csr_matmul expects x of shape [N, F] or [*, N, F], got {tuple(x.shape)}")
    refuse_functorch()
    n = a.shape[1]
    if x.size(-2) != n:
        raise ValueError(f"csr_matmul: the matrix has {n} columns (nodes) but x has {x.size(-2)} rows "
                         f"(shape {tuple(x.shape)})")
    if a.device != x.device:
        raise ValueError(f"csr_matmul: matrix on {a.device}, x on {x.device}")
    if x.dtype != a.value.dtype and not (x.dtype in _LOW_PRECISION and a.value.dtype.is_floating_point):
        raise TypeError(f"csr_matmul: the matrix holds {a.value.dtype} values but x is {x.dtype}; "
                        f"cast x (x.to({a.value.dtype})) or the matrix (.to(dtype=...)) so both match")
    if (x.device.type == "cpu" and 0 < a.shape[0] * x.numel() <= _DENSE_MAX_MACS
            and a.shape[0] * n <= _DENSE_MAX_ENTRIES and x.numel() == n * x.size(-1) and x.dtype == a.value.dtype
            and x.is_floating_point() and not a.value.requires_grad and x.layout == torch.strided
            and _finite(x)):
        return _dense_mm(a, x)
    if x.dim() == 2:
        return _CSRMatmul.apply(a, a.value, x)
    lead, f = x.shape[:-2], x.size(-1)
    b = math.prod(lead)
    if not a.value.requires_grad and b * a.nnz <= _sparse._BLOCK_DIAGONAL_MAX_NNZ:
        # the batch as one [B*N, F] matrix against I_B ⊗ a (cached): no transposes either way
        bd = a if b == 1 else a.block_diagonal(b)
        return _CSRMatmul.apply(bd, bd.value, x.reshape(b * n, f)).view(*lead, a.shape[0], f)
    xf = x.reshape(-1, n, f).transpose(0, 1).reshape(n, -1)  # [N, B*F]
    out = _CSRMatmul.apply(a, a.value, xf)
    return out.reshape(a.shape[0], -1, f).transpose(0, 1).reshape(*lead, a.shape[0], f)
