"""ChebyshevConv and its presets against the dense formula and torch_geometric.nn.ChebConv."""
import numpy as np
import pytest
import torch
from torch_geometric.nn import ChebConv

from gcnkit.functional import graph_cache, laplacian_lambda_max, normalize_adjacency
from gcnkit.nn.conv import ChebyshevConv, FirstOrderConv, MLPConv


# --------------------------------------------------------------------------- formula oracles
def test_cheb_layer_matches_formula(cheb_layer, zoo_graph, widths, layers):
    _, ei, ew, n = zoo_graph
    layer = layers.build(cheb_layer, *widths).double()
    x = torch.randn(n, widths[0], dtype=torch.float64)
    expected = layers.expected(cheb_layer, layer, x, ei, ew, n)
    np.testing.assert_allclose(layer(x, ei, ew).detach().numpy(), expected, atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.bfloat16, 6e-2)])
def test_dtypes(cheb_layer, graph_zoo, layers, dtype, tol):
    ei, ew, n = graph_zoo["undirected"]
    layer = layers.build(cheb_layer, 4, 3)
    x = torch.randn(n, 4)
    expected = layers.expected(cheb_layer, layer, x, ei, ew, n)
    out = layer.to(dtype)(x.to(dtype), ei, ew)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.float().detach().numpy(), expected, atol=tol * np.abs(expected).max(), rtol=tol)


@pytest.mark.parametrize("K", [0, 1, 2, 3])
@pytest.mark.parametrize("lambda_max", [2.0, "eig", 1.25])
def test_every_K_and_lambda_max(undirected, widths, layers, K, lambda_max):
    ei, ew, n = undirected
    layer = ChebyshevConv(*widths, K, lambda_max=lambda_max).double()
    torch.nn.init.normal_(layer.bias)
    assert len(layer.lins) == K + 1
    x = torch.randn(n, widths[0], dtype=torch.float64)
    expected = layers.expected(("cheb", K, lambda_max), layer, x, ei, ew, n)
    np.testing.assert_allclose(layer(x, ei, ew).detach().numpy(), expected, atol=1e-8)


@pytest.mark.parametrize("remove_self_loops", [True, False])
def test_first_order_conv_formula(graph_zoo, oracle, remove_self_loops):
    # X' = X Θ0 - D^-1/2 A D^-1/2 X Θ1 + b  (Kipf & Welling eq. 6; Table 3's "+" with Θ1 negated)
    ei, ew, n = graph_zoo["kitchen_sink"]  # has self-loops: A without them (PyG) or with (Kipf)
    layer = FirstOrderConv(4, 3, remove_self_loops=remove_self_loops).double()
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(n, 4, dtype=torch.float64)
    s = torch.from_numpy(oracle.sym_no_loops(ei, ew, n, remove_self_loops))
    w0, w1 = layer.lins[0].weight, layer.lins[1].weight
    torch.testing.assert_close(layer(x, ei, ew), x @ w0.t() - s @ x @ w1.t() + layer.bias)
    assert (layer.K, layer.lambda_max) == (1, 2.0)


def test_mlp_conv_ignores_the_graph():
    layer = MLPConv(4, 3).double()
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(6, 4, dtype=torch.float64)
    expected = x @ layer.lins[0].weight.t() + layer.bias
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer(x, torch.tensor([[0, 1], [1, 2]])), expected)
    torch.testing.assert_close(layer(x.to_sparse_csr()), expected)


@pytest.mark.parametrize("n", [2, 5, 100])
@pytest.mark.parametrize("loop_weight", [None, 3.0, 7.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_eig_on_a_graph_with_only_self_loops(n, loop_weight, dtype):
    # L = 0 there, so lambda_max = 0: used to raise ZeroDivisionError (n = 2) or an ARPACK error;
    # L~ = 2L/lambda_max - I is -I for any positive lambda_max. With weighted loops L is 0 only up
    # to rounding: its rounding-noise eigenvalue (either sign) must not scale L~
    from gcnkit.functional.chebyshev import laplacian_lambda_max
    from gcnkit.functional import normalize_adjacency

    ei = torch.arange(n).repeat(2, 1)
    ew = None if loop_weight is None else torch.full((n,), loop_weight, dtype=dtype)
    eig = ChebyshevConv(3, 2, 2, lambda_max="eig", remove_self_loops=False).to(dtype)
    fixed = ChebyshevConv(3, 2, 2, lambda_max=1.0, remove_self_loops=False).to(dtype)
    fixed.load_state_dict(eig.state_dict())
    x = torch.randn(n, 3, dtype=dtype)
    w = eig.lins
    expected = x @ w[0].weight.t() - x @ w[1].weight.t() + x @ w[2].weight.t() + eig.bias  # T_k(-I) = (-1)^k I
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else {}
    torch.testing.assert_close(eig(x, ei, ew), expected, **tol)
    torch.testing.assert_close(fixed(x, ei, ew), expected, **tol)
    graph = normalize_adjacency(ei, ew, n, norm="sym", self_loop_weight=0.0, dtype=dtype)
    assert laplacian_lambda_max(graph) == 0.0


def test_graph_layers_need_a_graph():
    with pytest.raises(ValueError, match="needs a graph"):
        ChebyshevConv(3, 2, K=2)(torch.randn(4, 3))


def test_multiplies_by_weights_first_only_when_that_shrinks_the_width(cheb_layer, graph_zoo, widths, width_spy,
                                                                      layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(cheb_layer, *widths)
    K = len(layer.lins) - 1
    layer(torch.randn(n, widths[0]), ei, ew)
    assert width_spy.widths == [min(widths)] * K  # K propagations, at the narrower width
    width_spy.widths.clear()
    layer(torch.randn(n, widths[0]).relu().to_sparse_csr(), ei, ew)
    assert width_spy.widths == [widths[1]] * K


def test_lambda_max_eig_is_computed_once_per_graph(undirected, eigensolver_calls):
    ei, ew, n = undirected
    graph_cache.clear()
    a, b = ChebyshevConv(3, 4, 2, lambda_max="eig"), ChebyshevConv(4, 2, 3, lambda_max="eig")
    x = torch.randn(n, 3)
    for _ in range(3):
        b(a(x, ei, ew), ei, ew)
    assert len(eigensolver_calls) == 1
    g = normalize_adjacency(ei, ew, n, norm="sym", self_loop_weight=0.0)
    assert laplacian_lambda_max(g) == pytest.approx(np.linalg.eigvalsh(np.eye(n) - g.to_dense().numpy()).max())


# --------------------------------------------------------------------------- equality with PyG ChebConv
@pytest.mark.parametrize("K", [1, 2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_pyg_chebconv(undirected_graphs, widths, K, weighted, pyg_cheb_pair):
    # PyG removes self-loops and normalizes by out-degree: the same operator as ours exactly on
    # undirected graphs without self-loops
    ours, pyg = pyg_cheb_pair(*widths, K)
    for ei, ew, n in undirected_graphs:
        ew = ew.float() if weighted else None
        x = torch.randn(n, widths[0])
        torch.testing.assert_close(ours(x, ei, ew), pyg(x, ei, ew), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("K", [1, 2])
def test_equals_pyg_chebconv_on_graphs_with_self_loops(graph_zoo, K, pyg_cheb_pair):
    # PyG's ChebConv drops the graph's self-loops before building L; so does ChebyshevConv by
    # default (Chickenpox has one on every node); remove_self_loops=False is Kipf's operator
    ours, pyg = pyg_cheb_pair(4, 3, K)
    ei, ew, n = graph_zoo["self_loops"]
    ei, ew = torch.cat([ei, ei.flip(0)], 1), torch.cat([ew, ew]).float()  # undirected
    x = torch.randn(n, 4)
    torch.testing.assert_close(ours(x, ei, ew), pyg(x, ei, ew), atol=1e-5, rtol=1e-5)
    kipf = ChebyshevConv(4, 3, K, remove_self_loops=False)
    kipf.load_state_dict(ours.state_dict())
    assert not torch.allclose(kipf(x, ei, ew), pyg(x, ei, ew), atol=1e-3)
    assert "remove_self_loops=False" in repr(kipf) and "remove_self_loops" not in repr(ours)


def test_kipf_table3_presets_keep_the_graphs_self_loops():
    from gcnkit.nn.conv import make_conv

    for name in ("cheb3", "cheb2", "first_order"):
        assert make_conv(name, 4, 3).remove_self_loops is False
    assert ChebyshevConv(4, 3, 2).remove_self_loops is True


@pytest.mark.parametrize("K", [2, 3])
def test_eig_equals_pyg_chebconv_given_the_eigenvalue(undirected_graphs, oracle, K):
    ours = ChebyshevConv(4, 3, K, lambda_max="eig").double()
    pyg = ChebConv(4, 3, K + 1).double()
    pyg.load_state_dict(ours.state_dict())
    for ei, ew, n in undirected_graphs:
        lam = oracle.lambda_max(ei, ew, n)
        x = torch.randn(n, 4, dtype=torch.float64)
        torch.testing.assert_close(ours(x, ei, ew), pyg(x, ei, ew, lambda_max=torch.tensor(lam, dtype=torch.float64)))


def test_state_dict_round_trip_with_pyg():
    ours = ChebyshevConv(5, 3, 2)
    pyg = ChebConv(5, 3, 3)
    assert set(ours.state_dict()) == set(pyg.state_dict())
    ours.load_state_dict(pyg.state_dict())
    for k, v in pyg.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[k], v)


@pytest.mark.filterwarnings("ignore:Converting sparse tensor to CSR")
@pytest.mark.parametrize("layout", [torch.sparse_coo, torch.sparse_csr])
def test_sparse_adjacency_and_sparse_features(undirected_graphs, layout, pyg_cheb_pair):
    ours, pyg = pyg_cheb_pair(5, 3, 2)
    ei, ew, n = undirected_graphs[1]
    ew = ew.float()
    adj_t = torch.sparse_coo_tensor(ei.flip(0), ew, (n, n)).coalesce()
    if layout == torch.sparse_csr:
        adj_t = adj_t.to_sparse_csr()
    xd = torch.randn(n, 5).relu()
    x = xd.to_sparse() if layout == torch.sparse_coo else xd.to_sparse_csr()
    expected = pyg(xd, ei, ew)
    torch.testing.assert_close(ours(xd, adj_t), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours(x, ei, ew), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours(x, adj_t), expected, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- batches and gradients
def test_batched_features_equal_a_loop(cheb_layer, graph_zoo, widths, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(cheb_layer, *widths).double()
    x = torch.randn(2, 3, n, widths[0], dtype=torch.float64)
    out = layer(x, ei, ew)
    assert out.shape == (2, 3, n, widths[1])
    torch.testing.assert_close(out, torch.stack([torch.stack([layer(b, ei, ew) for b in xa]) for xa in x]))


def test_gradcheck_wrt_x_and_weights(cheb_layer, graph_zoo, widths, layers, gradcheck):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(cheb_layer, *widths)
    assert gradcheck(layer, torch.randn(n, widths[0], dtype=torch.float64), ei, ew)


@pytest.mark.parametrize("layout", [torch.sparse_csr, torch.sparse_coo])
def test_gradcheck_sparse_features(cheb_layer, graph_zoo, widths, layers, gradcheck, layout):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(cheb_layer, *widths).double()
    xd = torch.randn(n, widths[0], dtype=torch.float64).relu()
    x = xd.to_sparse_csr() if layout == torch.sparse_csr else xd.to_sparse()
    np.testing.assert_allclose(layer(x, ei, ew).detach().numpy(),
                               layers.expected(cheb_layer, layer, xd, ei, ew, n), atol=1e-8)
    assert gradcheck(layer, x, ei, ew, wrt_x=False)


@pytest.mark.parametrize("name", ["cheb1", "cheb3", "first_order"])
def test_gradcheck_wrt_edge_weight(name, graph_zoo, layers, gradcheck):
    # a fixed lambda_max; with "eig" lambda_max is a per-graph constant, not differentiated
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(name, 3, 2)
    assert gradcheck(layer, torch.randn(n, 3, dtype=torch.float64), ei, ew, wrt_x=False, wrt_edge_weight=True)


def test_a_loop_free_graph_normalized_keeping_loops_serves_chebyshev(graph_zoo):
    # normalize_adjacency(..., self_loop_weight=0) of a graph without self-loops is also the graph
    # with them removed: accepted; with self-loops it is another operator: refused
    from gcnkit.nn.models import GConvGRU

    ei, ew, n = graph_zoo["self_loops"]
    off = ei[0] != ei[1]
    free = normalize_adjacency(ei[:, off], ew[off].float(), n, norm="sym", self_loop_weight=0.0)
    conv = ChebyshevConv(4, 3, 2)
    x = torch.randn(n, 4)
    torch.testing.assert_close(conv(x, free), conv(x, ei[:, off], ew[off].float()))
    assert GConvGRU(4, 3, K=1)(torch.randn(5, n, 4), free)[0].shape == (5, n, 3)
    looped = normalize_adjacency(ei, ew.float(), n, norm="sym", self_loop_weight=0.0)
    with pytest.raises(ValueError, match="remove_self_loops=False but this layer"):
        conv(x, looped)


def test_forward_lambda_max_takes_numpy_scalars_as_the_constructor_does():
    import numpy as np

    torch.manual_seed(0)
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    x = torch.randn(4, 3)
    conv = ChebyshevConv(3, 4, 2)
    expected = conv(x, ei, lambda_max=1.5)
    for lam in (np.float32(1.5), np.float64(1.5)):
        torch.testing.assert_close(conv(x, ei, lambda_max=lam), expected)
    fixed = ChebyshevConv(3, 4, 2, lambda_max=np.float32(1.5))
    fixed.load_state_dict(conv.state_dict())
    torch.testing.assert_close(fixed(x, ei), expected)


def test_layers_with_different_lambda_max_on_one_graph_do_not_share_a_laplacian():
    """The scaled Laplacian is cached on the graph per lambda_max (a mutation audit found no
    test of the key)."""
    from gcnkit.nn.conv import clear_caches

    torch.manual_seed(0)
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    x = torch.randn(4, 3)
    a, b = ChebyshevConv(3, 5, 2, lambda_max=2.0), ChebyshevConv(3, 5, 2, lambda_max=1.5)
    a(x, ei)
    shared = b(x, ei)  # same edge tensor: the normalized graph comes from the cache
    clear_caches()
    torch.testing.assert_close(shared, b(x, ei))


def test_an_integer_lambda_max_tensor_is_taken_as_pyg_takes_it():
    # was: "lambda_max must be a floating-point tensor" (PyG's ChebConv computes with it)
    torch.manual_seed(0)
    ei = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    batch = torch.tensor([0, 0, 0, 1, 1])
    x = torch.randn(5, 4)
    ours, pyg = ChebyshevConv(4, 3, 2), ChebConv(4, 3, 3)
    pyg.load_state_dict(ours.state_dict())
    lam = torch.tensor([3, 2])
    expected = pyg(x, ei, batch=batch, lambda_max=lam.float())
    torch.testing.assert_close(ours(x, ei, batch=batch, lambda_max=lam), expected)
    torch.testing.assert_close(pyg(x, ei, batch=batch, lambda_max=lam), expected)
    for bad in (torch.tensor([True, True]), torch.tensor([2 + 0j, 2])):
        with pytest.raises(ValueError, match=r"lambda_max must be a real tensor"):
            ours(x, ei, batch=batch, lambda_max=bad)
