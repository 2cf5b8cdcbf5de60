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
