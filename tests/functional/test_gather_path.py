"""CPU float32 products of at least ``_GATHER_MIN_COLUMNS`` columns run through ``embedding_bag``
(gcnkit.functional.spmm): the same values and gradients as a dense reference, on every route
into the sparse kernel, and the other products keep MKL's kernel."""
import pytest
import torch

import gcnkit.functional.spmm as spmm
from gcnkit.functional import CSRMatrix, csr_matmul


@pytest.fixture
def gather_calls(monkeypatch):
    """Counts ``embedding_bag`` calls made by the products; small products through the sparse
    kernels (not the kept dense copy)."""
    calls = []
    original = torch.nn.functional.embedding_bag

    def counting(*args, **kwargs):
        calls.append(args[1].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "embedding_bag", counting)
    monkeypatch.setattr(spmm, "_DENSE_MAX_MACS", 0)
    return calls


def _matrix(rows, cols, nnz, empty_rows=(), dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = torch.randint(0, rows, (nnz,), generator=g)
    c = torch.randint(0, cols, (nnz,), generator=g)
    keep = ~torch.isin(r, torch.tensor(list(empty_rows), dtype=torch.long))
    return CSRMatrix.from_coo(r[keep], c[keep], torch.randn(int(keep.sum()), generator=g, dtype=dtype),
                              (rows, cols))


def _check(a: CSRMatrix, x: torch.Tensor, learn_values: bool = False):
    """Forward and gradients (x, and the values when learnable) against the dense matrix."""
    value = a.value.clone().requires_grad_(learn_values)
    x = x.detach().clone().requires_grad_()
    out = csr_matmul(a.with_values(value), x)
    dense_v = a.value.clone().requires_grad_(learn_values)
    x_d = x.detach().clone().requires_grad_()
    dense = torch.zeros(a.shape, dtype=a.dtype).index_put((a.row, a.col), dense_v, accumulate=True)
    ref = dense @ x_d
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(x.grad, x_d.grad, rtol=1e-5, atol=1e-5)
    if learn_values:
        torch.testing.assert_close(value.grad, dense_v.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("columns", [32, 64, 100])
def test_wide_float32_products_and_their_gradients_go_through_the_gather_kernel(gather_calls, columns):
    a = _matrix(30, 25, 120, empty_rows=(3, 7))  # rows without entries give zero rows
    _check(a, torch.randn(25, columns))
    assert len(gather_calls) == 2  # the product and A^T @ grad
    assert gather_calls[0] == (25, columns) and gather_calls[1] == (30, columns)


def test_batches_both_routes_and_learnable_values(gather_calls, monkeypatch):
    import gcnkit.functional.sparse as sparse

    a = _matrix(12, 12, 40)
    x = torch.randn(3, 12, 32)
    _check(a, x)  # the cached block-diagonal matrix against [B*N, F]
    assert gather_calls[0] == (36, 32)
    monkeypatch.setattr(sparse, "_BLOCK_DIAGONAL_MAX_NNZ", 0)
    gather_calls.clear()
    _check(a, x)  # the batch folded into the columns: [N, B*F]
    assert gather_calls[0] == (12, 96)
    gather_calls.clear()
    _check(a, torch.randn(12, 40), learn_values=True)  # the value gradient is computed apart
    assert len(gather_calls) == 2


def test_matrices_without_entries_or_rows(gather_calls):
    for rows, cols in ((4, 6), (0, 6), (5, 0)):
        a = CSRMatrix.from_coo(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long),
                               torch.zeros(0), (rows, cols))
        x = torch.randn(cols, 32, requires_grad=True)
        out = csr_matmul(a, x)
        assert out.shape == (rows, 32) and not out.any()
        out.sum().backward()
        assert x.grad.shape == (cols, 32) and not x.grad.any()


def test_other_products_keep_the_csr_kernel(gather_calls):
    a = _matrix(20, 20, 60)
    _check(a, torch.randn(20, 31))  # narrower than the threshold
    _check(a.to(dtype=torch.float64), torch.randn(20, 64, dtype=torch.float64))  # float64
    assert gather_calls == []
    _check(a, torch.randn(64, 20).t())  # x not contiguous: the sparse kernel; its gradient is
    assert gather_calls == [(20, 64)]
