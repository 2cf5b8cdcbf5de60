"""normalize_adjacency against a dense float64 oracle: edge cases, dtypes, gradients (cache: test_graph_cache.py)."""
import math

import numpy as np
import pytest
import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import scatter

from gcnkit.functional import NORMS, NormalizedGraph, normalize_adjacency, propagate

SELF_LOOP_WEIGHTS = (0.0, 1.0, 2.0, 0.5)


def dense(t):
    return t.detach().double().cpu().numpy()


# --------------------------------------------------------------------------- the formula
@pytest.mark.parametrize("self_loop_weight", SELF_LOOP_WEIGHTS)
@pytest.mark.parametrize("norm", NORMS)
def test_matches_dense_oracle(zoo_graph, norm, self_loop_weight, oracle):
    name, ei, ew, n = zoo_graph
    g = normalize_adjacency(ei, ew, n, norm=norm, self_loop_weight=self_loop_weight)
    expected = oracle.normalized(ei, ew, n, norm, self_loop_weight)
    assert isinstance(g, NormalizedGraph)
    assert (g.num_nodes, g.norm, g.self_loop_weight) == (n, norm, self_loop_weight)
    assert g.dtype == (torch.float64 if ew is not None else torch.float32)
    tol = 1e-12 if ew is not None else 1e-6
    np.testing.assert_allclose(dense(g.to_dense()), expected, atol=tol, rtol=tol)
    np.testing.assert_allclose(dense(g.to_sparse_csr().to_dense()), expected, atol=tol, rtol=tol)
    np.testing.assert_allclose(dense(g.deg), oracle.degrees(oracle.with_loops(ei, ew, n, self_loop_weight), norm),
                               atol=tol)
    x = torch.randn(n, 3, dtype=g.dtype)
    np.testing.assert_allclose(dense(g.matmul(x)), expected @ dense(x), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(dense(propagate(g, x)), expected @ dense(x), atol=1e-5, rtol=1e-5)
    assert torch.isfinite(g.to_dense()).all()


def test_direction_convention_matches_pyg_message_passing():
    # one edge 0 -> 1: node 1 receives x_0; node 0 receives nothing
    ei = torch.tensor([[0], [1]])
    g = normalize_adjacency(ei, torch.tensor([2.0]), 2, norm="none", self_loop_weight=0.0)
    assert g.to_dense().tolist() == [[0.0, 0.0], [2.0, 0.0]]
    x = torch.tensor([[1.0], [10.0]])
    assert g.matmul(x).tolist() == [[0.0], [2.0]]
    assert torch.equal(g.edge_index, ei)  # (source, target) rows, PyG's layout
    # PyG's flow="source_to_target" on a bigger directed, weighted graph
    ei = torch.tensor([[0, 0, 1, 2, 3, 3], [1, 2, 2, 3, 1, 0]])
    w = torch.rand(6)
    x = torch.randn(4, 3)
    g = normalize_adjacency(ei, w, 4, norm="none", self_loop_weight=0.0)
    ref = scatter(w.view(-1, 1) * x[ei[0]], ei[1], dim=0, dim_size=4, reduce="sum")
    torch.testing.assert_close(g.matmul(x), ref)


@pytest.mark.parametrize("improved", [False, True])
def test_sym_equals_pyg_gcn_norm_on_directed_weighted_graph(graph_zoo, improved):
    ei, ew, n = graph_zoo["weighted"]
    g = normalize_adjacency(ei, ew, n, norm="sym", self_loop_weight=2.0 if improved else 1.0)
    pei, pw = gcn_norm(ei, ew, n, improved=improved, add_self_loops=True)
    ref = torch.zeros(n, n, dtype=torch.float64)
    ref.index_put_((pei[1], pei[0]), pw, accumulate=True)
    torch.testing.assert_close(g.to_dense(), ref)


@pytest.mark.parametrize("self_loop_weight", SELF_LOOP_WEIGHTS)
def test_row_and_col_normalizations_are_stochastic(graph_zoo, self_loop_weight):
    ei, ew, n = graph_zoo["kitchen_sink"]
    row = normalize_adjacency(ei, ew, n, norm="row", self_loop_weight=self_loop_weight).to_dense()
    col = normalize_adjacency(ei, ew, n, norm="col", self_loop_weight=self_loop_weight).to_dense()
    rs, cs = row.sum(1), col.sum(0)
    torch.testing.assert_close(rs[rs != 0], torch.ones_like(rs[rs != 0]))
    torch.testing.assert_close(cs[cs != 0], torch.ones_like(cs[cs != 0]))
    if self_loop_weight > 0:  # then every node has a positive self-loop (added or existing)
        assert (rs != 0).all() and (cs != 0).all()


def test_duplicates_are_summed():
    dup = normalize_adjacency(torch.tensor([[0, 0, 1], [1, 1, 0]]), torch.tensor([1.0, 2.0, 1.0]), 2)
    single = normalize_adjacency(torch.tensor([[0, 1], [1, 0]]), torch.tensor([3.0, 1.0]), 2)
    torch.testing.assert_close(dup.to_dense(), single.to_dense())
    assert dup.num_edges == 4  # 2 edges + 2 added self-loops, duplicates merged


def test_existing_self_loops_are_kept_not_doubled():
    ei = torch.tensor([[0, 0, 1], [0, 1, 0]])
    g = normalize_adjacency(ei, torch.tensor([5.0, 1.0, 1.0]), 3, norm="none", self_loop_weight=2.0)
    assert g.to_dense().tolist() == [[5.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
    g0 = normalize_adjacency(ei, None, 3, norm="none", self_loop_weight=0.0)
    assert torch.diagonal(g0.to_dense()).tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("self_loop_weight", [0.0, 1.0, 2.5])
def test_remove_self_loops_drops_the_graphs_own_first(graph_zoo, oracle, norm, self_loop_weight):
    ei, ew, n = graph_zoo["self_loops"]
    off = ei[0] != ei[1]
    expected = oracle.normalized(ei[:, off], None if ew is None else ew[off], n, norm, self_loop_weight)
    g = normalize_adjacency(ei, ew, n, norm=norm, self_loop_weight=self_loop_weight, remove_self_loops=True)
    np.testing.assert_allclose(g.to_dense().double().numpy(), expected, atol=1e-6)
    assert g.remove_self_loops and "remove_self_loops=True" in repr(g)
    kept = normalize_adjacency(ei, ew, n, norm=norm, self_loop_weight=self_loop_weight)
    assert not torch.allclose(kept.to_dense(), g.to_dense())  # the zoo graph's loops do matter


def test_remove_self_loops_is_part_of_the_cache_key_and_checked(graph_zoo, fresh_cache):
    from gcnkit.functional.graph_input import resolve_graph

    ei, ew, n = graph_zoo["self_loops"]
    a = resolve_graph(ei, ew, n, norm="sym", self_loop_weight=0.0, cache=fresh_cache)
    b = resolve_graph(ei, ew, n, norm="sym", self_loop_weight=0.0, remove_self_loops=True, cache=fresh_cache)
    assert a is not b and not torch.allclose(a.to_dense(), b.to_dense())
    assert resolve_graph(ei, ew, n, norm="sym", self_loop_weight=0.0, remove_self_loops=True, cache=fresh_cache) is b
    with pytest.raises(ValueError, match="remove_self_loops=True"):
        resolve_graph(b, norm="sym", self_loop_weight=0.0)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_zero_degree_gives_zero_not_inf_or_nan(norm, dtype):
    # node 0 only sends, node 3 is isolated; no self-loops are added
    ei = torch.tensor([[0, 1, 2], [1, 2, 1]])
    g = normalize_adjacency(ei, torch.ones(3, dtype=dtype), 4, norm=norm, self_loop_weight=0.0)
    a = g.to_dense()
    assert torch.isfinite(a).all()
    assert (a[3] == 0).all() and (a[:, 3] == 0).all()
    if norm != "col":
        assert (a[0] == 0).all()  # no incoming weight
    out = g.matmul(torch.ones(4, 2, dtype=dtype))
    assert out.dtype == dtype and torch.isfinite(out).all() and (out[3] == 0).all()


# --------------------------------------------------------------------------- negative degrees
def _negative_graph():
    # incoming weights: node 1 gets -3 + 1, node 2 gets -1 (two nodes with negative row sums);
    # outgoing (column) sums: node 0 sends -3 + 1 + 2 = 0, node 2 sends 1, node 3 sends -1 + 5 > 0
    ei = torch.tensor([[0, 2, 3, 0, 3, 0], [1, 1, 2, 3, 0, 0]])
    w = torch.tensor([-3.0, 1.0, -1.0, 1.0, 5.0, 2.0])
    return ei, w


@pytest.mark.parametrize("norm", ["sym", "row"])
def test_negative_weighted_degree_raises_with_count_and_norm(norm):
    ei, w = _negative_graph()
    with pytest.raises(ValueError, match=rf"norm='{norm}'.*\b2 node\(s\).*negative weighted degree"):
        normalize_adjacency(ei, w, 4, norm=norm, self_loop_weight=0.0)


@pytest.mark.parametrize("norm", ["sym", "row"])
def test_weights_that_cancel_give_a_zero_degree_not_the_rounding_error(norm):
    # four weights summing to 0 exactly, whose float32 sum is 1.19e-7 (was D^-1 = 8.4e6 on them)
    w = torch.tensor([0.8352431654930115, 0.2055988311767578, 0.593172013759613, -1.6340140104293823])
    ei = torch.tensor([[1, 2, 3, 4], [0, 0, 0, 0]])
    assert torch.zeros(1).index_add(0, ei[1], w).item() != 0.0  # the float32 rounding error itself
    g = normalize_adjacency(ei, w, 5, norm=norm, self_loop_weight=0.0)
    assert g.deg[0] == 0.0
    torch.testing.assert_close(g.to_dense(), torch.zeros(5, 5))  # as for exactly cancelling weights
    # 10,000 weights [a, -a] into one node: float32 sums leave +-0.0117 (a degree, or a negative one)
    a = torch.rand(5000, generator=torch.Generator().manual_seed(0)) + 0.5
    for big in (torch.cat([a, -a]), torch.cat([-a, a])):
        g = normalize_adjacency(torch.stack([torch.arange(1, 10001), torch.zeros(10000, dtype=torch.long)]), big,
                                10001, norm=norm, self_loop_weight=0.0)
        assert g.deg[0] == 0.0 and g.adj.value.abs().max() == 0.0
    # a small degree that is not a rounding error stays (it was zeroed by a float32 tolerance)
    small = torch.tensor([1.0, -0.999999])
    g = normalize_adjacency(torch.tensor([[1, 2], [0, 0]]), small, 3, norm="row", self_loop_weight=0.0)
    assert g.deg[0] > 0
    torch.testing.assert_close(g.to_dense()[0, 1:], (small.double() / small.double().sum()).float())


def test_degrees_are_summed_in_float64_and_an_overflow_there_is_an_error():
    # was: float32 weights whose sum passes 3.4e38 gave an infinite degree, D^-1/2 = 0: the node's
    # edges silently dropped
    ei = torch.tensor([[1, 2], [0, 0]])
    g = normalize_adjacency(ei, torch.full((2,), 3e38), 3, norm="row", self_loop_weight=0.0)
    torch.testing.assert_close(g.to_dense()[0], torch.tensor([0.0, 0.5, 0.5]))
    with pytest.raises(ValueError, match=r"degrees of nodes \[0\] overflow torch.float64"):
        normalize_adjacency(ei, torch.full((2,), 1.7e308, dtype=torch.float64), 3, self_loop_weight=0.0)


def test_negative_column_degree_raises_for_col_only():
    # column sums are what col uses: make one negative while every row sum is positive
    ei = torch.tensor([[0, 0, 1, 2], [1, 2, 2, 1]])
    w = torch.tensor([-1.0, -1.0, 3.0, 3.0])  # with loops: row sums 1, 3, 3; column sums -1, 4, 4
    normalize_adjacency(ei, w, 3, norm="row", self_loop_weight=1.0)  # fine
    with pytest.raises(ValueError, match=r"norm='col'.*\b1 node\(s\).*negative"):
        normalize_adjacency(ei, w, 3, norm="col", self_loop_weight=1.0)


def test_negative_degree_is_fine_for_norm_none(oracle):
    ei, w = _negative_graph()
    g = normalize_adjacency(ei, w, 4, norm="none", self_loop_weight=0.0)
    np.testing.assert_allclose(dense(g.to_dense()), oracle.normalized(ei, w, 4, "none", 0.0))


# --------------------------------------------------------------------------- dtypes, batches
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5),
                                        (torch.bfloat16, 3e-2)])
def test_dtypes(graph_zoo, oracle, norm, dtype, tol, product_path):
    ei, ew, n = graph_zoo["kitchen_sink"]
    expected = oracle.normalized(ei, ew, n, norm, 1.0)
    x = torch.randn(n, 4, dtype=torch.float64)
    ref = expected @ x.numpy()
    for g in (normalize_adjacency(ei, ew.to(dtype), n, norm=norm),            # weights in dtype
              normalize_adjacency(ei, ew, n, norm=norm).to(dtype=dtype)):     # converted afterwards
        out = g.matmul(x.to(dtype))
        assert out.dtype == dtype
        np.testing.assert_allclose(dense(out), ref, atol=tol * np.abs(ref).max(), rtol=tol)
    assert normalize_adjacency(ei, ew, n, norm=norm).to(dtype=dtype).dtype == dtype
    # the operator follows the features' dtype
    g = normalize_adjacency(ei, ew, n, norm=norm)
    assert g.like(x.to(dtype)).dtype == dtype


def test_default_dtype_is_float32_and_low_precision_weights_are_summed_in_float32(graph_zoo):
    ei, ew, n = graph_zoo["weighted"]
    assert normalize_adjacency(ei, None, n).dtype == torch.float32
    assert normalize_adjacency(ei, ew.to(torch.bfloat16), n).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.long, torch.bool, torch.complex64, "float32"])
def test_a_non_floating_dtype_is_refused_not_truncated(dtype):
    # torch.long used to give an all-zero operator (values truncated), bool the same
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    with pytest.raises(TypeError, match=f"must be a floating-point torch.dtype .*got {dtype!r}"):
        normalize_adjacency(ei, None, 3, dtype=dtype)
    g = normalize_adjacency(ei, None, 3)
    with pytest.raises(TypeError, match=f"must be a floating-point torch.dtype .*got {dtype!r}"):
        g.to(dtype=dtype)
    assert g.to(dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("norm", NORMS)
def test_batched_matmul_equals_loop(graph_zoo, norm):
    ei, ew, n = graph_zoo["kitchen_sink"]
    g = normalize_adjacency(ei, ew, n, norm=norm)
    x = torch.randn(3, n, 5, dtype=torch.float64)
    out = g.matmul(x)
    assert out.shape == (3, n, 5)
    torch.testing.assert_close(out, torch.stack([g.matmul(xb) for xb in x]))
    x4 = torch.randn(2, 3, n, 4, dtype=torch.float64)
    torch.testing.assert_close(g.matmul(x4), torch.stack([torch.stack([g.matmul(b) for b in xa]) for xa in x4]))
    # non-contiguous input
    xt = torch.randn(n, 3, 5, dtype=torch.float64).transpose(0, 1)
    torch.testing.assert_close(g.matmul(xt), torch.stack([g.matmul(b) for b in xt]))


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("self_loop_weight", [0.0, 1.0])
@pytest.mark.parametrize("norm", NORMS)
def test_gradcheck_wrt_edge_weight(graph_zoo, norm, self_loop_weight):
    ei, ew, n = graph_zoo["kitchen_sink"]  # duplicates, existing loops, isolated nodes
    x = torch.randn(n, 2, dtype=torch.float64)

    def f(w):
        g = normalize_adjacency(ei, w, n, norm=norm, self_loop_weight=self_loop_weight)
        return g.to_dense(), g.matmul(x)

    assert torch.autograd.gradcheck(f, (ew.clone().requires_grad_(),))


def test_edge_weight_gradient_equals_dense_autograd(graph_zoo):
    ei, ew, n = graph_zoo["kitchen_sink"]
    x = torch.randn(n, 3, dtype=torch.float64)
    w1 = ew.clone().requires_grad_()
    normalize_adjacency(ei, w1, n).matmul(x).pow(2).sum().backward()
    # dense torch formula
    w2 = ew.clone().requires_grad_()
    a = torch.zeros(n, n, dtype=torch.float64).index_put((ei[1], ei[0]), w2, accumulate=True)
    has_loop = torch.zeros(n, dtype=torch.bool)
    has_loop[ei[0][ei[0] == ei[1]]] = True
    a = a + torch.diag((~has_loop).double())
    d = a.sum(1).pow(-0.5)
    (d[:, None] * a * d[None, :] @ x).pow(2).sum().backward()
    torch.testing.assert_close(w1.grad, w2.grad)


@pytest.mark.parametrize("norm", ["sym", "row", "col"])
def test_gradient_is_finite_at_zero_degree_nodes(norm):
    # a zero-weight edge into node 0, whose weighted degree is therefore 0: the gradient used to
    # be 0 * inf = NaN there, poisoning every parameter after one optimizer step
    ei = torch.tensor([[1, 0, 2], [0, 2, 1]])
    w = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64, requires_grad=True)
    g = normalize_adjacency(ei, w, 3, norm=norm, self_loop_weight=0.0)
    g.matmul(torch.randn(3, 2, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(w.grad).all()


@pytest.mark.parametrize("norm", ["row", "col"])
def test_tiny_float32_degrees_give_no_inf(norm):
    # Gaussian-kernel weights exp(-100) (subnormal in float32) without self-loops: D^-1 of such a
    # degree overflows float32; the rows (columns) must still sum to 1
    ei = torch.tensor([[0, 1], [1, 2]])
    w = torch.tensor([math.exp(-3), math.exp(-100)], dtype=torch.float32)
    g = normalize_adjacency(ei, w, num_nodes=3, norm=norm, self_loop_weight=0.0)
    assert torch.isfinite(g.adj.value).all()
    sums = g.to_dense().sum(1 if norm == "row" else 0)
    torch.testing.assert_close(sums[sums != 0], torch.ones(2))
