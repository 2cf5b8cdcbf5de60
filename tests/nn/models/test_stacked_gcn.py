"""StackedGCN: S independent GCNs as one module, each equal to its own model."""
import pytest
import torch

from gcnkit.functional.sparse import CSRMatrix
from gcnkit.nn.conv import CONV_REGISTRY
from gcnkit.nn.models import GCN, StackedGCN


def _graph(n=30, f=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    s, t = torch.randint(0, n, (2, 70), generator=gen)
    keep = s != t
    ei = torch.stack([torch.cat([s[keep], t[keep]]), torch.cat([t[keep], s[keep]])])
    x = (torch.rand(n, f, generator=gen) < 0.3) * torch.rand(n, f, generator=gen)
    return x, ei


def _models(conv, count=3, **kwargs):
    out = []
    for s in range(count):
        torch.manual_seed(s)
        out.append(GCN(12, 8, out_channels=4, conv=conv, **kwargs))
    return out


def _weight_grads(model):
    return [torch.cat([p.grad for p in c.parameters() if p is not c.bias], 0).t() for c in model.convs]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("conv", sorted(CONV_REGISTRY))
def test_each_stacked_model_is_its_own_model_with_its_own_dropout(conv, bias):
    x, ei = _graph()
    models = _models(conv, bias=bias)
    stacked = StackedGCN(models)
    for features in (CSRMatrix.from_torch(x.to_sparse_csr()), x):
        stacked.eval()
        out = stacked(features, ei)
        assert out.shape == (3, 30, 4)
        for s, m in enumerate(models):
            torch.testing.assert_close(out[s], m.eval()(features, ei), atol=1e-5, rtol=1e-5)
        # training: model s's masks come from its generator, as a lone run's from torch's default one
        stacked.train()
        gens = [torch.Generator().manual_seed(10 + s) for s in range(3)]
        g = torch.randn(3, 30, 4)
        out = stacked(features, ei, generators=gens)
        (out * g).sum().backward()
        for s, m in enumerate(models):
            torch.manual_seed(10 + s)
            m.train().zero_grad()
            ref = m(features, ei)
            torch.testing.assert_close(out[s], ref, atol=1e-5, rtol=1e-5)
            (ref * g[s]).sum().backward()
            for got, want in zip(stacked.weights, _weight_grads(m)):
                torch.testing.assert_close(got.grad[s], want, atol=1e-5, rtol=1e-5)
            if bias:
                for got, c in zip(stacked.biases, m.convs):
                    torch.testing.assert_close(got.grad[s, 0], c.bias.grad, atol=1e-5, rtol=1e-5)
        stacked.zero_grad()


def test_three_layers_and_a_torch_sparse_input():
    x, ei = _graph()
    models = _models("cheb2", num_layers=3)
    stacked = StackedGCN(models).eval()
    out = stacked(x.to_sparse(), ei)
    for s, m in enumerate(models):
        torch.testing.assert_close(out[s], m.eval()(x, ei), atol=1e-5, rtol=1e-5)


def test_select_keeps_models_and_their_adam_state_and_to_models_returns_them():
    x, ei = _graph()
    models = _models("kipf", 4, bias=True)
    stacked = StackedGCN(models)
    opt = torch.optim.Adam(stacked.parameters(), lr=0.1)
    stacked(x, ei).square().sum().backward()
    opt.step()
    trained = stacked.to_models()
    moments = [opt.state[p]["exp_avg"].clone() for p in stacked.parameters()]
    stacked.select_([3, 1], opt)
    assert stacked.num_models == 2 and all(p.size(0) == 2 for p in stacked.parameters())
    for p, before in zip(stacked.parameters(), moments):
        assert torch.equal(opt.state[p]["exp_avg"], before[[3, 1]])
    stacked.eval()
    out = stacked(x, ei)
    for s, m in zip((3, 1), out):
        torch.testing.assert_close(m, trained[s].eval()(x, ei), atol=1e-5, rtol=1e-5)
    stacked.train()
    stacked(x, ei).square().sum().backward()  # the optimizer goes on with the cut state
    opt.step()
    assert all(p.grad is not None and p.grad.size(0) == 2 for p in stacked.parameters())
    # the models given are copied, not trained in place
    torch.testing.assert_close(models[0].convs[0].lin.weight, _models("kipf", 1, bias=True)[0].convs[0].lin.weight)


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="non-empty list of GCN models"):
        StackedGCN([])
    with pytest.raises(ValueError, match=r"models\[1\] differs in architecture"):
        StackedGCN([GCN(12, 8, out_channels=4), GCN(12, 8, out_channels=4, conv="cheb2")])
    x, ei = _graph()
    with pytest.raises(ValueError, match=r"one generator \(or None\) per model \(2\), got 1"):
        StackedGCN(_models("kipf", 2))(x, ei, generators=[None])
    assert "num_models=2, conv=kipf, dropout=0.5" in repr(StackedGCN(_models("kipf", 2)))


def test_inputs_and_models_it_cannot_stack_are_named():
    x, ei = _graph()
    stacked = StackedGCN(_models("kipf", 3))
    with pytest.raises(ValueError, match=r"x has 11 features per node but the models expect in_channels=12"):
        stacked(x[:, :11], ei)
    with pytest.raises(ValueError, match="x has 11 features per node"):
        stacked(CSRMatrix.from_torch(x[:, :11].to_sparse_csr()), ei)
    with pytest.raises(TypeError, match=r"x is torch.float64 but the models' parameters are torch.float32"):
        stacked(x.double(), ei)
    with pytest.raises(ValueError, match=r"not a mask"):
        stacked.select_(torch.tensor([True, False, True]))
    with pytest.raises(ValueError, match=r"not a mask"):
        stacked.select_([])
    with pytest.raises(ValueError, match=r"outside \[0, 3\): \[-1\]"):
        stacked.select_([-1])
    assert stacked.num_models == 3
    pruned = _models("kipf", 2)
    from torch.nn.utils import prune

    prune.l1_unstructured(pruned[1].convs[0].lin, "weight", amount=0.5)
    with pytest.raises(ValueError, match=r"models\[1\].convs.0.lin has a parametrization or hooks"):
        StackedGCN(pruned)
    mixed = _models("kipf", 2)
    mixed[1].double()
    with pytest.raises(ValueError, match="put all models on one dtype and device"):
        StackedGCN(mixed)


def test_dtype_changes_reach_the_models_it_returns():
    x, ei = _graph()
    stacked = StackedGCN(_models("cheb2", 2)).double().eval()
    out = stacked(x.double(), ei)
    models = stacked.to_models()
    assert all(p.dtype == torch.float64 for m in models for p in m.parameters())
    torch.testing.assert_close(out[1], models[1].eval()(x.double(), ei))


def test_frozen_weights_stay_frozen():
    models = _models("kipf", 2)
    for m in models:
        m.convs[0].lin.weight.requires_grad_(False)
    stacked = StackedGCN(models)
    assert not stacked.weights[0].requires_grad and stacked.weights[1].requires_grad
    models[1].convs[0].lin.weight.requires_grad_(True)  # one model frozen, the other not: no silent choice
    with pytest.raises(ValueError, match=r"models\[1\]\.convs\.0\.lin\.weight has requires_grad=True, "
                                         r"models\[0\]'s False: .* freeze the same parameters in every model"):
        StackedGCN(models)


def test_cached_false_keeps_no_copy_of_sparse_features():
    # was: converted through the feature cache whatever the models' cached (see test_gcn_model.py)
    from gcnkit.nn.conv import base
    x, ei = _graph()
    base.clear_caches()
    stacked = StackedGCN(_models("kipf", 2, cached=False)).eval()
    sparse = x.to_sparse_csr()
    stacked(sparse, ei)
    sparse.values().data.mul_(2.0)
    torch.testing.assert_close(stacked(sparse, ei), stacked(2 * x, ei))
    assert len(base.feature_cache) == 0
