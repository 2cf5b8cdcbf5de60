"""stacked_csr_linear and stacked_dropout: S models against one sparse pattern."""
import pytest
import torch

from gcnkit.functional.features import dropout, sparse_dropout, stacked_dropout
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.stacked import stacked_csr_linear


def _features(n=9, f=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    d = (torch.rand(n, f, generator=gen) < 0.4) * torch.rand(n, f, generator=gen)
    d[2] = 0  # a row without entries: an empty bag
    d[:, 4] = 0  # a feature no node has: a zero weight gradient
    return CSRMatrix.from_torch(d.to_sparse_csr())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_each_model_multiplies_its_own_values_by_its_own_weights(dtype):
    x = _features()
    s = 4
    values = torch.rand(s, x.nnz, dtype=dtype)
    weight = torch.randn(s, 6, 5, dtype=dtype, requires_grad=True)
    out = stacked_csr_linear(x, values, weight)
    dense = torch.zeros(s, 9, 6, dtype=dtype)
    dense[:, x.row, x.col] = values
    ref = dense @ weight
    tol = dict(atol=1e-6, rtol=1e-5) if dtype == torch.float32 else {}
    torch.testing.assert_close(out, ref, **tol)
    g = torch.randn_like(out)
    got, = torch.autograd.grad(out, weight, g)
    want, = torch.autograd.grad(ref, weight, g)
    torch.testing.assert_close(got, want, **tol)
    assert got[:, 4].abs().max() == 0


def test_a_model_does_not_depend_on_the_others():
    x = _features()
    values, weight = torch.rand(3, x.nnz), torch.randn(3, 6, 5)
    alone = stacked_csr_linear(x, values[1:2], weight[1:2])
    assert torch.equal(stacked_csr_linear(x, values, weight)[1:2], alone)


def test_bad_input_is_named():
    x = _features()
    with pytest.raises(ValueError, match=r"values must have shape \[S=2, nnz="):
        stacked_csr_linear(x, torch.rand(2, x.nnz + 1), torch.randn(2, 6, 5))
    with pytest.raises(ValueError, match=r"weight must have shape \[S, F=6, C\]"):
        stacked_csr_linear(x, torch.rand(2, x.nnz), torch.randn(2, 5, 5))
    with pytest.raises(ValueError, match="not differentiable in values"):
        stacked_csr_linear(x, torch.rand(2, x.nnz, requires_grad=True), torch.randn(2, 6, 5))
    with pytest.raises(TypeError, match="values are torch.float64 but weight is torch.float32"):
        stacked_csr_linear(x, torch.rand(2, x.nnz, dtype=torch.float64), torch.randn(2, 6, 5))
    with pytest.raises(TypeError, match="takes a CSRMatrix"):
        stacked_csr_linear(x.to_dense(), torch.rand(2, x.nnz), torch.randn(2, 6, 5))


@pytest.mark.parametrize("p", [0.5, 0.3])  # the byte mask and torch.rand's
def test_stacked_dropout_is_each_models_dropout_with_its_generator(p):
    x = torch.randn(3, 7, 5)
    gens = [torch.Generator().manual_seed(s) for s in (4, 5, 6)]
    out = stacked_dropout(x, p, gens)
    refs = [dropout(x[i], p, True, torch.Generator().manual_seed(s)) for i, s in enumerate((4, 5, 6))]
    assert torch.equal(out, torch.stack(refs))
    torch.manual_seed(9)  # a generator equals torch's default one in the same state
    ref = dropout(x[0], p)
    assert torch.equal(stacked_dropout(x[:1], p, [torch.Generator().manual_seed(9)])[0], ref)
    # the sparse dropout of a lone model draws the same mask from its values
    feats = _features()
    g = torch.Generator().manual_seed(1)
    values = stacked_dropout(feats.value.expand(2, -1), p, [g, torch.Generator().manual_seed(2)])
    assert torch.equal(values[0], sparse_dropout(feats, p, True, torch.Generator().manual_seed(1)).value)
    with pytest.raises(ValueError, match=r"one entry per generator \(2\) on axis 0"):
        stacked_dropout(x, p, gens[:2])
    # the models on another axis (node-major activations [N, S, C])
    out = stacked_dropout(x.transpose(0, 1).contiguous(), p, [torch.Generator().manual_seed(s) for s in (4, 5, 6)],
                          dim=1)
    assert torch.equal(out.transpose(0, 1), torch.stack(refs))
    assert stacked_dropout(x, 0.0, gens) is x


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_stacked_dropout_refuses_a_probability_outside_0_1(p):
    # p = 1 would scale the kept entries by 1 / 0 (inf and NaN); a negative p keeps every entry
    # scaled below 1: both refused as dropout() refuses them
    x = torch.randn(2, 7, 5)
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\)"):
        stacked_dropout(x, p, [torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)])


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_stacked_dropout_takes_a_negative_axis(p):
    # models on the last axis ([N, C, S]): dim=-1 is the same as dim=2
    x = torch.randn(7, 5, 3)
    refs = [dropout(x[..., i], p, True, torch.Generator().manual_seed(s)) for i, s in enumerate((4, 5, 6))]
    out = stacked_dropout(x, p, [torch.Generator().manual_seed(s) for s in (4, 5, 6)], dim=-1)
    assert torch.equal(out, torch.stack(refs, dim=-1))
    assert torch.equal(out, stacked_dropout(x, p, [torch.Generator().manual_seed(s) for s in (4, 5, 6)], dim=2))


def test_the_stacked_pattern_keeps_only_the_last_few_model_counts():
    # one pattern shared by every with_values copy: its stacked indices are kept for a few model
    # counts only (each is S * nnz long), not one more for every count ever used
    x = _features()
    weight_for = {s: torch.randn(s, 6, 5) for s in range(1, 9)}
    for s, weight in weight_for.items():
        stacked_csr_linear(x, torch.rand(s, x.nnz), weight)
    assert 1 <= len(x._pattern["stacked"]) <= 4
    assert (8, x.device) in x._pattern["stacked"]  # the latest is kept


def test_operands_on_other_devices_are_named():
    # (the meta device stands for a GPU here: features kept on the CPU, the models moved)
    x = _features()
    weight, values = torch.randn(2, 6, 5), torch.rand(2, x.nnz)
    for w, v in ((weight.to("meta"), values.to("meta")), (weight, values.to("meta"))):
        with pytest.raises(ValueError, match=r"x on cpu, values on .*, weight on .*: move them to one device"):
            stacked_csr_linear(x, v, w)
