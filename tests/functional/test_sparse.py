"""CSRMatrix and csr_matmul against dense/SciPy references."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gcnkit.functional import CSRMatrix, csr_matmul


def random_coo(rows, cols, nnz, dtype=torch.float64, duplicates=True):
    r = torch.randint(0, rows, (nnz,))
    c = torch.randint(0, cols, (nnz,))
    if duplicates:  # force some repeated (row, col) pairs, unsorted
        r = torch.cat([r, r[:3]])
        c = torch.cat([c, c[:3]])
    v = torch.randn(r.numel(), dtype=dtype)
    return r, c, v


def scipy_csr(r, c, v, shape):
    m = sp.coo_matrix((v.detach().double().numpy(), (r.numpy(), c.numpy())), shape=shape).tocsr()
    m.sum_duplicates()
    m.sort_indices()
    return m


@pytest.mark.parametrize("shape", [(5, 5), (4, 7), (7, 3)])
def test_from_coo_sums_duplicates_like_scipy(shape):
    r, c, v = random_coo(*shape, nnz=12)
    m = CSRMatrix.from_coo(r, c, v, shape)
    ref = scipy_csr(r, c, v, shape)
    assert m.shape == shape and m.nnz == ref.nnz
    np.testing.assert_array_equal(m.crow.numpy(), ref.indptr)
    np.testing.assert_array_equal(m.col.numpy(), ref.indices)
    np.testing.assert_allclose(m.value.numpy(), ref.data)
    np.testing.assert_allclose(m.to_dense().numpy(), ref.toarray())
    np.testing.assert_allclose(m.to_torch().to_dense().numpy(), ref.toarray())
    np.testing.assert_array_equal(m.row.numpy(), np.repeat(np.arange(shape[0]), np.diff(ref.indptr)))


def test_from_coo_sorted_input_and_empty():
    r = torch.tensor([0, 0, 2])
    c = torch.tensor([1, 3, 0])
    m = CSRMatrix.from_coo(r, c, torch.tensor([1.0, 2.0, 3.0]), (3, 4))
    assert m.crow.tolist() == [0, 2, 2, 3]
    assert m.to_dense().tolist() == [[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]]
    empty = CSRMatrix.from_coo(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long),
                               torch.zeros(0), (3, 2))
    assert empty.nnz == 0 and empty.crow.tolist() == [0, 0, 0, 0]
    assert (csr_matmul(empty, torch.randn(2, 4)) == 0).all()
    assert (empty.t().to_dense() == 0).all() and empty.t().shape == (2, 3)


@pytest.mark.parametrize("layout", ["coo", "coo_uncoalesced", "csr", "dense"])
def test_from_torch(layout):
    d = torch.randn(5, 6, dtype=torch.float64) * (torch.rand(5, 6) < 0.4)
    if layout == "coo":
        a = d.to_sparse()
    elif layout == "coo_uncoalesced":  # the entry (1, 2) split in two
        idx = torch.tensor([[1, 0, 1], [2, 4, 2]])
        a = torch.sparse_coo_tensor(idx, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), (5, 6))
        d = a.to_dense()
    elif layout == "csr":
        a = d.to_sparse_csr()
    else:
        a = d
    m = CSRMatrix.from_torch(a)
    torch.testing.assert_close(m.to_dense(), d)
    with pytest.raises(TypeError, match="2-D"):
        CSRMatrix.from_torch(torch.randn(2, 3, 4))


def test_transpose_is_correct_and_built_once():
    r, c, v = random_coo(6, 4, nnz=10)
    m = CSRMatrix.from_coo(r, c, v, (6, 4))
    t = m.t()
    assert t.shape == (4, 6)
    torch.testing.assert_close(t.to_dense(), m.to_dense().t())
    np.testing.assert_array_equal(t.crow.numpy(), scipy_csr(c, r, v, (4, 6)).indptr)
    assert m.t() is t and t.t() is m


def test_with_values_shares_the_transpose_pattern():
    r, c, v = random_coo(5, 5, nnz=9)
    m = CSRMatrix.from_coo(r, c, v, (5, 5))
    m.t()
    new = torch.randn(m.nnz, dtype=torch.float64)
    m2 = m.with_values(new)
    # the transpose pattern and permutation are shared, not recomputed
    assert m2._transpose_pattern() is m._transpose_pattern()
    assert m2.crow is m.crow and m2.col is m.col
    expected = torch.zeros(5, 5, dtype=torch.float64).index_put((m.row, m.col), new)
    torch.testing.assert_close(m2.to_dense(), expected)
    torch.testing.assert_close(m2.t().to_dense(), expected.t())
    torch.testing.assert_close(m.t().to_dense(), m.to_dense().t())  # original untouched
    with pytest.raises(ValueError, match="values"):
        m.with_values(torch.randn(m.nnz + 1))


@pytest.mark.parametrize("shape", [(5, 5), (4, 7)])
def test_csr_matmul_forward_and_grads_match_dense(shape):
    r, c, v = random_coo(*shape, nnz=12)
    m = CSRMatrix.from_coo(r, c, v, shape)
    values = m.value.clone().requires_grad_()
    a = m.with_values(values)
    x = torch.randn(shape[1], 3, dtype=torch.float64, requires_grad=True)
    out = csr_matmul(a, x)
    gout = torch.randn_like(out)
    out.backward(gout)
    # dense reference
    values_d = m.value.clone().requires_grad_()
    x_d = x.detach().clone().requires_grad_()
    dense = torch.zeros(shape, dtype=torch.float64).index_put((m.row, m.col), values_d)
    out_d = dense @ x_d
    out_d.backward(gout)
    torch.testing.assert_close(out, out_d)
    torch.testing.assert_close(x.grad, x_d.grad)
    torch.testing.assert_close(values.grad, values_d.grad)


@pytest.mark.parametrize("batched", [False, True])
def test_csr_matmul_gradcheck(batched, product_path):
    r, c, v = random_coo(6, 5, nnz=11)
    m = CSRMatrix.from_coo(r, c, v, (6, 5))
    x = torch.randn(*((2,) if batched else ()), 5, 3, dtype=torch.float64, requires_grad=True)
    values = m.value.clone().requires_grad_()

    def f(values, x):
        return csr_matmul(m.with_values(values), x)

    assert torch.autograd.gradcheck(f, (values, x))
    assert torch.autograd.gradcheck(lambda x: csr_matmul(m, x), (x,))


def test_csr_matmul_batched_equals_loop():
    r, c, v = random_coo(4, 6, nnz=8)
    m = CSRMatrix.from_coo(r, c, v, (4, 6))
    x = torch.randn(3, 2, 6, 5, dtype=torch.float64)
    out = csr_matmul(m, x)
    assert out.shape == (3, 2, 4, 5)
    torch.testing.assert_close(out, m.to_dense() @ x)


def test_block_diagonal_and_batches_through_both_paths(monkeypatch):
    import gcnkit.functional.sparse as sparse

    r, c, v = random_coo(4, 6, nnz=8)
    m = CSRMatrix.from_coo(r, c, v, (4, 6))
    bd = m.block_diagonal(3)
    assert bd.shape == (12, 18) and m.block_diagonal(3) is bd  # built once per batch size
    torch.testing.assert_close(bd.to_dense(), torch.block_diag(*[m.to_dense()] * 3))
    x = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 4, 5, dtype=torch.float64)
    grads = []
    for limit in (1 << 24, 0):  # block-diagonal path, then the folded-columns path
        monkeypatch.setattr(sparse, "_BLOCK_DIAGONAL_MAX_NNZ", limit)
        out = csr_matmul(m, x)
        torch.testing.assert_close(out, m.to_dense() @ x)
        grads.append(torch.autograd.grad(out, x, g)[0])
    torch.testing.assert_close(grads[0], grads[1])
    torch.testing.assert_close(grads[0], m.to_dense().t() @ g)
    with pytest.raises(ValueError, match="require grad"):
        m.with_values(m.value.clone().requires_grad_()).block_diagonal(2)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
def test_csr_matmul_dtypes(dtype, tol, product_path):
    r, c, v = random_coo(5, 5, nnz=10)
    m = CSRMatrix.from_coo(r, c, v, (5, 5)).to(dtype=dtype)
    x = torch.randn(5, 4, dtype=dtype, requires_grad=True)
    out = csr_matmul(m, x)
    assert out.dtype == dtype
    ref = m.to_dense().double() @ x.detach().double()
    torch.testing.assert_close(out.double(), ref, atol=tol * ref.abs().max(), rtol=tol)
    out.sum().backward()
    assert x.grad.dtype == dtype


def test_csr_matmul_shape_errors():
    m = CSRMatrix.from_coo(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.ones(2), (2, 3))
    with pytest.raises(ValueError, match="3 columns.*x has 4 rows"):
        csr_matmul(m, torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"\[N, F\]"):
        csr_matmul(m, torch.randn(3))


def test_block_diagonal_copies_kept_within_a_memory_budget(monkeypatch):
    import gcnkit.functional.sparse as sparse

    r, c, v = random_coo(4, 6, nnz=8)
    m = CSRMatrix.from_coo(r, c, v, (4, 6))
    monkeypatch.setattr(sparse, "_BLOCK_DIAGONAL_MAX_NNZ", 10 * m.nnz)
    for copies in (4, 3, 5, 2, 6, 3):  # training, last, prediction batches ...
        bd = m.block_diagonal(copies)
        torch.testing.assert_close(bd.to_dense(), torch.block_diag(*[m.to_dense()] * copies))
        assert sum(b.nnz for b in m._blocks.values()) <= 2 * 10 * m.nnz  # two of the largest
    assert sorted(m._blocks) == [2, 3, 4, 5, 6]  # 20 nnz-units in all: within twice the cap
    m._blocks.clear()
    all_steps, per_step = m.block_diagonal(9), m.block_diagonal(3)  # a sequence's B*T and B copies
    assert m.block_diagonal(9) is all_steps and m.block_diagonal(3) is per_step  # no rebuilds
    m.block_diagonal(10)  # over the total: the others go
    assert sorted(m._blocks) == [10]
    x = torch.randn(20, 6, 3, dtype=torch.float64)  # 20 copies exceed the budget: folded path
    torch.testing.assert_close(csr_matmul(m, x), m.to_dense() @ x)
    assert 20 not in m._blocks


def test_block_diagonal_copies_of_all_matrices_together_stay_within_the_budget(monkeypatch):
    """Mini-batches over several live graphs (the graph cache keeps 16): their copies share one
    budget, the least recently extended matrix's copies dropped first; results stay exact."""
    import gcnkit.functional.sparse as sparse

    torch.manual_seed(0)
    mats = []
    for _ in range(5):
        r, c, v = random_coo(4, 6, nnz=8)
        mats.append(CSRMatrix.from_coo(r, c, v.double(), (4, 6)))
    monkeypatch.setattr(sparse, "_BLOCK_DIAGONAL_MAX_NNZ", 10 * 8)  # 160 values in all

    def held():
        return sum(b.nnz for m in mats if m._blocks for b in m._blocks.values())
    for rounds in range(2):
        for m in mats:
            x = torch.randn(7, 6, 2, dtype=torch.float64)  # 7 copies: 56 values per matrix
            torch.testing.assert_close(csr_matmul(m, x), m.to_dense() @ x)
            assert held() <= 2 * 10 * 8
    # the most recently used matrices keep theirs; the others were dropped, oldest first
    kept = [bool(m._blocks) for m in mats]
    assert kept == sorted(kept) and not kept[0] and kept[-1], kept


@pytest.mark.parametrize("layout", [torch.sparse_coo, torch.sparse_csr])
def test_values_written_in_place_before_backward_are_refused(layout, csr_path):
    """``torch.sparse`` features share the user's values: an in-place write between forward and
    backward would make the gradient wrong, so it is refused as autograd refuses it (the dense
    path of small products saves its own copy: see test_dense_path.py)."""
    torch.manual_seed(0)
    dense = torch.randn(5, 4, dtype=torch.float64) * (torch.rand(5, 4) < 0.5)
    a = dense.to_sparse() if layout == torch.sparse_coo else dense.to_sparse_csr()
    m = CSRMatrix.from_torch(a)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    out = csr_matmul(m, w)
    m.value.mul_(2.0)  # what a.values().mul_(2) does to the shared memory
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_transpose_follows_values_written_in_place(product_path):
    """A matrix whose values change in place (after a backward pass) gets a fresh transpose."""
    r, c, v = random_coo(4, 6, nnz=8)
    m = CSRMatrix.from_coo(r, c, v, (4, 6))
    g = torch.randn(4, 2, dtype=torch.float64)
    for scale in (1.0, 3.0):
        if scale != 1.0:
            m.value.mul_(scale)
        x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
        (gx,) = torch.autograd.grad(csr_matmul(m, x), x, g)
        torch.testing.assert_close(gx, m.to_dense().t() @ g)
        torch.testing.assert_close(m.t().to_dense(), m.to_dense().t())
        xb = torch.randn(3, 6, 2, dtype=torch.float64)
        torch.testing.assert_close(csr_matmul(m, xb), m.to_dense() @ xb)  # block copies too


def test_deepcopy_and_pickle_after_use():
    import copy
    import pickle

    r, c, v = random_coo(4, 6, nnz=8)
    m = CSRMatrix.from_coo(r, c, v, (4, 6))
    x = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    csr_matmul(m, x).sum().backward()  # builds the torch.sparse view, transpose, block copies
    for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert other.value.data_ptr() != m.value.data_ptr()
        torch.testing.assert_close(other.to_dense(), m.to_dense())
        torch.testing.assert_close(csr_matmul(other, x), csr_matmul(m, x))


def test_pickles_of_the_earlier_slot_layout_load():
    """Before ``__getstate__`` existed, a CSRMatrix pickled as ``(None, {slot: value})``."""
    r, c, v = random_coo(4, 6, nnz=8)
    m = CSRMatrix.from_coo(r, c, v, (4, 6))
    old_state = (None, {"crow": m.crow, "col": m.col, "value": m.value, "shape": m.shape,
                        "_pattern": {}, "_torch": None, "_t": None, "_blocks": None})
    restored = CSRMatrix.__new__(CSRMatrix)
    restored.__setstate__(old_state)
    torch.testing.assert_close(restored.to_dense(), m.to_dense())


def test_int32_indices_of_a_large_matrix_do_not_overflow():
    """row * cols + col in int32 wraps from ~46k nodes: the matrix and its transpose (the backward
    pass) must equal those built from int64 indices."""
    n = 100_000
    for row, col in (([45000, 10], [0, 7]), ([0, 1], [30000, 5])):  # unsorted, then sorted input
        r32, c32 = torch.tensor(row, dtype=torch.int32), torch.tensor(col, dtype=torch.int32)
        v = torch.tensor([1.0, 2.0])
        ours, ref = CSRMatrix.from_coo(r32, c32, v, (n, n)), CSRMatrix.from_coo(r32.long(), c32.long(), v, (n, n))
        for a, b in ((ours, ref), (ours.t(), ref.t())):
            assert torch.equal(a.row, b.row) and torch.equal(a.col, b.col) and torch.equal(a.value, b.value)
        x = torch.zeros(n, 1)
        x[torch.tensor(col)] = 1.0
        x.requires_grad_(True)
        csr_matmul(ours, x).sum().backward()
        assert sorted(x.grad.nonzero()[:, 0].tolist()) == sorted(col)


def test_from_torch_refuses_what_is_not_a_2d_matrix():
    i = torch.tensor([[0, 1], [0, 1], [0, 2]])
    bad = [torch.sparse_coo_tensor(i, torch.ones(2), (2, 3, 3)),  # 3-D
           torch.sparse_coo_tensor(i[:2], torch.ones(2, 4), (3, 3, 4)),  # hybrid: vector values
           torch.eye(3).expand(2, 3, 3).to_sparse_csr()]  # batched CSR
    for a in bad:
        with pytest.raises(TypeError, match="2-D torch.sparse COO/CSR matrix with scalar values"):
            CSRMatrix.from_torch(a)


def test_to_torch_of_differentiable_values_carries_their_history():
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = CSRMatrix.from_coo(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]), w * 2, (3, 3))
    with torch.no_grad():
        m.to_torch()  # a first conversion without history must not be what later calls get
    (m.to_torch() @ torch.ones(3, 1)).sum().backward()
    torch.testing.assert_close(w.grad, torch.full((3,), 2.0))


@pytest.mark.parametrize("row, col, message", [
    ([0, 1], [1, 3], "column index 3 is out of range for a matrix with 3 columns"),
    ([0, 2], [1, 2], "row index 2 is out of range for a matrix with 2 rows"),
    ([0, -1], [1, 2], "row index -1 is out of range"),
    ([0, 1], [-2, 2], "column index -2 is out of range"),
])
def test_from_coo_refuses_indices_out_of_range(row, col, message):
    # before, an out-of-range column was folded into the next row's key (silently wrong)
    with pytest.raises(ValueError, match=message):
        CSRMatrix.from_coo(torch.tensor(row), torch.tensor(col), torch.ones(2), (2, 3))
    with pytest.raises(ValueError, match="1-D of one length"):
        CSRMatrix.from_coo(torch.tensor([0]), torch.tensor([0, 1]), torch.ones(2), (2, 3))


@pytest.mark.parametrize("crow, col, message", [
    ([0, 1, 2], [0, 7], "column index 7 is out of range for a matrix with 3 columns"),
    ([1, 1, 2], [0, 1], "inconsistent row pointers"),  # does not start at 0
    ([0, 2, 1], [0, 1], "inconsistent row pointers"),  # decreases
    ([0, 1, 3], [0, 1], "inconsistent row pointers"),  # ends past the entries
    ([0, 1], [0, 1], "inconsistent row pointers"),  # one row short
])
def test_from_torch_refuses_an_unchecked_invalid_csr_tensor(crow, col, message):
    # torch builds CSR tensors without checking them by default; MKL's kernel then returned
    # garbage or crashed, embedding_bag some other garbage
    a = torch.sparse_csr_tensor(torch.tensor(crow), torch.tensor(col), torch.ones(len(col)), (2, 3),
                                check_invariants=False)
    with pytest.raises(ValueError, match=message):
        CSRMatrix.from_torch(a)


def test_torch_sparse_notices_are_silenced_for_gcnkit_only():
    """gcnkit's own CSR tensors do not print torch's beta notice, but importing gcnkit does not
    silence it for a user's sparse tensors (a fresh process: torch warns once per process)."""
    import subprocess
    import sys

    code = """
import warnings, torch
from gcnkit.nn.conv import KipfGCNConv
with warnings.catch_warnings(record=True) as w:
    KipfGCNConv(3, 2)(torch.randn(4, 3), torch.tensor([[0, 1, 2], [1, 2, 3]]))  # CSR operators inside
    print("gcnkit", sum("Sparse CSR" in str(m.message) for m in w))
    torch.randn(3, 3).to_sparse_csr()
    torch.sparse_csr_tensor(torch.tensor([0, 1]), torch.tensor([0]), torch.ones(1), (1, 1))
    print("user", sum("Sparse" in str(m.message) for m in w))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:3] == ["gcnkit", "0", "user"] and int(out[3]) >= 1, out
