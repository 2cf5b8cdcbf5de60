"""The graph cache: a graph is normalized once, any change to it is seen, nothing is kept alive;
NormalizedGraph's dtype copies."""
import gc
import weakref

import numpy as np
import pytest
import torch

from gcnkit.functional import normalize_adjacency, resolve_graph


def dense(t):
    return t.detach().double().cpu().numpy()


def test_same_graph_is_normalized_once(graph_zoo, fresh_cache, count_normalizations):
    ei, ew, n = graph_zoo["kitchen_sink"]
    g1 = resolve_graph(ei, ew, n)
    g2 = resolve_graph(ei, ew, n)
    assert g1 is g2
    assert len(count_normalizations) == 1
    assert (fresh_cache.misses, fresh_cache.hits) == (1, 1)
    # other options are another entry
    assert resolve_graph(ei, ew, n, norm="row") is not g1
    assert len(count_normalizations) == 2
    # a NormalizedGraph passes through untouched
    assert resolve_graph(g1, None, n) is g1
    assert len(count_normalizations) == 2


def test_different_graph_is_not_served_from_the_cache(oracle, fresh_cache, count_normalizations):
    # PyG's cached=True bug (#619, #2073): a second graph of the same size got the first one's
    # normalization
    ei_a = torch.tensor([[0, 1, 2], [1, 2, 0]])
    ei_b = torch.tensor([[1, 2, 0], [0, 0, 1]])
    ga = resolve_graph(ei_a, None, 3)
    gb = resolve_graph(ei_b, None, 3)
    assert len(count_normalizations) == 2
    np.testing.assert_allclose(dense(gb.to_dense()), oracle.normalized(ei_b, None, 3), atol=1e-6)
    np.testing.assert_allclose(dense(ga.to_dense()), oracle.normalized(ei_a, None, 3), atol=1e-6)
    # same values, different tensor: recomputed too (keyed on identity, not on contents)
    resolve_graph(ei_a.clone(), None, 3)
    assert len(count_normalizations) == 3


def test_in_place_modified_graph_is_recomputed(oracle, fresh_cache, count_normalizations):
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    w = torch.tensor([1.0, 2.0, 3.0])
    g1 = resolve_graph(ei, w, 3)
    ei[0, 0] = 2  # edge 0 -> 1 becomes 2 -> 1
    g2 = resolve_graph(ei, w, 3)
    assert len(count_normalizations) == 2 and g2 is not g1
    np.testing.assert_allclose(dense(g2.to_dense()), oracle.normalized(ei, w, 3), atol=1e-6)
    w.mul_(2.0).add_(1.0)
    g3 = resolve_graph(ei, w, 3)
    assert len(count_normalizations) == 3
    np.testing.assert_allclose(dense(g3.to_dense()), oracle.normalized(ei, w, 3), atol=1e-6)


def test_normalized_graph_does_not_alias_the_input(oracle):
    # with no self-loops to add and already target-sorted edges, the operator used to keep views
    # of edge_index / edge_weight: modifying them in place silently changed the graph
    ei = torch.tensor([[1, 0], [0, 1]])
    w = torch.tensor([1.0, 2.0])
    g = normalize_adjacency(ei, w, 2, norm="none", self_loop_weight=0.0)
    expected = oracle.normalized(ei, w, 2, "none", 0.0)
    ei[0, 0] = 0
    w.fill_(100.0)
    np.testing.assert_allclose(dense(g.to_dense()), expected)


@pytest.mark.parametrize("norm", ["none", "sym", "row", "col"])
@pytest.mark.parametrize("self_loop_weight", [0.0, 1.0])
def test_no_normalization_aliases_the_edge_weights(oracle, norm, self_loop_weight):
    # target-sorted edges with sorted sources in each row: the CSR build keeps the weights' order,
    # so only an explicit copy keeps the operator from being a view of the caller's edge_weight
    ei = torch.tensor([[1, 0, 2, 1], [0, 1, 1, 2]])
    w = torch.tensor([1.0, 2.0, 3.0, 4.0])
    g = normalize_adjacency(ei, w, 3, norm=norm, self_loop_weight=self_loop_weight)
    expected = oracle.normalized(ei, w, 3, norm, self_loop_weight)
    w.mul_(10.0)
    np.testing.assert_allclose(dense(g.to_dense()), expected, rtol=1e-6)


def test_the_cache_keeps_one_graph_per_dtype(fresh_cache):
    # the precision asked for is part of the key: a float64 request after a float32 one must not
    # get the float32 operator (float32 rounding, 1e-8) back
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, 50, (2, 300), generator=g)
    w = torch.rand(300, generator=g, dtype=torch.float64) + 0.1
    g32 = resolve_graph(ei, w, 50, dtype=torch.float32)
    g64 = resolve_graph(ei, w, 50, dtype=torch.float64)
    assert g32.dtype == torch.float32 and g64.dtype == torch.float64
    torch.testing.assert_close(g64.to_dense(), normalize_adjacency(ei, w, 50, dtype=torch.float64).to_dense(),
                               rtol=0, atol=0)


def test_differentiable_graph_is_not_cached(fresh_cache, count_normalizations):
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    w = torch.rand(3, requires_grad=True)
    x = torch.randn(3, 2)
    for _ in range(2):  # two training steps: each builds its own autograd graph
        resolve_graph(ei, w, 3).matmul(x).sum().backward()
    assert len(count_normalizations) == 2
    assert w.grad is not None and len(fresh_cache) == 0


def test_cache_holds_no_strong_reference_to_the_graph(fresh_cache):
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    ref = weakref.ref(ei)
    resolve_graph(ei, None, 3)
    del ei
    gc.collect()
    assert ref() is None


def test_to_dtype_is_made_once_and_always_from_the_original(graph_zoo):
    ei, ew, n = graph_zoo["weighted"]
    g = normalize_adjacency(ei, ew.float(), n)  # float32
    g64 = g.to(dtype=torch.float64)
    assert g.to(dtype=torch.float64) is g64
    assert g.to(dtype=torch.float32) is g and g.to() is g
    gbf = g.to(dtype=torch.bfloat16)
    assert g.to(dtype=torch.bfloat16) is gbf and gbf.dtype == torch.bfloat16
    # a copy converts from the original, not from itself: no precision is lost on the way back
    assert gbf.to(dtype=torch.float32) is g
    assert gbf.to(dtype=torch.float64) is g64
    g2 = normalize_adjacency(ei, ew.float(), n)
    g2.to(dtype=torch.bfloat16).to(dtype=torch.float64)  # converted via bfloat16 first...
    torch.testing.assert_close(g2.to(dtype=torch.float64).to_dense(),   # ...still exact
                               g2.to_dense().double(), rtol=0, atol=0)
    # the layers' path: .like(x) uses the same copies
    assert g.like(torch.zeros(1, dtype=torch.float64)) is g64


def test_to_dtype_counts_conversions(graph_zoo, monkeypatch):
    from gcnkit.functional.sparse import CSRMatrix
    ei, ew, n = graph_zoo["weighted"]
    g = normalize_adjacency(ei, ew.float(), n)
    calls = []
    original = CSRMatrix.to

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CSRMatrix, "to", counting)
    x = torch.randn(n, 3, dtype=torch.float64)
    for _ in range(3):
        g.matmul(x)
    assert len(calls) == 1


def test_cache_entries_of_dead_graphs_are_dropped(fresh_cache):
    import gc

    from gcnkit.functional.graph_input import resolve_graph

    for seed in range(5):
        ei = torch.randint(0, 50, (2, 200), generator=torch.Generator().manual_seed(seed))
        resolve_graph(ei, None, 50, cache=fresh_cache)
        assert len(fresh_cache) == 1  # the previous graph died with its tensor: its entry too
        del ei
        gc.collect()
    assert len(fresh_cache) == 0


def test_edge_weight_with_a_normalized_graph_is_an_error():
    from gcnkit.nn import KipfGCNConv

    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    g = normalize_adjacency(ei, None, 3)
    with pytest.raises(ValueError, match="edge_weight must be None when the graph is a NormalizedGraph"):
        KipfGCNConv(2, 2)(torch.randn(3, 2), g, torch.ones(4))


def test_deepcopy_of_a_used_graph_and_a_model_holding_it():
    """``best = copy.deepcopy(model)`` (early stopping) works after the graph has been used."""
    import copy

    from gcnkit.nn import KipfGCNConv

    class Net(torch.nn.Module):
        def __init__(self, graph):
            super().__init__()
            self.graph, self.conv = graph, KipfGCNConv(4, 2)

        def forward(self, x):
            return self.conv(x, self.graph)

    graph = normalize_adjacency(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
    net = Net(graph)
    x = torch.randn(3, 4)
    net(x).sum().backward()
    net(torch.randn(2, 3, 4))
    best = copy.deepcopy(net)
    torch.testing.assert_close(best(x), net(x))
    assert best.graph is not graph and best.graph.adj.value.data_ptr() != graph.adj.value.data_ptr()


def test_cache_entry_under_a_reused_id_is_not_served():
    """An entry is served only to the tensor it was made for: a new tensor that gets a dead one's
    id (and version) must be normalized anew (simulated by re-keying an entry)."""
    from gcnkit.functional.cache import GraphCache

    cache = GraphCache()
    a, b = torch.tensor([1.0]), torch.tensor([2.0])
    assert cache.get((a,), "opts", lambda: "for a") == "for a"
    key_a = next(iter(cache._entries))
    entry = cache._entries.pop(key_a)
    cache._entries[cache._key((b,), "opts")] = entry  # b now looks like a's key
    assert cache.get((b,), "opts", lambda: "for b") == "for b"


def test_swapping_a_key_tensor_works_after_clear_caches():
    # the documented limit of the weak references (cache.py): swap_tensors refuses a tensor that
    # has them; clear_caches() drops them
    from gcnkit.nn.conv import KipfGCNConv, clear_caches

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = KipfGCNConv(3, 2)
            self.w = torch.nn.Parameter(torch.rand(3), requires_grad=False)

        def forward(self, x, ei):
            return self.conv(x, ei, self.w)

    m, x, ei = Model(), torch.randn(3, 3), torch.tensor([[0, 1, 2], [1, 2, 0]])
    m(x, ei)
    before = torch.__future__.get_swap_module_params_on_conversion()
    torch.__future__.set_swap_module_params_on_conversion(True)
    try:
        with pytest.raises(RuntimeError, match="Couldn't swap"):
            m.double()
        clear_caches()
        m.double()
    finally:
        torch.__future__.set_swap_module_params_on_conversion(before)
    assert m.w.dtype == torch.float64
    torch.testing.assert_close(m(x.double(), ei), m.conv(x.double(), ei, m.w))


def test_a_cached_graph_written_in_place_is_not_served_again():
    # resolve_graph hands out the shared cached operator: a write to its values was served to
    # every later layer call and resolve_graph with the same graph
    from gcnkit.functional import normalize_adjacency, resolve_graph
    from gcnkit.nn.conv import KipfGCNConv

    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 4, 5], [1, 0, 2, 1, 3, 2, 4, 3, 5, 4]])
    x = torch.randn(6, 4)
    conv = KipfGCNConv(4, 3)
    conv(x, ei)
    g = resolve_graph(ei, num_nodes=6, dtype=torch.float32)
    with torch.no_grad():
        g.edge_weight.mul_(0.5)
    torch.testing.assert_close(conv(x, ei), conv(x, normalize_adjacency(ei, num_nodes=6)))
    again = resolve_graph(ei, num_nodes=6, dtype=torch.float32)
    assert again is not g
    torch.testing.assert_close(again.to_dense(), normalize_adjacency(ei, num_nodes=6).to_dense())
