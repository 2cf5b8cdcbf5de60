"""ChebyshevConv on PyG mini-batches: per-graph lambda_max (``batch=``, forward ``lambda_max=``),
and its edge-weight gradient against PyG's ChebConv."""
import numpy as np
import pytest
import torch
from torch_geometric.nn import ChebConv

from gcnkit.nn.conv import ChebyshevConv


def pyg_batch(graphs):
    """The graphs as float64 ``Data`` with ``LaplacianLambdaMax``'s ``lambda_max``, their ``Batch``
    and the per-graph values as a float64 tensor (``Batch`` collates them to float32)."""
    from torch_geometric.data import Batch, Data
    from torch_geometric.transforms import LaplacianLambdaMax

    data = [LaplacianLambdaMax("sym", is_undirected=True)(Data(x=torch.randn(n, 4, dtype=torch.float64),
                                                               edge_index=ei, edge_attr=ew, num_nodes=n))
            for ei, ew, n in graphs]
    return data, Batch.from_data_list(data), torch.tensor([d.lambda_max for d in data], dtype=torch.float64)


@pytest.mark.parametrize("name", ["cheb2", "cheb3"])
def test_eig_with_batch_gives_each_graph_its_own_lambda_max(undirected_graphs, layers, name):
    from gcnkit.nn.conv import make_conv

    data, b, lam = pyg_batch(undirected_graphs)
    assert len(set(lam.tolist())) == len(data)
    ours = make_conv(name, 4, 3).double()  # Kipf's Table-3 preset: lambda_max="eig"
    torch.nn.init.normal_(ours.bias)
    pyg = ChebConv(4, 3, ours.K + 1, normalization="sym").double()
    pyg.load_state_dict(ours.state_dict())
    out = ours(b.x, b.edge_index, b.edge_attr, batch=b.batch)
    for g, d in enumerate(data):
        part = out[b.ptr[g]:b.ptr[g + 1]]
        torch.testing.assert_close(part, ours(d.x, d.edge_index, d.edge_attr))  # the graph alone
        expected = layers.expected(("cheb", ours.K, "eig", False), ours, d.x, d.edge_index, d.edge_attr, d.num_nodes)
        np.testing.assert_allclose(part.detach().numpy(), expected, atol=1e-10)
    torch.testing.assert_close(out, pyg(b.x, b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam))
    torch.testing.assert_close(out, ours(b.x, b.edge_index, b.edge_attr, b.batch, lam))  # forward's lambda_max
    assert not torch.allclose(ours(b.x, b.edge_index, b.edge_attr), out)  # without batch: the batch's lambda_max


@pytest.mark.parametrize("lam", [2.0, 1.3])
def test_a_number_lambda_max_ignores_batch(undirected_graphs, lam):
    _, b, _ = pyg_batch(undirected_graphs)
    conv, eig = ChebyshevConv(4, 3, 2, lambda_max=lam).double(), ChebyshevConv(4, 3, 2, lambda_max="eig").double()
    eig.load_state_dict(conv.state_dict())
    out = conv(b.x, b.edge_index, b.edge_attr)
    torch.testing.assert_close(conv(b.x, b.edge_index, b.edge_attr, batch=b.batch), out, rtol=0, atol=0)
    for override in (lam, *(torch.tensor(v, dtype=torch.float64) for v in (lam, [lam]))):  # overrides "eig"
        torch.testing.assert_close(eig(b.x, b.edge_index, b.edge_attr, b.batch, override), out, rtol=0, atol=0)


def test_forward_lambda_max_errors(undirected_graphs):
    # (every case is tested on gcnkit.functional.chebyshev.lambda_max_per_node, which forward calls)
    _, b, lam = pyg_batch(undirected_graphs)
    conv = ChebyshevConv(4, 3, 2, lambda_max="eig").double()
    for kwargs, match in [(dict(lambda_max=lam), "per-graph lambda_max .* needs batch="),
                          (dict(lambda_max="eig"), "to the constructor"), (dict(lambda_max=0), "positive"),
                          (dict(batch=b.batch[1:]), "batch has"), (dict(batch=b.batch, lambda_max=lam[:2]), "has 2")]:
        with pytest.raises(ValueError, match=match):
            conv(b.x, b.edge_index, b.edge_attr, **kwargs)


def test_gradcheck_per_graph_lambda_max(undirected_graphs, gradcheck):
    _, b, lam = pyg_batch(undirected_graphs[:2])
    layer = ChebyshevConv(4, 2, 2, lambda_max="eig")
    assert gradcheck(layer, b.x, b.edge_index, b.edge_attr, b.batch)
    assert gradcheck(layer, b.x, b.edge_index, b.edge_attr, b.batch, lam)


def test_edge_weight_gradient_equals_pyg_summed_over_both_directions(undirected_graphs, pyg_cheb_pair):
    # the forward passes agree on an undirected graph, but D holds in-degrees here and out-degrees
    # in PyG: the gradient per directed edge differs, its sum over both directions agrees
    ours, pyg = (conv.double() for conv in pyg_cheb_pair(4, 3, 2))
    ei, ew, n = undirected_graphs[1]
    x, proj = torch.randn(n, 4, dtype=torch.float64), torch.randn(n, 3, dtype=torch.float64)
    grads = []
    for conv, kw in ((ours, {}), (pyg, {"lambda_max": torch.tensor(2.0, dtype=torch.float64)})):
        w = ew.clone().requires_grad_()
        (conv(x, ei, w, **kw) * proj).sum().backward()
        grads.append(w.grad)
    reverse = torch.arange(ei.size(1)).roll(ei.size(1) // 2)  # undirected_graph: edges, then reversed
    assert torch.equal(ei[:, reverse], ei.flip(0))
    torch.testing.assert_close(grads[0] + grads[0][reverse], grads[1] + grads[1][reverse])
    assert not torch.allclose(grads[0], grads[1], atol=1e-3)


def test_a_per_graph_lambda_tensor_builds_the_scaled_laplacian_once(undirected_graphs, monkeypatch):
    # the layers of a model on one mini-batch share L~: built once per (graph, lambda, batch),
    # rebuilt when lambda_max is changed in place or is another tensor
    import gcnkit.functional.chebyshev as cheb

    builds = []
    real = cheb._assemble_scaled_laplacian
    monkeypatch.setattr(cheb, "_assemble_scaled_laplacian", lambda *a: builds.append(1) or real(*a))
    _, b, lam = pyg_batch(undirected_graphs)
    conv1, conv2 = ChebyshevConv(4, 3, 2).double(), ChebyshevConv(3, 3, 2).double()
    h = conv1(b.x, b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam)
    out = conv2(h, b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam)
    assert len(builds) == 1
    lam.mul_(1.5)  # in place: the kept matrix must not be reused
    changed = conv2(h, b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam)
    assert len(builds) == 2 and not torch.allclose(changed, out)
    fresh = conv2(h, b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam.clone())
    assert len(builds) == 3
    torch.testing.assert_close(fresh, changed)
    with torch.inference_mode():  # inference tensors have no version counter: nothing kept
        lam_i = lam.clone()
        conv2(h, b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam_i)
        conv2(h, b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam_i)
    assert len(builds) == 5
    with torch.inference_mode():  # normal tensors in inference mode: kept, both layers share L~
        conv2(conv1(b.x, b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam),
              b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam)
    assert len(builds) == 6
    conv2(h, b.edge_index, b.edge_attr, batch=b.batch, lambda_max=lam)
    assert len(builds) == 6  # and kept after it


def test_the_kept_per_node_lambda_follows_the_batch_vector(undirected_graphs):
    # the same lambda_max tensor with another assignment of nodes to graphs must not reuse the
    # per-node values of the last call (in place: the version moves; a new tensor: its identity)
    data, b, lam = pyg_batch(undirected_graphs[:2])
    assert b.num_graphs == 2 and lam[0] != lam[1]
    ei, ew = data[0].edge_index, data[0].edge_attr
    n = data[0].num_nodes
    x = torch.randn(2 * n, 4, dtype=torch.float64)
    two = torch.cat([ei, ei + n], 1), torch.cat([ew, ew])  # graph 0 twice: a relabelling is valid
    conv = ChebyshevConv(4, 3, 2).double()
    batch = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    first = conv(x, *two, batch=batch, lambda_max=lam)
    batch.mul_(-1).add_(1)  # swap the ids in place: each half now gets the other lambda
    swapped = conv(x, *two, batch=batch, lambda_max=lam)
    expected = conv(x, *two, batch=batch.clone(), lambda_max=lam.clone())
    torch.testing.assert_close(swapped, expected)
    assert not torch.allclose(swapped, first)
    torch.testing.assert_close(conv(x, *two, batch=1 - batch, lambda_max=lam), first)  # a new tensor
