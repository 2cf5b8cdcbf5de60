"""Receptive fields: a model run on the nodes its targets depend on equals the whole-graph run there."""
import numpy as np
import pytest
import torch

from gcnkit.data import load_dataset
from gcnkit.functional.chebyshev import laplacian_lambda_max, lambda_max_per_node
from gcnkit.functional.features import Rows, dropout, sparse_dropout
from gcnkit.functional.normalize import normalize_adjacency
from gcnkit.functional.receptive_field import (receptive_field, receptive_nodes, restrict_graph, select_rows,
                                               whole_graph)
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.nn.conv.registry import CONV_REGISTRY
from gcnkit.nn.models import GCN, StackedGCN


def _directed_graph(n=40, e=70, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    return ei, torch.rand(e, generator=g) + 0.1, n


def test_receptive_nodes_are_the_upstream_nodes_of_the_dense_operator():
    ei, w, n = _directed_graph()
    graph = normalize_adjacency(ei, w, n)
    a = (graph.to_dense().abs() > 0).double() + torch.eye(n, dtype=torch.float64)  # row i gathers from j
    targets = torch.tensor([3, 17, 29])
    for hops in range(5):
        reach = torch.zeros(n, dtype=torch.float64)
        reach[targets] = 1
        for _ in range(hops):
            reach = ((a.t() @ reach) > 0).double()  # j reaches i's output when a[i, j] != 0
        assert torch.equal(receptive_nodes(graph, targets, hops), reach > 0), hops


def test_restrict_graph_is_the_whole_operators_block_with_the_whole_degrees():
    ei, w, n = _directed_graph()
    graph = normalize_adjacency(ei, w, n, norm="sym")
    nodes = torch.tensor([0, 2, 3, 7, 11, 12, 30, 39])
    sub = restrict_graph(graph, nodes)
    dense = graph.to_dense()
    assert torch.equal(sub.to_dense(), dense[nodes][:, nodes])
    assert sub.parent is graph and torch.equal(sub.deg, graph.deg[nodes])
    assert restrict_graph(sub, torch.tensor([1, 2])).parent is graph  # always the whole graph
    assert "restricted from 40 nodes" in repr(sub)


def test_select_rows_and_the_positions_of_their_values():
    g = torch.Generator().manual_seed(1)
    dense = torch.rand(9, 6, generator=g) * (torch.rand(9, 6, generator=g) < 0.4)
    x = CSRMatrix.from_torch(dense.to_sparse_csr())
    index = torch.tensor([0, 4, 5, 8])
    sub, positions = select_rows(x, index)
    assert torch.equal(sub.to_dense(), dense[index])
    assert torch.equal(x.value[positions], sub.value) and sub.nnz == int((dense[index] != 0).sum())


def test_dropout_on_rows_draws_the_whole_mask_and_keeps_those_rows():
    x = torch.rand(12, 5)
    rows = torch.tensor([1, 4, 9])
    whole = dropout(x, 0.5, generator=torch.Generator().manual_seed(3))
    part = dropout(x[rows], 0.5, generator=torch.Generator().manual_seed(3), rows=Rows(rows, 12))
    assert torch.equal(part, whole[rows])
    xs = CSRMatrix.from_torch(x.to_sparse_csr())
    sub, positions = select_rows(xs, rows)
    a = sparse_dropout(xs, 0.3, generator=torch.Generator().manual_seed(4))  # 256 p not an integer: rand
    b = sparse_dropout(sub, 0.3, generator=torch.Generator().manual_seed(4), rows=Rows(positions, xs.nnz))
    assert torch.equal(b.value, a.value[positions])
    with pytest.raises(ValueError, match="dropout on 3 rows of 12"):
        dropout(x, 0.5, rows=Rows(rows, 12))


@pytest.fixture(scope="module")
def csbm():
    return load_dataset("csbm")


def _prepared(data, dense=False):
    from gcnkit.train.node_classification import PreparedData, TrainConfig
    return PreparedData(data, TrainConfig(sparse_features=not dense))


@pytest.mark.parametrize("conv", list(CONV_REGISTRY))
@pytest.mark.parametrize("layers, dense", [(2, False), (3, True)])
def test_a_model_on_the_field_equals_the_whole_graph_at_the_targets(csbm, conv, layers, dense):
    """Every propagation rule, in training mode (dropout masks drawn from the same state) and in
    eval mode: outputs at the targets and the weights' gradients of a loss on them."""
    prep = _prepared(csbm, dense)
    model = GCN(prep.num_features, 8, out_channels=prep.num_classes, conv=conv, num_layers=layers, bias=True)
    graph = prep.graph_for(model)
    targets = prep.train_idx[:10]
    field = receptive_field(graph, prep.x, targets, model.hops)
    assert model.hops == layers * {"cheb3": 3, "cheb2": 2, "mlp": 0}.get(conv, 1)
    assert not field.whole and field.nodes.numel() < prep.num_nodes
    for training in (True, False):
        model.train(training)
        outs, grads = [], []
        for inputs in ((prep.x, graph, None), (field.x, field.graph, field)):
            torch.manual_seed(7)
            out = model(inputs[0], inputs[1], field=inputs[2])
            out = out[targets] if inputs[2] is None else out[field.targets]
            model.zero_grad()
            (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
            outs.append(out.detach())
            grads.append([p.grad.clone() for p in model.parameters()])
        torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-6)
        for a, b in zip(grads[1], grads[0]):  # (naive A: large gradients, rounding to scale)
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6 * max(1.0, float(b.abs().max())))


def test_the_stacked_models_on_the_field_equal_the_whole_graph(csbm):
    prep = _prepared(csbm)
    models = [GCN(prep.num_features, 8, out_channels=prep.num_classes, conv=c) for c in ("kipf", "kipf")]
    for conv in ("kipf", "cheb2"):
        models = [GCN(prep.num_features, 8, out_channels=prep.num_classes, conv=conv) for _ in range(3)]
        stacked = StackedGCN(models).train()
        graph = prep.graph_for(stacked.template)
        field = receptive_field(graph, prep.x, prep.val_idx[:20], stacked.template.hops)
        whole = stacked(prep.x, graph, generators=[torch.Generator().manual_seed(s) for s in range(3)])
        part = stacked(field.x, field.graph, generators=[torch.Generator().manual_seed(s) for s in range(3)],
                       field=field)
        torch.testing.assert_close(part[:, field.targets], whole[:, prep.val_idx[:20]], rtol=1e-5, atol=1e-6)


def test_a_field_too_small_for_the_model_or_other_inputs_are_refused(csbm):
    prep = _prepared(csbm)
    model = GCN(prep.num_features, 8, out_channels=prep.num_classes)
    graph = prep.graph_for(model)
    field = receptive_field(graph, prep.x, prep.train_idx[:5], 1)
    with pytest.raises(ValueError, match="covers 1 hops but the model propagates 2 times"):
        model(field.x, field.graph, field=field)
    field = receptive_field(graph, prep.x, prep.train_idx[:5], 2)
    with pytest.raises(ValueError, match="x has .* nodes but the receptive field has"):
        model(prep.x, graph, field=field)
    with pytest.raises(ValueError, match="targets hold node ids outside"):
        receptive_field(graph, prep.x, torch.tensor([prep.num_nodes]), 2)
    with pytest.raises(ValueError, match="1-D tensor of node ids or a boolean mask over the 2000 nodes"):
        receptive_field(graph, prep.x, torch.tensor([0.0]), 2)
    with pytest.raises(ValueError, match="1-D tensor of node ids or a boolean mask"):
        receptive_field(graph, prep.x, torch.ones(5, dtype=torch.bool), 2)  # a mask of another length
    with pytest.raises(TypeError, match="taken in a NormalizedGraph"):
        receptive_field(prep.edge_index, prep.x, prep.train_idx, 2)
    with pytest.raises(ValueError, match="uint8 are ambiguous"):
        receptive_field(graph, prep.x, csbm.train_mask.to(torch.uint8), 2)
    with pytest.raises(ValueError, match=r"one graph's node features \[N, F\]"):
        receptive_field(graph, torch.rand(3, prep.num_nodes, prep.num_features), prep.train_idx, 2)
    with pytest.raises(ValueError, match="graph is already restricted"):  # masks and "whole" would be its own
        receptive_field(field.graph, field.x, field.targets, 2)
    with pytest.raises(ValueError, match="graph is already restricted"):
        whole_graph(field.graph, field.x, field.targets)
    by_mask = receptive_field(graph, prep.x, csbm.train_mask, 2)  # PyG's masks work as node sets
    assert torch.equal(by_mask.nodes, receptive_field(graph, prep.x, prep.train_idx, 2).nodes)
    with pytest.raises(ValueError, match="x has 3 nodes but the graph has"):
        receptive_field(graph, torch.rand(3, prep.num_features), prep.train_idx, 2)


def test_a_field_that_covers_every_node_is_the_whole_graph(csbm):
    prep = _prepared(csbm)
    graph = prep.graph_for(GCN(prep.num_features, 8, out_channels=prep.num_classes))
    every = torch.arange(prep.num_nodes)
    field = receptive_field(graph, prep.x, every, 2)
    assert field.whole and field.x is prep.x and field.graph is graph
    assert torch.equal(field.targets, every)
    empty = receptive_field(graph, prep.x, prep.train_idx[:0], 2)
    assert empty.whole and empty.targets.numel() == 0
    assert whole_graph(graph, prep.x, prep.val_idx).whole


def test_lambda_max_of_a_restricted_graph_is_the_whole_graphs():
    """A Chebyshev layer with lambda_max='eig' on a field scales by the whole graph's value (the
    field's own Laplacian has another)."""
    ei, w, n = _directed_graph(60, 200, seed=2)
    ei = torch.cat([ei, ei.flip(0)], 1)
    w = torch.cat([w, w])
    graph = normalize_adjacency(ei, w, n, self_loop_weight=0.0)
    nodes = torch.arange(0, n, 3)
    sub = restrict_graph(graph, nodes)
    alone = normalize_adjacency(*_relabelled(sub), nodes.numel(), norm="none", self_loop_weight=0.0)
    alone.norm = "sym"  # the same values, without the parent
    assert laplacian_lambda_max(sub) == laplacian_lambda_max(graph)
    assert not np.isclose(laplacian_lambda_max(alone), laplacian_lambda_max(graph))
    with pytest.raises(ValueError, match="not defined on a restricted graph"):
        lambda_max_per_node(sub, torch.zeros(nodes.numel(), dtype=torch.long), "eig")


def _relabelled(graph):
    return torch.stack([graph.adj.col, graph.adj.row]), graph.adj.value


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_a_field_of_torch_sparse_features_trains_as_the_whole_graph(layout):
    # a torch.sparse CSR x met torch's "index_select ... SparseCsrCPU" error; a COO x was restricted as
    # a tensor that lost where its values sit in the whole x, so training dropout drew other masks
    from gcnkit.functional import resolve_graph

    torch.manual_seed(0)
    n, f = 30, 6
    ei = torch.randint(0, n, (2, 40))
    dense = torch.randn(n, f) * (torch.rand(n, f) < 0.5)
    x = dense.to_sparse() if layout == "coo" else dense.to_sparse_csr()
    mask = torch.arange(n) < 3
    g = resolve_graph(ei, num_nodes=n)
    model = GCN(f, 3, out_channels=2).train()
    field = receptive_field(g, x, mask, model.hops)
    assert field.x.shape[0] < n  # restricted
    torch.manual_seed(0)
    out = model(field.x, field.graph, field=field)[field.targets]
    torch.manual_seed(0)
    torch.testing.assert_close(out, model(x, g)[mask])
    stacked = StackedGCN([model]).train()
    a = stacked(field.x, field.graph, generators=[torch.Generator().manual_seed(1)], field=field)[:, field.targets]
    b = stacked(x, g, generators=[torch.Generator().manual_seed(1)])[:, mask]
    torch.testing.assert_close(a, b)
