"""NormalizedGraph: device/dtype copies of differentiable graphs, and pickling."""
import torch

from gcnkit.functional import normalize_adjacency, propagate


def test_dtype_copies_of_a_differentiable_graph_keep_the_gradient():
    """A float64 copy made once under no_grad (an evaluation pass) must not be reused later: its
    missing history would silently drop the edge-weight gradient."""
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    w = torch.rand(4, requires_grad=True)
    g = normalize_adjacency(ei, w, num_nodes=3)
    x = torch.randn(3, 2, dtype=torch.float64)
    with torch.no_grad():
        propagate(g, x)
    propagate(g, x).sum().backward(retain_graph=True)  # g's own history is used again below
    ref_w = w.detach().double().requires_grad_(True)
    propagate(normalize_adjacency(ei, ref_w, num_nodes=3), x).sum().backward()
    torch.testing.assert_close(w.grad, ref_w.grad.float())
    w.grad = None
    g.to_sparse_csr().to_dense().sum().backward()  # also after products
    assert w.grad is not None


def test_pickle_keeps_the_operator_and_lambda_max_and_drops_derived_copies():
    import pickle

    from gcnkit.functional import laplacian_lambda_max
    from gcnkit.nn import ChebyshevConv

    ei = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    x = torch.randn(5, 3)
    g = normalize_adjacency(ei, num_nodes=5, self_loop_weight=0.0, remove_self_loops=True)
    lam = laplacian_lambda_max(g)
    propagate(g, x.double())  # a float64 copy
    ChebyshevConv(3, 2, K=2, lambda_max="eig")(x, g, batch=torch.tensor([0, 0, 0, 1, 1]))
    g2 = pickle.loads(pickle.dumps(g))
    assert g2.extras == {"lambda_max": lam} and g2._copies == {} and g2._source is g2
    torch.testing.assert_close(propagate(g2, x.double()), propagate(g, x.double()))


def test_values_written_in_place_reach_the_copies_and_the_derived_quantities():
    # was: the float64 copy and lambda_max (and the scaled Laplacian) kept the old values
    from gcnkit.functional import chebyshev_basis, laplacian_lambda_max

    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    g = normalize_adjacency(ei, num_nodes=4, self_loop_weight=0.0)
    x = torch.randn(4, 3, dtype=torch.float64)
    before = laplacian_lambda_max(g)
    propagate(g, x), chebyshev_basis(g, x.float(), 1, before)  # copies and extras made
    with torch.no_grad():
        g.edge_weight.mul_(0.5)  # now L = I - S/2: lambda_max 1.5
    torch.testing.assert_close(propagate(g, x), g.to_dense().double() @ x)
    lam = laplacian_lambda_max(g)
    assert abs(before - 2.0) < 1e-6 and abs(lam - 1.5) < 1e-6
    lap = torch.eye(4) - g.to_dense()
    torch.testing.assert_close(chebyshev_basis(g, x.float(), 1, lam)[1], (2 / lam * lap - torch.eye(4)) @ x.float())
    import pickle
    assert pickle.loads(pickle.dumps(g)).extras == {"lambda_max": lam}  # a number survives pickling


def _path_graph(**kw):
    from gcnkit.functional import normalize_adjacency

    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 4, 5], [1, 0, 2, 1, 3, 2, 4, 3, 5, 4]])
    return ei, (lambda scale=1.0, dtype=torch.float32: _scaled(normalize_adjacency(ei, num_nodes=6, **kw), scale,
                                                                dtype))


def _scaled(g, scale, dtype):
    g = g.to(dtype)
    with torch.no_grad():
        g.edge_weight.mul_(scale)
    return g


def test_copies_and_their_original_each_follow_their_own_values_after_in_place_writes():
    # copies shared the original's extras and kept copies: a write to a float64 copy leaked into the
    # original's later float64 use; the copy, given float32 features, served the original's values;
    # it kept the original's lambda_max after its own values changed; and a write to the original
    # changed an unchanged copy's lambda_max
    from gcnkit.nn.conv import ChebyshevConv, KipfGCNConv

    x64 = torch.randn(6, 4, dtype=torch.float64)
    _, fresh = _path_graph()
    g = fresh()
    g64 = g.to(torch.float64)
    with torch.no_grad():
        g64.edge_weight.mul_(0.5)
    conv = KipfGCNConv(4, 3).double()
    torch.testing.assert_close(conv(x64, g), conv(x64, fresh(dtype=torch.float64)))
    torch.testing.assert_close(conv(x64, g64), conv(x64, fresh(0.5, torch.float64)))
    c32 = KipfGCNConv(4, 3)
    torch.testing.assert_close(c32(x64.float(), g64), c32(x64.float(), fresh(0.5)))

    _, fresh = _path_graph(self_loop_weight=0.0, remove_self_loops=True)
    cheb = ChebyshevConv(4, 3, K=2, lambda_max="eig").double()
    g = fresh()
    g64 = g.to(torch.float64)
    cheb(x64, g64)
    with torch.no_grad():
        g64.edge_weight.mul_(0.5)
    torch.testing.assert_close(cheb(x64, g64), cheb(x64, fresh(0.5, torch.float64)))  # its own lambda_max
    g = fresh()
    g64 = g.to(torch.float64)
    before = cheb(x64, g64)
    with torch.no_grad():
        g.edge_weight.mul_(0.5)
    torch.testing.assert_close(cheb(x64, g64), before)  # its values did not change
    torch.testing.assert_close(cheb(x64, g.to(torch.float64)), cheb(x64, fresh(0.5, torch.float64)))
