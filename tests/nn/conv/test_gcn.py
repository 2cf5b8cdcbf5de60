"""The GCN layer family against its dense formula and against torch_geometric.nn.GCNConv."""
import numpy as np
import pytest
import torch
from torch_geometric.nn import GCNConv

from gcnkit.functional import NORMS, graph_cache, normalize_adjacency
from gcnkit.nn.conv import (GeneralGCNConv, KipfGCNConv, NaiveGCNConv, RowGCNConv,
                            SingleParameterConv)


def f64(layer):
    return layer.double()


# --------------------------------------------------------------------------- formula oracles
def test_gcn_layer_matches_formula(gcn_layer, zoo_graph, widths, layers):
    _, ei, ew, n = zoo_graph
    layer = f64(layers.build(gcn_layer, *widths))
    x = torch.randn(n, widths[0], dtype=torch.float64)
    expected = layers.expected(gcn_layer, layer, x, ei, ew, n)
    np.testing.assert_allclose(layer(x, ei, ew).detach().numpy(), expected, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("add_identity", [False, True])
@pytest.mark.parametrize("self_loop_weight", [0.0, 1.0, 2.0, 0.5])
@pytest.mark.parametrize("norm", NORMS)
def test_general_gcn_conv_every_option(graph_zoo, layers, norm, self_loop_weight, add_identity):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = f64(GeneralGCNConv(4, 3, norm=norm, self_loop_weight=self_loop_weight, add_identity=add_identity))
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(n, 4, dtype=torch.float64)
    expected = layers.expected(("gcn", norm, self_loop_weight, add_identity), layer, x, ei, ew, n)
    np.testing.assert_allclose(layer(x, ei, ew).detach().numpy(), expected, atol=1e-10)


def test_float32_default(gcn_layer, graph_zoo, widths, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(gcn_layer, *widths)
    x = torch.randn(n, widths[0])
    out = layer(x, ei, ew.float())
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.detach().numpy(), layers.expected(gcn_layer, layer, x, ei, ew, n),
                               atol=1e-5, rtol=1e-5)


def test_bfloat16(graph_zoo, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build("kipf", 4, 3)
    x = torch.randn(n, 4)
    expected = layers.expected("kipf", layer, x, ei, ew, n)
    out = layer.to(torch.bfloat16)(x.to(torch.bfloat16), ei, ew)
    assert out.dtype == torch.bfloat16
    np.testing.assert_allclose(out.float().detach().numpy(), expected, atol=5e-2 * np.abs(expected).max())


def test_bias_false(graph_zoo, layers):
    ei, ew, n = graph_zoo["weighted"]
    layer = f64(KipfGCNConv(4, 2, bias=False))
    assert layer.bias is None
    x = torch.randn(n, 4, dtype=torch.float64)
    np.testing.assert_allclose(layer(x, ei, ew).detach().numpy(),
                               layers.expected("kipf", layer, x, ei, ew, n), atol=1e-10)


def test_presets_are_options_of_one_implementation():
    for cls, norm, slw, identity in [(KipfGCNConv, "sym", 1.0, False), (NaiveGCNConv, "none", 0.0, False),
                                     (RowGCNConv, "row", 1.0, False), (SingleParameterConv, "sym", 0.0, True)]:
        layer = cls(3, 2)
        assert isinstance(layer, GeneralGCNConv)
        assert (layer.norm, layer.self_loop_weight, layer.add_identity) == (norm, slw, identity)
        assert cls.forward is GeneralGCNConv.forward


# --------------------------------------------------------------------------- W first or last
def test_multiplies_by_weights_first_only_when_that_shrinks_the_width(gcn_layer, graph_zoo, widths, width_spy,
                                                                      layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(gcn_layer, *widths)
    layer(torch.randn(n, widths[0]), ei, ew)
    assert width_spy.widths == [min(widths)]
    # sparse features: always X W first (a sparse matmul), then propagate at the output width
    width_spy.widths.clear()
    layer(torch.randn(n, widths[0]).relu().to_sparse_csr(), ei, ew)
    assert width_spy.widths == [widths[1]]


# --------------------------------------------------------------------------- batches
def test_batched_features_equal_a_loop(gcn_layer, graph_zoo, widths, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = f64(layers.build(gcn_layer, *widths))
    x = torch.randn(3, n, widths[0], dtype=torch.float64)
    out = layer(x, ei, ew)
    assert out.shape == (3, n, widths[1])
    torch.testing.assert_close(out, torch.stack([layer(xb, ei, ew) for xb in x]))
    np.testing.assert_allclose(out.detach().numpy(), layers.expected(gcn_layer, layer, x, ei, ew, n), atol=1e-10)


def test_batch_is_one_sparse_matmul(graph_zoo, width_spy):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = KipfGCNConv(4, 6)
    layer(torch.randn(5, n, 4), ei, ew)
    assert width_spy.widths == [4]  # one call for the whole batch (batch folded into columns)


# --------------------------------------------------------------------------- gradients
def test_gradcheck_wrt_x_and_weights(gcn_layer, graph_zoo, widths, layers, gradcheck):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(gcn_layer, *widths)
    assert gradcheck(layer, torch.randn(n, widths[0], dtype=torch.float64), ei, ew)


def test_gradcheck_wrt_edge_weight(gcn_layer, graph_zoo, layers, gradcheck):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(gcn_layer, 3, 2)
    assert gradcheck(layer, torch.randn(n, 3, dtype=torch.float64), ei, ew, wrt_x=False, wrt_edge_weight=True)


@pytest.mark.parametrize("layout", [torch.sparse_csr, torch.sparse_coo])
def test_gradcheck_sparse_features(gcn_layer, graph_zoo, widths, layers, gradcheck, layout):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(gcn_layer, *widths)
    xd = torch.randn(n, widths[0], dtype=torch.float64).relu()
    x = xd.to_sparse_csr() if layout == torch.sparse_csr else xd.to_sparse()
    f64(layer)
    np.testing.assert_allclose(layer(x, ei, ew).detach().numpy(), layers.expected(gcn_layer, layer, xd, ei, ew, n),
                               atol=1e-10)
    assert gradcheck(layer, x, ei, ew, wrt_x=False)


def test_sparse_feature_gradients_equal_dense(graph_zoo, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = f64(layers.build("kipf", 6, 3))
    xd = torch.randn(n, 6, dtype=torch.float64).relu()
    grads = []
    for x in (xd, xd.to_sparse_csr(), xd.to_sparse()):
        layer.zero_grad()
        layer(x, ei, ew).pow(2).sum().backward()
        grads.append((layer.lin.weight.grad.clone(), layer.bias.grad.clone()))
    for g in grads[1:]:
        torch.testing.assert_close(g, grads[0])


def test_sparse_features_are_converted_once_and_multiplied_sparsely(graph_zoo, monkeypatch):
    import gcnkit.nn.conv.weights as weights
    from gcnkit.functional import CSRMatrix

    ei, ew, n = graph_zoo["kitchen_sink"]
    conversions, products = [], []
    from_torch = CSRMatrix.from_torch.__func__
    monkeypatch.setattr(CSRMatrix, "from_torch", classmethod(lambda cls, a: (conversions.append(1),
                                                                            from_torch(cls, a))[1]))
    csr_matmul = weights.csr_matmul
    monkeypatch.setattr(weights, "csr_matmul", lambda a, x: (products.append((type(a), a.shape)), csr_matmul(a, x))[1])
    layer = KipfGCNConv(6, 3)
    x = (torch.randn(n, 6) * (torch.rand(n, 6) < 0.3)).to_sparse_csr()
    for _ in range(3):  # e.g. three training epochs on the same feature matrix
        layer(x, ei, ew.float()).sum().backward()
    assert len(conversions) == 1
    assert products == [(CSRMatrix, (n, 6))] * 3  # X W as a sparse [N, F_in] matmul, never densified


# --------------------------------------------------------------------------- equality with PyG GCNConv
def pyg_pair(in_channels, out_channels, improved=False, **pyg_kwargs):
    ours = KipfGCNConv(in_channels, out_channels, self_loop_weight=2.0 if improved else 1.0)
    pyg = GCNConv(in_channels, out_channels, improved=improved, **pyg_kwargs)
    with torch.no_grad():
        pyg.lin.weight.copy_(ours.lin.weight)
        ours.bias.normal_()
        pyg.bias.copy_(ours.bias)
    return ours, pyg


@pytest.mark.parametrize("improved", [False, True])
@pytest.mark.parametrize("with_weight", [False, True])
def test_equals_pyg_gcnconv_edge_index(zoo_graph, widths, improved, with_weight):
    _, ei, ew, n = zoo_graph
    ew = ew.float() if (with_weight and ew is not None) else None
    ours, pyg = pyg_pair(*widths, improved=improved)
    x = torch.randn(n, widths[0])
    # PyG 2.8's gcn_norm drops `improved` when edge_weight is None (add_remaining_self_loops
    # ignores fill_value without weights, so the loops get weight 1): give PyG explicit ones there
    pyg_ew = torch.ones(ei.size(1)) if (improved and ew is None) else ew
    torch.testing.assert_close(ours(x, ei, ew), pyg(x, ei, pyg_ew), atol=1e-5, rtol=1e-5)


def coalesced_adj_t(ei, ew, n, layout):
    """PyG's ``adj_t``: rows are targets."""
    w = torch.ones(ei.size(1)) if ew is None else ew.float()
    adj_t = torch.sparse_coo_tensor(ei.flip(0), w, (n, n)).coalesce()
    return adj_t if layout == torch.sparse_coo else adj_t.to_sparse_csr()


@pytest.mark.filterwarnings("ignore:Converting sparse tensor to CSR")
@pytest.mark.parametrize("layout", [torch.sparse_coo, torch.sparse_csr])
@pytest.mark.parametrize("name", ["directed", "weighted", "isolated", "undirected"])  # no self-loops
def test_equals_pyg_gcnconv_sparse_adjacency(graph_zoo, widths, layout, name):
    ei, ew, n = graph_zoo[name]
    ours, pyg = pyg_pair(*widths)
    x = torch.randn(n, widths[0])
    expected = pyg(x, ei, None if ew is None else ew.float())
    adj_t = coalesced_adj_t(ei, ew, n, layout)
    torch.testing.assert_close(ours(x, adj_t), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours(x, adj_t), pyg(x, adj_t), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", [torch.sparse_coo, torch.sparse_csr])
def test_equals_pyg_gcnconv_sparse_features(graph_zoo, widths, layout):
    ei, ew, n = graph_zoo["kitchen_sink"]
    ours, pyg = pyg_pair(*widths)
    xd = torch.randn(n, widths[0]) * (torch.rand(n, widths[0]) < 0.3)
    x = xd.to_sparse() if layout == torch.sparse_coo else xd.to_sparse_csr()
    expected = pyg(xd, ei, ew.float())
    torch.testing.assert_close(ours(x, ei, ew.float()), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pyg(x, ei, ew.float()), expected, atol=1e-5, rtol=1e-5)


def test_naive_equals_pyg_gcnconv_without_normalization(graph_zoo):
    ei, ew, n = graph_zoo["kitchen_sink"]
    ours = NaiveGCNConv(4, 3)
    pyg = GCNConv(4, 3, normalize=False, add_self_loops=False)
    pyg.load_state_dict(ours.state_dict())
    x = torch.randn(n, 4)
    torch.testing.assert_close(ours(x, ei, ew.float()), pyg(x, ei, ew.float()), atol=1e-5, rtol=1e-5)


def test_the_hint_for_pyg_normalize_false_is_that_layer(graph_zoo):
    # PyG's GCNConv(normalize=False) adds no self-loops, whatever add_self_loops says: the error for
    # normalize= points to NaiveGCNConv or norm='none' with self_loop_weight=0.0 (it said norm='none'
    # alone, whose default self_loop_weight=1.0 is A + I)
    ei, ew, n = graph_zoo["kitchen_sink"]
    pyg = GCNConv(4, 3, normalize=False)
    ours = GeneralGCNConv(4, 3, norm="none", self_loop_weight=0.0)
    ours.load_state_dict(pyg.state_dict())
    x = torch.randn(n, 4)
    torch.testing.assert_close(ours(x, ei, ew.float()), pyg(x, ei, ew.float()), atol=1e-5, rtol=1e-5)
    with pytest.raises(TypeError, match="self_loop_weight=0.0"):
        KipfGCNConv(4, 3, normalize=False)


def test_state_dict_is_interchangeable_with_pyg():
    ours, pyg = KipfGCNConv(5, 3), GCNConv(5, 3)
    assert set(ours.state_dict()) == set(pyg.state_dict())
    pyg.load_state_dict(ours.state_dict())
    ours.load_state_dict(GCNConv(5, 3).state_dict())


# --------------------------------------------------------------------------- the graph cache, layer level
def test_layer_applied_to_another_graph_is_not_stale(layers, oracle):
    # PyG #619 / #2073: GCNConv(cached=True) reuses the first graph's normalization for any graph
    layer = layers.build("kipf", 3, 2)
    x = torch.randn(4, 3)
    ei_a = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    ei_b = torch.tensor([[0, 0, 0, 1], [1, 2, 3, 2]])
    for ei in (ei_a, ei_b, ei_a):
        np.testing.assert_allclose(layer(x, ei).detach().numpy(), layers.expected("kipf", layer, x, ei, None, 4),
                                   atol=1e-5)


def test_in_place_modified_edge_index_is_renormalized(layers):
    layer = layers.build("kipf", 3, 2)
    x = torch.randn(4, 3)
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    layer(x, ei)
    ei[1, 0] = 3
    np.testing.assert_allclose(layer(x, ei).detach().numpy(), layers.expected("kipf", layer, x, ei, None, 4),
                               atol=1e-5)


def test_one_normalization_per_graph_shared_by_layers_and_calls(graph_zoo):
    ei, ew, n = graph_zoo["kitchen_sink"]
    graph_cache.clear()
    a, b = KipfGCNConv(4, 8), KipfGCNConv(8, 2)
    x = torch.randn(n, 4)
    for _ in range(3):
        b(a(x, ei, ew).relu(), ei, ew)
    assert graph_cache.misses == 1 and graph_cache.hits == 5
    RowGCNConv(4, 2)(x, ei, ew)  # other options: a second normalization
    assert graph_cache.misses == 2
    graph_cache.clear()


def test_normalized_graph_input(graph_zoo, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    g = normalize_adjacency(ei, ew, n)
    layer = f64(layers.build("kipf", 4, 3))
    x = torch.randn(n, 4, dtype=torch.float64)
    torch.testing.assert_close(layer(x, g), layer(x, ei, ew))
    with pytest.raises(ValueError, match="norm='row'"):
        layer(x, normalize_adjacency(ei, ew, n, norm="row"))


def test_uncached_layer_gives_the_same_result(graph_zoo, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    cached = f64(layers.build("kipf", 4, 3))
    uncached = f64(KipfGCNConv(4, 3, cached=False))
    uncached.load_state_dict(cached.state_dict())
    x = torch.randn(n, 4, dtype=torch.float64)
    graph_cache.clear()
    torch.testing.assert_close(uncached(x, ei, ew), cached(x, ei, ew))
    assert graph_cache.misses == 1  # only the cached layer used the cache


def test_uncached_layer_sees_weights_written_behind_the_version_counter():
    """``cached=False`` is the remedy for edge weights refilled in place through ``.data`` or a
    NumPy view (autograd's version counter does not see those writes): each call normalizes anew."""
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    w = torch.ones(3)
    conv = KipfGCNConv(4, 4, cached=False)
    graph_cache.clear()
    before = conv(x, ei, w)
    w.numpy()[:] = [0.1, 5.0, 5.0]
    after = conv(x, ei, w)
    torch.testing.assert_close(after, conv(x, ei, w.clone()))
    assert not torch.allclose(after, before)
    assert len(graph_cache) == 0


@pytest.mark.parametrize("sizes", [(8, 4), (4, 8)])
def test_autocast_output_dtype_does_not_depend_on_the_widths(sizes):
    """Under autocast the layers return the autocast dtype whichever order they multiply in
    (weights first when that narrows the features, propagation first otherwise)."""
    from gcnkit.nn.conv import ChebyshevConv, KipfGCNConv

    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    x = torch.randn(4, sizes[0])
    for conv in (KipfGCNConv(*sizes), ChebyshevConv(*sizes, 2)):
        ref = conv(x, ei)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = conv(x, ei)
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.float(), ref, rtol=5e-2, atol=5e-2)


def test_autocast_output_dtype_is_the_same_on_every_call():
    # was: bfloat16 on the first call, float32 from the second on, when the layer converted sparse
    # enough dense features to CSR (a float32 sparse product: CPUs lack bfloat16 sparse kernels)
    from gcnkit.nn.conv import KipfGCNConv
    gen = torch.Generator().manual_seed(0)
    ei = torch.randint(0, 300, (2, 1500), generator=gen)
    x = (torch.rand(300, 500, generator=gen) < 0.02).float()  # 2% non-zero: converted outside autocast
    conv = KipfGCNConv(500, 16)
    ref = conv(x, ei)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outs = [conv(x, ei) for _ in range(3)]
    assert [o.dtype for o in outs] == [torch.bfloat16] * 3
    for out in outs:
        torch.testing.assert_close(out.float(), ref, rtol=5e-2, atol=5e-2)
