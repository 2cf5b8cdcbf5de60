"""A NaN or infinity in one node's features reaches only that node's neighbours, as in PyG's
layers: small graphs on the CPU take a dense product (``spmm._DENSE_MAX_MACS``), where 0 · NaN
would otherwise poison every node."""
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import ChebConv, GCNConv

from gcnkit.nn.conv import ChebyshevConv, KipfGCNConv


def _path_with_isolated_node(n=10):
    """A path 0 - 1 - ... - (n-2), and node n-1 without edges."""
    a = torch.arange(n - 2)
    return torch.cat([torch.stack([a, a + 1]), torch.stack([a + 1, a])], 1)


def _nan_rows(out):
    return (~torch.isfinite(out)).any(-1).nonzero().flatten().tolist()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("node,expected", [(9, [9]), (4, [3, 4, 5])])
def test_kipf_layer_keeps_a_non_finite_feature_local_as_pyg(value, node, expected):
    torch.manual_seed(0)
    ei = _path_with_isolated_node()
    x = torch.randn(10, 4)
    x[node, 1] = value
    ours, ref = KipfGCNConv(4, 3), GCNConv(4, 3)
    with torch.no_grad():
        ref.lin.weight.copy_(ours.lin.weight)
        ref.bias.copy_(ours.bias)
    out = ours(x, ei)
    assert _nan_rows(out) == _nan_rows(ref(x, ei)) == expected
    finite = [i for i in range(10) if i not in expected]
    torch.testing.assert_close(out[finite], ref(x, ei)[finite])


def test_chebyshev_layer_keeps_a_nan_within_K_hops_as_pyg():
    torch.manual_seed(0)
    ei = _path_with_isolated_node()
    x = torch.randn(10, 4)
    x[4, 0] = float("nan")
    ours, ref = ChebyshevConv(4, 3, 2), ChebConv(4, 3, 3)  # degree 2 (PyG counts terms)
    assert _nan_rows(ours(x, ei)) == _nan_rows(ref(x, ei)) == [2, 3, 4, 5, 6]


def test_one_bad_graph_of_a_batch_leaves_the_others_finite():
    torch.manual_seed(0)
    graphs = [Data(x=torch.randn(6, 4), edge_index=_path_with_isolated_node(6)) for _ in range(3)]
    graphs[1].x[2, 0] = float("inf")
    batch = Batch.from_data_list(graphs)
    conv = KipfGCNConv(4, 3)
    out = conv(batch.x, batch.edge_index)
    assert _nan_rows(out) == [6 + 1, 6 + 2, 6 + 3]
    torch.testing.assert_close(out[:6], conv(graphs[0].x, graphs[0].edge_index))
    torch.testing.assert_close(out[12:], conv(graphs[2].x, graphs[2].edge_index))


def test_gradients_of_the_other_nodes_features_stay_finite():
    # the NaN node outside the loss: the other nodes' feature gradients are those of PyG's layer
    torch.manual_seed(0)
    ei = _path_with_isolated_node()
    x = torch.randn(10, 4)
    x[4, 0] = float("nan")
    ours, ref = KipfGCNConv(4, 3), GCNConv(4, 3)
    with torch.no_grad():
        ref.lin.weight.copy_(ours.lin.weight)
    grads = []
    for conv in (ours, ref):
        xg = x.clone().requires_grad_(True)
        conv(xg, ei)[[0, 1, 7, 8, 9]].square().sum().backward()
        grads.append(xg.grad)
    assert _nan_rows(grads[0]) == _nan_rows(grads[1]) == []
    torch.testing.assert_close(grads[0], grads[1])
