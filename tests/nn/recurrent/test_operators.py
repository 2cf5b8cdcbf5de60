"""The recurrent cells' operators: ``apply_operator`` gives ``add + op(x)`` for every kind of
operator (the sum accumulated by the GEMM for gcnkit's), values and gradients."""
import pytest
import torch

from gcnkit.nn.recurrent.operators import GraphSet, apply_operator, make_operator


class _UserOperator(torch.nn.Module):  # a custom operator: forward(x, graphs) only
    graph_options = None

    def __init__(self, i, o):
        super().__init__()
        self.lin = torch.nn.Linear(i, o)

    def forward(self, x, graphs=None):
        return torch.tanh(self.lin(x))

    def reset_parameters(self):
        self.lin.reset_parameters()


@pytest.mark.parametrize("spec, kwargs", [("linear", {}), ("gcn", {}), ("cheb", {"K": 2}),
                                          ("single_parameter", {}), ("mlp", {}), (_UserOperator, {})])
@pytest.mark.parametrize("hidden", [3, 16])  # narrow (at most NARROW features) and wide
def test_apply_operator_equals_add_plus_operator(small_graph, spec, kwargs, hidden):
    ei, ew, n = small_graph
    torch.manual_seed(0)
    op = make_operator(spec, hidden, 2 * hidden, **kwargs).double()
    graphs = GraphSet(ei, ew, n, torch.device("cpu"), torch.float64)
    h = torch.randn(2, n, hidden, dtype=torch.float64, requires_grad=True)
    add = torch.randn(2, n, 3 * hidden, dtype=torch.float64, requires_grad=True)[..., :2 * hidden]
    ours, ref = apply_operator(op, h, graphs, add), add + op(h, graphs)
    torch.testing.assert_close(ours, ref)
    leaves = [h, add] + list(op.parameters())
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad(ours, leaves, g), torch.autograd.grad(ref, leaves, g)):
        torch.testing.assert_close(a, b)


def test_user_subclasses_are_called_as_written(small_graph):
    """A conv subclass with the older ``transform(z, split)`` signature, or one overriding
    ``forward``, and a DenseOperator subclass overriding ``forward(x, graphs)``: the cells call
    them as they are and add the input side to their output."""
    from gcnkit.nn.conv import KipfGCNConv
    from gcnkit.nn.recurrent import ElmanCell, GRUCell
    from gcnkit.nn.recurrent.operators import DenseOperator

    class OldTransform(KipfGCNConv):
        def transform(self, z, split=None):
            return super().transform(z, split)

    class HalfForward(KipfGCNConv):
        def forward(self, x, edge_index, edge_weight=None):
            return 0.5 * super().forward(x, edge_index, edge_weight)

    class ScaledDense(DenseOperator):
        def forward(self, x, graphs=None):
            return 2.0 * super().forward(x, graphs)

    ei, ew, n = small_graph
    torch.manual_seed(0)
    x, h = torch.randn(2, n, 3), torch.randn(2, n, 12)
    for conv in (OldTransform, HalfForward):
        cell = GRUCell(3, 12, reset="before", input_operator=conv, hidden_operator=conv)
        graphs = cell.graphs(ei, ew, x)
        ux_g, ux_c = cell.project_input(x, graphs)
        z_g = ux_g + cell.hidden_map.conv(h, graphs.get(cell.hidden_map.graph_options))
        r, u = torch.sigmoid(z_g).chunk(2, -1)
        z_c = ux_c + cell.candidate_map.conv(r * h, graphs.get(cell.candidate_map.graph_options))
        torch.testing.assert_close(cell(x, ei, ew, h), u * h + (1 - u) * torch.tanh(z_c))
    cell = ElmanCell(3, 12, hidden_operator=lambda i, o: ScaledDense(i, o))
    hm, im = cell.hidden_map, cell.input_map
    torch.testing.assert_close(cell(x, state=h), torch.tanh(im(x) + 2.0 * hm.lin(h)))


def test_hooks_on_a_graph_operators_conv_still_fire(small_graph):
    """The fused path calls the conv's methods directly; a forward hook on the conv sends the
    call through the module instead, so the hook runs at every step."""
    from gcnkit.nn.models import GConvGRU

    ei, ew, n = small_graph
    model = GConvGRU(2, 12, 1, K=1)
    seen = []
    model.cell.hidden_map.conv.register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    model(torch.randn(3, 4, n, 2), ei, ew)
    assert len(seen) == 4
