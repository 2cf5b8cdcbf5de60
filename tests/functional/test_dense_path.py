"""Small products on the CPU through a kept dense copy of the matrix (``_DENSE_MAX_MACS``):
the sparse path's values and gradients, and when it is not taken."""
import pytest
import torch

import gcnkit.functional.spmm as spmm
from gcnkit.functional import CSRMatrix, csr_matmul, normalize_adjacency


@pytest.fixture
def dense_calls(monkeypatch):
    calls = []
    original = spmm._dense_mm
    monkeypatch.setattr(spmm, "_dense_mm", lambda a, x: calls.append(tuple(x.shape)) or original(a, x))
    return calls


def _matrix(n=7, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    r, c = torch.randint(0, n, (3 * n,), generator=g), torch.randint(0, n, (3 * n,), generator=g)
    return CSRMatrix.from_coo(r, c, torch.randn(3 * n, dtype=dtype, generator=g), (n, n))


@pytest.mark.parametrize("shape", [(7, 5), (1, 7, 5), (1, 1, 7, 5)])
def test_dense_path_equals_the_sparse_path(shape, dense_calls, monkeypatch):
    m = _matrix()
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    g = torch.randn(*shape, dtype=torch.float64)
    out = csr_matmul(m, x)
    (gx,) = torch.autograd.grad(out, x, g)
    assert dense_calls == [shape] and out.shape == shape
    monkeypatch.setattr(spmm, "_DENSE_MAX_MACS", 0)
    ref = csr_matmul(m, x)
    (gref,) = torch.autograd.grad(ref, x, g)
    assert dense_calls == [shape]  # the reference took the sparse kernel
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(gx, gref)
    torch.testing.assert_close(out.reshape(7, 5), m.to_dense() @ x.reshape(7, 5))
    assert torch.autograd.gradcheck(lambda x: csr_matmul(m, x), (x,))
    assert torch.autograd.gradgradcheck(lambda x: csr_matmul(m, x), (x,))


def test_not_taken_for_batches_large_products_learnable_values_or_other_dtypes(dense_calls):
    m = _matrix()
    csr_matmul(m, torch.randn(2, 7, 5, dtype=torch.float64))  # a batch: block-diagonal CSR
    csr_matmul(m, torch.randn(7, spmm._DENSE_MAX_MACS // 7 + 1, dtype=torch.float64))  # too large
    w = m.value.clone().requires_grad_(True)
    x = torch.randn(7, 5, dtype=torch.float64)
    out = csr_matmul(m.with_values(w), x)  # learnable edge weights: their gradient needs the CSR path
    (gw,) = torch.autograd.grad(out.sum(), w)
    assert gw.shape == w.shape
    csr_matmul(m.to(dtype=torch.float32), torch.randn(7, 5, dtype=torch.float32))  # same dtype: taken
    assert dense_calls == [(7, 5)]
    # a float32 matrix with bfloat16 features: the sparse path's float32 detour, in x's dtype
    m32 = m.to(dtype=torch.float32)
    xb = torch.randn(7, 5, dtype=torch.bfloat16)
    out = csr_matmul(m32, xb)
    assert out.dtype == torch.bfloat16 and dense_calls == [(7, 5)]
    torch.testing.assert_close(out.float(), m32.to_dense() @ xb.float(), atol=3e-2, rtol=3e-2)
    with pytest.raises(TypeError, match="torch.float64 values but x is torch.float32"):
        csr_matmul(m, torch.randn(7, 5, dtype=torch.float32))  # mismatched dtypes: named, either path
    with pytest.raises(TypeError, match="torch.float64 values but x is torch.float32"):
        csr_matmul(big := _matrix(200), torch.randn(200, 64))
    with pytest.raises(TypeError, match="torch.float32 values but x is torch.int64"):
        csr_matmul(m.to(dtype=torch.float32), torch.ones(7, 5, dtype=torch.long))
    csr_matmul(m.to(dtype=torch.float32), torch.randn(7, 0))  # no columns: nothing to multiply
    # big: a larger, sparser matrix: slower dense even for narrow x
    csr_matmul(big, torch.randn(200, 1, dtype=torch.float64))
    assert dense_calls == [(7, 5)]


def test_empty_operands_give_empty_or_zero_products_without_a_dense_copy():
    ring = torch.arange(20000)
    g = normalize_adjacency(torch.stack([ring, (ring + 1) % 20000]), None, 20000)
    assert g.matmul(torch.randn(20000, 0)).shape == (20000, 0)
    assert g.adj._dense is None  # no 20000 x 20000 copy for an empty product
    empty = CSRMatrix.from_coo(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long),
                               torch.zeros(0), (3, 0))
    out = csr_matmul(empty, torch.randn(2, 0, 4))
    assert out.shape == (2, 3, 4) and (out == 0).all()


def test_dense_copy_is_kept_and_follows_in_place_writes():
    m = _matrix()
    x = torch.randn(7, 3, dtype=torch.float64)
    csr_matmul(m, x)
    copy = m._dense
    csr_matmul(m, x)
    assert m._dense is copy  # made once
    w = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    out = csr_matmul(m, w)
    before = m.to_dense()
    m.value.mul_(3.0)  # after the forward: the gradient is that of the product computed
    (gw,) = torch.autograd.grad(out.sum(), w)
    torch.testing.assert_close(gw, before.t() @ torch.ones(7, 3, dtype=torch.float64))
    torch.testing.assert_close(csr_matmul(m, x), 3.0 * before @ x)  # a new copy for new values
    with pytest.raises(ValueError, match="require grad"):
        m.with_values(m.value.clone().requires_grad_(True))._kept_dense()


def test_under_autocast_the_product_keeps_the_inputs_dtype():
    g = normalize_adjacency(torch.tensor([[0, 1, 2], [1, 2, 0]]), None, 3)
    x = torch.randn(3, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = g.matmul(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, g.to_dense() @ x)


def test_a_first_product_in_inference_mode_leaves_a_copy_training_can_use():
    # evaluation before training (Lightning's sanity check runs under inference_mode)
    from gcnkit.nn.models import TGCN

    n = 20
    ei = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    model = TGCN(4, 8, out_channels=1)
    x = torch.randn(1, 5, n, 4)
    with torch.inference_mode():
        before, _ = model(x, ei)
    out, _ = model(x, ei)
    out.sum().backward()
    torch.testing.assert_close(out.detach(), before)
    assert all(p.grad is not None for p in model.parameters())
    g = normalize_adjacency(ei, None, n)
    with torch.inference_mode():
        g.matmul(torch.randn(n, 3))
    w = torch.randn(n, 3, requires_grad=True)
    (gw,) = torch.autograd.grad(g.matmul(w).sum(), w)
    torch.testing.assert_close(gw, g.to_dense().t() @ torch.ones(n, 3))


def test_in_place_writes_to_inference_values_are_seen():
    # values without a version counter: no copy is kept, so a write is never missed
    with torch.inference_mode():
        sp = torch.tensor([[0.0, 2.0], [3.0, 0.0]]).to_sparse_csr()
        m = CSRMatrix.from_torch(sp)
        x = torch.eye(2)
        torch.testing.assert_close(csr_matmul(m, x), torch.tensor([[0.0, 2.0], [3.0, 0.0]]))
        sp.values().mul_(10)
        torch.testing.assert_close(csr_matmul(m, x), torch.tensor([[0.0, 20.0], [30.0, 0.0]]))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_row_reaches_only_its_neighbours(value, dense_calls):
    m = _matrix()
    x = torch.randn(7, 5, dtype=torch.float64)
    x[3, 2] = value
    out = csr_matmul(m, x)
    assert dense_calls == []  # the sparse kernel: 0 * NaN would reach every row
    reached = (m.to_dense()[:, 3] != 0)
    assert torch.equal((~torch.isfinite(out)).any(1), reached) and reached.sum() < 7
    finite = ~reached
    torch.testing.assert_close(out[finite], m.to_dense()[finite][:, [0, 1, 2, 4, 5, 6]] @ x[[0, 1, 2, 4, 5, 6]])
    csr_matmul(m, x.nan_to_num())
    assert dense_calls == [(7, 5)]  # finite again: the dense copy


def test_run_sequence_vouches_for_its_operands(dense_calls, monkeypatch):
    # x and the state are checked at entry, so the products of its steps skip the NaN check
    import types

    from gcnkit.nn.recurrent import GRUCell, run_sequence

    checks = []
    import math

    monkeypatch.setattr(spmm, "math", types.SimpleNamespace(
        isfinite=lambda v: checks.append(v) or True, prod=math.prod))
    n = 20
    ring = torch.arange(n)
    ei = torch.stack([torch.cat([ring, (ring + 1) % n]), torch.cat([(ring + 1) % n, ring])])
    cell = GRUCell(3, 4, input_operator="gcn", hidden_operator="gcn")
    run_sequence(cell, torch.randn(5, n, 3), ei)
    assert len(dense_calls) >= 5 and checks == []
    csr_matmul(_matrix(), torch.randn(7, 5, dtype=torch.float64))  # outside: checked
    assert len(checks) == 1
    bad = torch.randn(5, n, 3)
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="x has 1 non-finite values"):  # what makes the skip safe
        run_sequence(cell, bad, ei)
