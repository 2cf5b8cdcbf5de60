"""Chebyshev polynomials of the scaled Laplacian against NumPy."""
import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev as npcheb

from gcnkit.functional import (chebyshev_basis, chebyshev_combine, laplacian_lambda_max,
                               normalize_adjacency)
from gcnkit.functional.chebyshev import laplacian_lambda_max_per_graph, lambda_max_per_node, scaled_laplacian


def cheb_graph(ei, ew, n):
    return normalize_adjacency(ei, ew, n, norm="sym", self_loop_weight=0.0)


def spectral_polynomial(l_tilde, k):
    """T_k(L~) through the eigendecomposition and NumPy's Chebyshev series (symmetric L~)."""
    mu, v = np.linalg.eigh(l_tilde)
    coef = np.zeros(k + 1)
    coef[k] = 1.0
    return v @ np.diag(npcheb.chebval(mu, coef)) @ v.T


@pytest.mark.parametrize("K", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("lam", [2.0, 1.5, "eig"])
def test_basis_matches_numpy_on_undirected_graph(graph_zoo, oracle, K, lam):
    ei, ew, n = graph_zoo["undirected"]
    g = cheb_graph(ei, ew, n)
    lam = laplacian_lambda_max(g) if lam == "eig" else lam
    l_tilde = oracle.scaled_laplacian(ei, ew, n, lam)
    x = torch.randn(n, 3, dtype=torch.float64)
    basis = chebyshev_basis(g, x, K, lam)
    assert len(basis) == K + 1
    for k, t in enumerate(basis):
        np.testing.assert_allclose(t.numpy(), spectral_polynomial(l_tilde, k) @ x.numpy(), atol=1e-10)


@pytest.mark.parametrize("name", ["directed", "kitchen_sink", "self_loops"])
@pytest.mark.parametrize("K", [1, 3])
def test_basis_matches_recurrence_on_directed_graphs(graph_zoo, oracle, name, K):
    ei, ew, n = graph_zoo[name]
    g = cheb_graph(ei, ew, n)
    g = g.to(dtype=torch.float64)
    ts = oracle.chebyshev_polynomials(oracle.scaled_laplacian(ei, ew, n, 2.0), K)
    x = torch.randn(n, 2, dtype=torch.float64)
    for t, ref in zip(chebyshev_basis(g, x, K, 2.0), ts):
        np.testing.assert_allclose(t.numpy(), ref @ x.numpy(), atol=1e-6)


@pytest.mark.parametrize("K", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("name, lam", [("undirected", 2.0), ("undirected", 1.3), ("kitchen_sink", 2.0)])
def test_combine_matches_sum_of_polynomials(graph_zoo, oracle, K, name, lam):
    ei, ew, n = graph_zoo[name]
    g = cheb_graph(ei, ew, n)
    ts = oracle.chebyshev_polynomials(oracle.scaled_laplacian(ei, ew, n, lam), K)
    z = [torch.randn(n, 4, dtype=torch.float64) for _ in range(K + 1)]
    expected = sum(t @ zk.numpy() for t, zk in zip(ts, z))
    np.testing.assert_allclose(chebyshev_combine(g, z, lam).numpy(), expected, atol=1e-10)


def test_combine_is_batched_and_differentiable(graph_zoo):
    ei, ew, n = graph_zoo["undirected"]
    g = cheb_graph(ei, ew, n)
    z = [torch.randn(2, n, 3, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    out = chebyshev_combine(g, z, 2.0)
    torch.testing.assert_close(out, torch.stack([chebyshev_combine(g, [zk[b] for zk in z], 2.0)
                                                 for b in range(2)]))
    assert torch.autograd.gradcheck(lambda *z: chebyshev_combine(g, list(z), 1.7), tuple(z))


# --------------------------------------------------------------------------- mini-batches
def disjoint_union(graphs):
    """The disjoint union of ``graphs`` with its nodes shuffled (``batch`` not sorted): ``(edge_index,
    edge_weight, num_nodes, batch, ids)``, ``ids[g]`` the new ids of graph ``g``'s nodes in order."""
    n = sum(g[2] for g in graphs)
    new = torch.randperm(n)
    offsets = np.cumsum([0] + [g[2] for g in graphs])
    ids = [new[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    ei = torch.cat([i[e] for i, (e, _, _) in zip(ids, graphs)], 1)
    ew = torch.cat([w for _, w, _ in graphs])
    batch = torch.empty(n, dtype=torch.long)
    for g, i in enumerate(ids):
        batch[i] = g
    return ei, ew, n, batch, ids


def batch_graphs(graph_zoo):
    """Graphs with different lambda_max (directed ones, self-loops, isolated nodes; the last one
    has only self-loops, L = 0)."""
    graphs = [graph_zoo[name] for name in ("undirected", "kitchen_sink", "isolated", "directed")] + [
        (torch.arange(3).repeat(2, 1), None, 3)]
    return [(e, torch.ones(e.size(1), dtype=torch.float64) if w is None else w, m) for e, w, m in graphs]


def test_lambda_max_per_graph_is_each_graphs_own(graph_zoo, oracle, eigensolver_calls):
    graphs = batch_graphs(graph_zoo)
    ei, ew, n, batch, _ = disjoint_union(graphs)
    g = cheb_graph(ei, ew, n)
    lam = laplacian_lambda_max_per_graph(g, batch)
    assert lam.dtype == torch.float64 and lam.shape == (len(graphs),)
    assert len(eigensolver_calls) == len(graphs) - 1  # L = 0 needs no solver
    for value, (e, w, m) in zip(lam.tolist(), graphs):
        assert value == pytest.approx(oracle.lambda_max(e, w, m), abs=1e-8)
        assert value == pytest.approx(laplacian_lambda_max(cheb_graph(e, w, m)), abs=1e-12)
    assert lam[-1] == 0.0 and len(set(lam.tolist())) == len(graphs)
    calls = len(eigensolver_calls)
    laplacian_lambda_max_per_graph(g, batch.clone().int())  # same content: kept
    lambda_max_per_node(g, batch.clone(), "eig")
    assert len(eigensolver_calls) == calls


def test_scaled_laplacian_per_node_is_each_graphs_own(graph_zoo, oracle):
    graphs = batch_graphs(graph_zoo)
    ei, ew, n, batch, ids = disjoint_union(graphs)
    g = cheb_graph(ei, ew, n)
    lam = lambda_max_per_node(g, batch, "eig")
    assert lam.shape == (n,) and lam.dtype == torch.float64
    assert lambda_max_per_node(g, batch, "eig") is lam
    # dense float64: diag(2 / lambda_batch[i]) (I - S) - I, and each block is that graph's own L~
    # (the graph with L = 0 has lambda 0 and L~ = -I, as scaled_laplacian gives for the number 0)
    assert (lam == 0).any()
    a = 2.0 / np.where(lam.numpy() == 0, 2.0, lam.numpy())
    l_tilde = np.diag(a) @ (np.eye(n) - oracle.sym_no_loops(ei, ew, n, False)) - np.eye(n)
    lap = scaled_laplacian(g, lam)
    assert scaled_laplacian(g, lam) is lap  # kept for the same tensor
    np.testing.assert_allclose(lap.to_dense().numpy(), l_tilde, atol=1e-12)
    x = torch.randn(n, 3, dtype=torch.float64)
    basis = chebyshev_basis(g, x, 3, lam)
    z = [torch.randn(n, 2, dtype=torch.float64) for _ in range(3)]
    combined = chebyshev_combine(g, z, lam)
    for i, (e, w, m) in zip(ids, graphs):
        lam_g = oracle.lambda_max(e, w, m) if i.numel() != 3 else 2.0  # L = 0: L~ = -I for any lambda
        own = oracle.scaled_laplacian(e, w, m, lam_g)
        np.testing.assert_allclose(l_tilde[np.ix_(i, i)], own, atol=1e-10)
        ts = oracle.chebyshev_polynomials(own, 3)
        for t, ref in zip(basis, ts):
            np.testing.assert_allclose(t[i].numpy(), ref @ x[i].numpy(), atol=1e-10)
        np.testing.assert_allclose(combined[i].numpy(), sum(t @ zk[i].numpy() for t, zk in zip(ts, z)), atol=1e-10)
    lam.mul_(1.0)  # modified in place: rebuilt
    assert scaled_laplacian(g, lam) is not lap


def test_scaled_laplacian_per_node_shape():
    g = cheb_graph(torch.tensor([[0, 1], [1, 0]]), None, 2)
    with pytest.raises(ValueError, match=r"must have shape \[2\]"):
        scaled_laplacian(g, torch.ones(3, dtype=torch.float64))


def test_clear_errors_on_a_mini_batch(graph_zoo):
    graphs = batch_graphs(graph_zoo)
    ei, ew, n, batch, ids = disjoint_union(graphs)
    g, G = cheb_graph(ei, ew, n), len(graphs)
    lam = torch.rand(G, dtype=torch.float64) + 1
    bad = [lam.clone().index_fill_(0, torch.tensor([1]), v) for v in (0.0, -1.0, float("nan"), float("inf"))]
    cases = [((None, lam), "per-graph lambda_max .* needs batch="),
             ((batch, lam[:-1]), f"has {G - 1} values but batch has {G} graphs"),
             *[((batch, v), "positive and finite: 1 of its") for v in bad],
             ((None, 0.0), "positive and finite"), ((None, torch.tensor([-2.0])), "positive and finite"),
             ((None, lam.view(1, -1)), r"shape \[\] or \[num_graphs\]"), ((None, "max"), "or 'eig'"),
             ((batch[:-1], "eig"), f"batch has {n - 1} entries but the graph has {n} nodes"),
             ((batch.double(), "eig"), "batch must be a 1-D integer tensor"),
             ((batch - 1, "eig"), "negative graph ids")]
    for (b, lam_arg), match in cases:
        with pytest.raises(ValueError, match=match):
            lambda_max_per_node(g, b, lam_arg)
    with pytest.raises(TypeError, match="lambda_max must be a number or a tensor"):
        lambda_max_per_node(g, batch, [1.0, 2.0])
    # an edge from the first graph to the last one
    across = torch.cat([ei, torch.stack([ids[0][:1], ids[-1][:1]])], 1)
    g = cheb_graph(across, torch.cat([ew, ew.new_ones(1)]), n)
    for lam_arg in ("eig", lam):
        with pytest.raises(ValueError, match=r"1 edge\(s\) connect nodes of different graphs"):
            lambda_max_per_node(g, batch, lam_arg)


def test_functional_chebyshev_takes_lambda_max_zero_and_other_dtypes():
    # only self-loops: laplacian_lambda_max gives 0.0, which means L~ = -I (as the layer treats it)
    ei = torch.tensor([[0, 1], [0, 1]])
    g = normalize_adjacency(ei, num_nodes=2, self_loop_weight=0.0)
    assert laplacian_lambda_max(g) == 0.0
    x = torch.randn(2, 3)
    basis = chebyshev_basis(g, x, 2, laplacian_lambda_max(g))
    torch.testing.assert_close(basis[1], -x)
    torch.testing.assert_close(basis[2], x)  # T_2(-I) = 2I - I
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lambda_max must be a positive finite number"):
            chebyshev_basis(g, x, 1, bad)
    # float64 features with a float32 graph: the graph follows x, as propagate does
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    g32 = normalize_adjacency(ei, num_nodes=3, self_loop_weight=0.0)
    g64 = normalize_adjacency(ei, num_nodes=3, self_loop_weight=0.0, dtype=torch.float64)
    x64 = torch.randn(3, 2, dtype=torch.float64)
    for a, b in zip(chebyshev_basis(g32, x64, 2, 2.0), chebyshev_basis(g64, x64, 2, 2.0)):
        assert a.dtype == torch.float64
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    out = chebyshev_combine(g32, [x64, x64, x64], 2.0)
    torch.testing.assert_close(out, chebyshev_combine(g64, [x64, x64, x64], 2.0), rtol=1e-6, atol=1e-6)


def test_a_per_node_lambda_max_scales_each_row_by_its_own_value():
    # the documented L~ = diag(2 / lambda) L - I, checked where lambda varies inside one graph
    # (within a batch's graphs rows and columns share a value, which cannot tell rows from columns)
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    ew = torch.tensor([1.0, 1.0, 3.0, 3.0], dtype=torch.float64)
    g = cheb_graph(ei, ew, 3)
    lam = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    lap = torch.eye(3, dtype=torch.float64) - g.to_dense()
    expected = torch.diag(2 / lam) @ lap - torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(scaled_laplacian(g, lam).to_dense(), expected, rtol=0, atol=1e-12)


def _ring(n=6):
    ei = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    return torch.cat([ei, ei.flip(0)], 1)


@pytest.mark.parametrize("per_node", [False, True])
def test_a_laplacian_made_under_no_grad_is_not_served_to_a_differentiable_call(per_node):
    # was: a differentiable graph's L~ made under no_grad was kept and served later, silently constant:
    # no gradient reached the edge weights
    n = 6
    ei = _ring(n)
    w = torch.rand(ei.size(1), dtype=torch.float64, requires_grad=True)
    g = cheb_graph(ei, w, n)
    lam = torch.full((n,), 1.5, dtype=torch.float64) if per_node else 1.5
    x = torch.randn(n, 2, dtype=torch.float64)
    with torch.no_grad():
        chebyshev_basis(g, x, 2, lam)
    (got,) = torch.autograd.grad(chebyshev_basis(g, x, 2, lam)[-1].sum(), w)
    (want,) = torch.autograd.grad(chebyshev_basis(cheb_graph(ei, w, n), x, 2, lam)[-1].sum(), w)
    torch.testing.assert_close(got, want)
    assert got.abs().sum() > 0


def test_a_graph_normalized_from_learnable_weights_builds_its_laplacian_once(monkeypatch):
    # a graph computed by autograd lives one forward: its L~ is kept for it (a recurrent model asked
    # for it at every step and rebuilt it each time, with host syncs); a graph of leaf values that
    # require grad outlives a backward, so its L~ is still made per call (a second backward works)
    import gcnkit.functional.chebyshev as cheb

    made = []
    real = cheb._assemble_scaled_laplacian
    monkeypatch.setattr(cheb, "_assemble_scaled_laplacian", lambda *a: made.append(1) or real(*a))
    n = 6
    ei = _ring(n)
    w = torch.rand(ei.size(1), dtype=torch.float64, requires_grad=True)
    x = torch.randn(n, 2, dtype=torch.float64)
    g = cheb_graph(ei, w, n)
    assert g.adj.value.grad_fn is not None
    first = [chebyshev_basis(g, x, 2, 1.5)[-1] for _ in range(3)]
    assert len(made) == 1
    (got,) = torch.autograd.grad(sum(t.sum() for t in first), w)
    (want,) = torch.autograd.grad(3 * chebyshev_basis(cheb_graph(ei, w, n), x, 2, 1.5)[-1].sum(), w)
    torch.testing.assert_close(got, want)
    leaf = cheb_graph(ei, w.detach(), n)
    leaf.adj.value.requires_grad_()
    for _ in range(2):  # two backward passes through one graph of leaf values
        chebyshev_basis(leaf, x, 2, 1.5)[-1].sum().backward()
    assert len(made) == 1 + 1 + 2 and leaf.adj.value.grad is not None
