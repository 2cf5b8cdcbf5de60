"""PyG's ``node_dim``: the axis of ``x`` that holds the nodes. The layers compute on axis -2 and
move another node axis there and back; PyG's ``GCNConv``/``ChebConv`` are the reference where
they support it (2-D ``x``)."""
import pytest
import torch
from torch_geometric.nn import ChebConv, GCNConv

from gcnkit.nn.conv import ChebyshevConv, KipfGCNConv
from gcnkit.nn.recurrent import GRUCell

N, F_IN, F_OUT = 6, 3, 4


def _graph():
    g = torch.Generator().manual_seed(0)
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 0, 3]])
    w = torch.rand(ei.size(1), generator=g) + 0.1
    return torch.cat([ei, ei.flip(0)], 1), torch.cat([w, w])  # undirected, weighted


def _pair(make, **kw):
    torch.manual_seed(0)
    a = make(node_dim=0, **kw)
    b = make(**kw)
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("make", [lambda **kw: KipfGCNConv(F_IN, F_OUT, **kw),
                                  lambda **kw: ChebyshevConv(F_IN, F_OUT, 2, **kw)])
def test_nodes_first_batched_input_equals_nodes_on_axis_minus_two(make):
    ei, ew = _graph()
    a, b = _pair(make)
    x = torch.randn(N, 5, F_IN, requires_grad=True)  # [N, B, F]
    out = a(x, ei, ew)
    assert out.shape == (N, 5, F_OUT)
    ref = b(x.detach().movedim(0, 1), ei, ew).movedim(1, 0)
    torch.testing.assert_close(out, ref)
    out.square().sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    torch.testing.assert_close(a(torch.randn(2, N, 5, F_IN).movedim(1, 0), ei, ew).shape, (N, 2, 5, F_OUT))


def test_node_dim_zero_on_2d_input_equals_pyg():
    ei, ew = _graph()
    x = torch.randn(N, F_IN)
    ours, _ = _pair(lambda **kw: KipfGCNConv(F_IN, F_OUT, **kw))
    pyg = GCNConv(F_IN, F_OUT, node_dim=0)
    pyg.lin.weight.data.copy_(ours.lin.weight)
    pyg.bias.data.normal_()
    ours.bias.data.copy_(pyg.bias)
    torch.testing.assert_close(ours(x, ei, ew), pyg(x, ei, ew), atol=1e-6, rtol=1e-5)
    cheb, _ = _pair(lambda **kw: ChebyshevConv(F_IN, F_OUT, 2, **kw))
    torch.nn.init.normal_(cheb.bias)
    pyg_cheb = ChebConv(F_IN, F_OUT, K=3, node_dim=0)
    pyg_cheb.load_state_dict(cheb.state_dict())
    torch.testing.assert_close(cheb(x, ei, ew), pyg_cheb(x, ei, ew, lambda_max=2.0), atol=1e-6, rtol=1e-5)


def test_bad_node_axes_are_clear_errors():
    ei, ew = _graph()
    conv = KipfGCNConv(F_IN, F_OUT, node_dim=2)
    with pytest.raises(ValueError, match=r"node_dim=2 is the feature axis"):
        conv(torch.randn(4, N, F_IN), ei)
    with pytest.raises(ValueError, match=r"node_dim=2 but x has 2 axes"):
        conv(torch.randn(N, F_IN), ei)
    with pytest.raises(ValueError, match=r"sparse x.*node_dim=0 is only for dense x"):
        KipfGCNConv(F_IN, F_OUT, node_dim=0)(torch.randn(N, 2, F_IN).to_sparse(), ei)
    with pytest.raises(ValueError, match=r"propagate_only/propagate_transform take nodes on axis -2"):
        KipfGCNConv(F_IN, F_OUT, node_dim=0).propagate_only(torch.randn(5, N, F_IN), ei)
    with pytest.raises(ValueError, match=r"propagate_only/propagate_transform take nodes on axis -2"):
        ChebyshevConv(F_IN, F_OUT, 2, node_dim=0).propagate_transform(torch.randn(5, N, F_IN), ei)
    from gcnkit.functional import CSRMatrix

    with pytest.raises(ValueError, match=r"node_dim=1 is the feature axis"):  # a CSRMatrix is [N, F]
        KipfGCNConv(N, F_OUT, node_dim=1)(CSRMatrix.from_torch(torch.eye(N).to_sparse_csr()), ei)
    with pytest.raises(ValueError, match=r"recurrent cell.*node_dim=0; build it with the default"):
        GRUCell(F_IN, 8, hidden_operator=lambda i, o: KipfGCNConv(i, o, node_dim=0))
