"""Chebyshev polynomials of the scaled Laplacian against NumPy."""
import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev as npcheb

from gcnkit.functional import (chebyshev_basis, chebyshev_combine, laplacian_lambda_max,
                               normalize_adjacency)


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


@pytest.mark.parametrize("n", [1, 2, 3, 10, 40])
def test_lambda_max_matches_numpy_eigvalsh(oracle, n):
    gen = torch.Generator().manual_seed(n)
    # random undirected weighted graph, some isolated nodes
    m = max(1, 2 * n)
    s = torch.randint(0, n, (m,), generator=gen)
    t = torch.randint(0, n, (m,), generator=gen)
    keep = s != t
    s, t = s[keep], t[keep]
    w = torch.rand(s.numel(), generator=gen, dtype=torch.float64) + 0.1
    ei = torch.stack([torch.cat([s, t]), torch.cat([t, s])])
    ew = torch.cat([w, w])
    g = cheb_graph(ei, ew, n)
    lam = laplacian_lambda_max(g)
    assert lam == pytest.approx(oracle.lambda_max(ei, ew, n), abs=1e-8)
    assert 0.0 <= lam <= 2.0 + 1e-9


def test_lambda_max_of_bipartite_graph_is_two():
    # a path is bipartite: the largest eigenvalue of I - S is exactly 2
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    assert laplacian_lambda_max(cheb_graph(ei, None, 4)) == pytest.approx(2.0, abs=1e-6)


def test_lambda_max_is_computed_once_per_graph(graph_zoo, eigensolver_calls):
    ei, ew, n = graph_zoo["undirected"]
    g = cheb_graph(ei, ew, n)
    lam = laplacian_lambda_max(g)
    assert laplacian_lambda_max(g) == lam
    assert laplacian_lambda_max(g.to(dtype=torch.float32)) == lam  # copies share it
    assert len(eigensolver_calls) == 1


@pytest.mark.parametrize("name", ["directed", "weighted", "kitchen_sink"])
def test_lambda_max_directed_graph_is_the_largest_real_part(graph_zoo, oracle, name):
    ei, ew, n = graph_zoo[name]
    assert laplacian_lambda_max(cheb_graph(ei, ew, n)) == pytest.approx(oracle.lambda_max(ei, ew, n), abs=1e-6)


def large_graph():
    """Large enough for the sparse (ARPACK) path: a random weighted part (nodes 0-99), a path
    100 - ... - 109 (bipartite: lambda_max = 2) and isolated nodes 110-149."""
    gen = torch.Generator().manual_seed(0)
    ei = torch.randint(0, 100, (2, 300), generator=gen)
    ei = ei[:, ei[0] != ei[1]]
    path = torch.arange(100, 109)
    ei = torch.cat([ei, torch.stack([path, path + 1])], 1)
    ei = torch.cat([ei, ei.flip(0)], 1)
    w = torch.rand(ei.size(1) // 2, generator=gen, dtype=torch.float64) + 0.1
    return ei, torch.cat([w, w]), 150


def test_lambda_max_large_graphs_match_numpy(oracle):
    ei, ew, n = large_graph()
    lam = laplacian_lambda_max(cheb_graph(ei, ew, n))
    assert lam == pytest.approx(oracle.lambda_max(ei, ew, n), abs=1e-6)
    assert lam == pytest.approx(2.0, abs=1e-6)


def test_lambda_max_is_deterministic(graph_zoo):
    # ARPACK starts from a random vector unless given one: identical runs used to differ
    for name, (ei, ew, n) in [*graph_zoo.items(), ("large", large_graph())]:
        values = {laplacian_lambda_max(cheb_graph(ei, ew, n)) for _ in range(3)}
        assert len(values) == 1, name


@pytest.mark.parametrize("n", [2, 5])
def test_lambda_max_of_a_zero_laplacian(n):
    # only self-loops: S = I, L = 0 (used to be an ARPACK error for n > 2)
    ei = torch.arange(n).repeat(2, 1)
    assert laplacian_lambda_max(cheb_graph(ei, None, n)) == 0.0
