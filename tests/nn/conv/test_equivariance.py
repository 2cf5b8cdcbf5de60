"""Permutation equivariance, a hypothesis property: f(P X, P A P^T) = P f(X, A)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gcnkit.functional import graph_cache


@st.composite
def graphs_and_permutations(draw, max_nodes=8):
    n = draw(st.integers(2, max_nodes))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=0, max_size=3 * n))
    weights = draw(st.lists(st.floats(0.1, 3.0), min_size=len(edges), max_size=len(edges)))
    perm = draw(st.permutations(range(n)))
    seed = draw(st.integers(0, 2**16))
    ei = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).t().contiguous()
    ew = torch.tensor(weights, dtype=torch.float64)
    return n, ei, ew, torch.tensor(perm, dtype=torch.long), seed


@pytest.mark.parametrize("weighted", [False, True])
@settings(max_examples=12, deadline=None)
@given(data=graphs_and_permutations())
def test_permutation_equivariance(layers, layer_name, weighted, data):
    n, ei, ew, perm, seed = data
    if "_eig" in layer_name:
        # the largest eigenvalue of a directed graph's Laplacian can be ill-conditioned (a path
        # gives a defective L: its eigenvalue is only determined to ~eps^(1/4)); the spectral
        # rows are for undirected graphs: symmetrize
        ei, ew = torch.cat([ei, ei.flip(0)], 1), torch.cat([ew, ew])
    ew = ew if weighted else None
    gen = torch.Generator().manual_seed(seed)
    layer = layers.build(layer_name, 3, 4).double()
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    # P X: new node i is old node perm[i]; old node j is new node inv[j]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    out = layer(x, ei, ew)
    out_perm = layer(x[perm], inv[ei], ew)
    tol = 1e-9
    torch.testing.assert_close(out_perm, out[perm], atol=tol, rtol=tol)
    # and the same with an edge order shuffled (the edge list is a set, not a sequence)
    order = torch.randperm(ei.size(1), generator=gen)
    torch.testing.assert_close(layer(x, ei[:, order], None if ew is None else ew[order]), out,
                               atol=tol, rtol=tol)
    graph_cache.clear()


@settings(max_examples=10, deadline=None)
@given(data=graphs_and_permutations())
def test_permutation_equivariance_batched_and_sparse_features(layers, data):
    n, ei, ew, perm, seed = data
    gen = torch.Generator().manual_seed(seed)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    for name in ("kipf", "cheb2"):
        layer = layers.build(name, 3, 2).double()
        x = torch.randn(2, n, 3, generator=gen, dtype=torch.float64)
        torch.testing.assert_close(layer(x[:, perm], inv[ei], ew), layer(x, ei, ew)[:, perm])
        xs = x[0].relu()
        torch.testing.assert_close(layer(xs[perm].to_sparse_csr(), inv[ei], ew), layer(xs, ei, ew)[perm])
