"""Kipf & Welling's two-layer GCN model: input formats and dropout."""
import torch

import gcnkit.nn.models.gcn as gcn_module
from gcnkit.nn.models import GCN


def _data():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(50, 30, generator=g) < 0.1).float()
    return x, torch.randint(0, 50, (2, 200), generator=g)


def test_torch_sparse_input_gets_sparse_dropout_and_equals_dense_in_eval(monkeypatch):
    x, ei = _data()
    model = GCN(30, 8, out_channels=3)
    calls = []
    real = gcn_module.sparse_dropout
    monkeypatch.setattr(gcn_module, "sparse_dropout", lambda a, p, t, **kw: calls.append(a.nnz) or real(a, p, t, **kw))
    model.train()
    model(x.to_sparse(), ei).sum().backward()
    assert calls == [int(x.count_nonzero())]  # on the stored values, not a dense N x F mask
    model.eval()
    torch.testing.assert_close(model(x.to_sparse_csr(), ei), model(x, ei))


def test_eval_output_is_kipfs_two_layer_formula(oracle):
    # Z = Â relu(Â X W0ᵀ) W1ᵀ with Â = D̃^-1/2 (A + I) D̃^-1/2, dense float64 reference
    x, ei = _data()
    model = GCN(30, 8, out_channels=3).double().eval()
    a = torch.from_numpy(oracle.normalized(ei, None, 50, "sym", 1.0))
    w0, w1 = model.convs[0].lin.weight, model.convs[1].lin.weight
    expected = a @ torch.relu(a @ x.double() @ w0.t()) @ w1.t()
    torch.testing.assert_close(model(x.double(), ei), expected)
    assert all(conv.bias is None for conv in model.convs)  # Kipf's model has no bias by default


def test_conv_options_reach_every_layer(oracle):
    """Options GCN does not know itself (here ``self_loop_weight``, PyG's ``improved=True``) are
    passed to each layer."""
    x, ei = _data()
    model = GCN(30, 8, out_channels=3, self_loop_weight=2.0, bias=True).double().eval()
    with torch.no_grad():
        for conv in model.convs:
            conv.bias.normal_()
    a = torch.from_numpy(oracle.normalized(ei, None, 50, "sym", 2.0))
    (w0, b0), (w1, b1) = [(c.lin.weight, c.bias) for c in model.convs]
    expected = a @ torch.relu(a @ x.double() @ w0.t() + b0) @ w1.t() + b1
    torch.testing.assert_close(model(x.double(), ei), expected)


def test_dropout_keeps_one_minus_p_and_rescales():
    from gcnkit.functional.features import dropout, sparse_dropout
    from gcnkit.functional.sparse import CSRMatrix

    torch.manual_seed(0)
    x = torch.rand(400, 250) + 0.5  # no zeros: a dropped entry is exactly 0
    for p in (0.5, 0.2):
        out = dropout(x, p, training=True)
        kept = out != 0
        assert abs(kept.float().mean().item() - (1 - p)) < 0.01
        torch.testing.assert_close(out[kept], x[kept] / (1 - p))
        sp = sparse_dropout(CSRMatrix.from_torch(x.to_sparse_csr()), p, training=True).to_dense()
        kept = sp != 0
        assert abs(kept.float().mean().item() - (1 - p)) < 0.01
        torch.testing.assert_close(sp[kept], x[kept] / (1 - p))
    assert torch.equal(dropout(x, 0.5, training=False), x)


def test_a_ported_pyg_call_is_an_error_not_another_model():
    """PyG's ``models.GCN(in, hidden, num_layers, out)``: here ``out_channels`` and the rest are
    keyword-only, so ``GCN(30, 32, 2)`` does not silently become a model with 2 outputs."""
    import pytest

    with pytest.raises(TypeError, match="positional argument"):
        GCN(30, 32, 2)
    model = GCN(30, 32, num_layers=3, out_channels=7)
    assert len(model.convs) == 3 and model.convs[-1].out_channels == 7


def test_cached_false_keeps_no_copy_of_sparse_features():
    # was: the model converted torch.sparse features through the feature cache even with
    # cached=False (the documented remedy for writes behind the version counter): a later write to
    # the values gave the old features' logits
    from gcnkit.nn.conv import base
    x, ei = _data()
    base.clear_caches()
    model = GCN(30, 8, out_channels=3, cached=False).eval()
    for sparse in (x.to_sparse(), x.to_sparse_csr()):
        model(sparse, ei)
        sparse.values().data.mul_(2.0)
        torch.testing.assert_close(model(sparse, ei), model(2 * x, ei))
    assert len(base.feature_cache) == 0
    cached = GCN(30, 8, out_channels=3).eval()  # the default keeps the converted features
    cached(x.to_sparse_csr(), ei)
    assert len(base.feature_cache) == 1
