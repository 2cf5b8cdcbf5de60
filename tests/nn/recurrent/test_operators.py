"""The recurrent cells' operators: ``apply_operator`` gives ``add + op(x)`` for every kind of
operator (the sum accumulated by the GEMM for gcnkit's), values and gradients."""
import pytest
import torch

from gcnkit.nn.recurrent import GRUCell
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


@pytest.mark.parametrize("static", [True, False], ids=["static graph", "per-step graphs"])
def test_run_sequence_calls_user_subclasses_on_the_input_side_as_a_step_does(small_graph, static):
    """The runner's input side of all steps at once (prepare, then transform) skipped a subclass's
    forward on a static graph: run_sequence and a loop of cell steps differed (by 1.6 here)."""
    from gcnkit.nn.conv import KipfGCNConv
    from gcnkit.nn.recurrent import ElmanCell, run_sequence
    from gcnkit.nn.recurrent.operators import DenseOperator

    class ScaledGCN(KipfGCNConv):
        def forward(self, x, edge_index, edge_weight=None):
            return 10 * super().forward(x, edge_index, edge_weight)

    class ScaledDense(DenseOperator):
        def forward(self, x, graphs=None, add=None):
            out = 10 * self.transform(x)
            return out if add is None else out + add

    ei, ew, n = small_graph
    torch.manual_seed(0)
    x = torch.randn(2, 3, n, 3)
    for input_operator, hidden in ((ScaledGCN, "gcn"), (ScaledDense, "linear")):
        cell = ElmanCell(3, 5, input_operator=input_operator, hidden_operator=hidden)
        state, outs = None, []
        for t in range(3):
            state = cell(x[:, t], ei, ew, state)
            outs.append(state)
        graphs = (ei, ew) if static else ([ei] * 3, [ew] * 3)
        torch.testing.assert_close(run_sequence(cell, x, *graphs)[0], torch.stack(outs, 1))


def test_transform_refuses_split_with_add_for_every_operator():
    """``split`` and ``add`` together are refused by name for gcnkit's operators and for a user's
    conv with its own ``transform`` alike (that one met ``add + tuple``: an opaque TypeError)."""
    from gcnkit.nn.conv import KipfGCNConv
    from gcnkit.nn.recurrent.operators import DenseOperator, GraphOperator

    class OldTransform(KipfGCNConv):
        def transform(self, z, split=None):
            return super().transform(z, split)

    z, add = torch.randn(5, 4), torch.randn(5, 6)
    for op in (DenseOperator(4, 6), GraphOperator(KipfGCNConv(4, 6)), GraphOperator(OldTransform(4, 6))):
        with pytest.raises(ValueError, match="split or add, not both"):
            op.transform(z, (3, 3), add=add)
        torch.testing.assert_close(op.transform(z, add=add), add + op.transform(z))
        assert [t.shape for t in op.transform(z, (2, 4))] == [(5, 2), (5, 4)]


def test_hooks_on_a_graph_operators_conv_still_fire(small_graph):
    """The fused path calls the conv's methods directly; a forward hook on the conv sends the
    call through the module instead, so the hook runs at every step."""
    from gcnkit.nn.models import GConvGRU

    ei, ew, n = small_graph
    model = GConvGRU(2, 12, out_channels=1, K=1)
    seen = []
    model.cell.hidden_map.conv.register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    model(torch.randn(3, 4, n, 2), ei, ew)
    assert len(seen) == 4


# ------------------------------------------------------------------ a sequence's zero first state
@pytest.mark.parametrize("spec, kwargs", [("linear", {}), ("gcn", {}), ("cheb", {"K": 2}), ("mlp", {}),
                                          (_UserOperator, {})])
@pytest.mark.parametrize("bias", [True, False])
def test_zero_input_is_add_plus_bias(small_graph, spec, kwargs, bias):
    ei, ew, n = small_graph
    torch.manual_seed(0)
    if callable(spec) and not bias:  # a callable builds its module itself
        with pytest.raises(TypeError, match="set them inside the callable"):
            make_operator(spec, 4, 6, bias=bias, **kwargs)
        return
    op = make_operator(spec, 4, 6, bias=bias, **kwargs).double()
    graphs = GraphSet(ei, ew, n, torch.device("cpu"), torch.float64)
    add = torch.randn(2, n, 6, dtype=torch.float64)
    zeros = torch.zeros(2, n, 4, dtype=torch.float64)
    skipped = apply_operator(op, zeros, graphs, add, zero_input=True)
    torch.testing.assert_close(skipped, add + op(zeros, graphs), rtol=1e-12, atol=1e-12)


def _count_products(monkeypatch, cls, method):
    calls = []
    real = getattr(cls, method)

    def counting(self, *args, **kwargs):
        calls.append(self)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(cls, method, counting)
    return calls


def _cells(hidden_operator):
    from gcnkit.nn.recurrent import ElmanCell, GRUCell, LSTMCell

    kw = dict(input_operator="gcn", hidden_operator=hidden_operator)
    return [ElmanCell(3, 4, **kw), LSTMCell(3, 4, **kw), GRUCell(3, 4, reset="before", **kw),
            GRUCell(3, 4, reset="before", recurrent_bias=False, **kw), GRUCell(3, 4, reset="after", **kw)]


@pytest.mark.parametrize("hidden_operator", ["linear", "gcn"])
@pytest.mark.parametrize("batch", [(), (2,)])
def test_fresh_sequence_equals_explicit_zero_state(small_graph, hidden_operator, batch, gate_path):
    """Starting without a state skips the first step's recurrent products: same outputs, same
    gradients as passing the zero state."""
    from gcnkit.nn.recurrent import LSTMCell, run_sequence

    ei, ew, n = small_graph
    for cell in _cells(hidden_operator):
        cell = cell.double()
        x = torch.randn(*batch, 5, n, 3, dtype=torch.float64)
        zero = torch.zeros(*batch, n, 4, dtype=torch.float64)
        zero = (zero, zero.clone()) if isinstance(cell, LSTMCell) else zero
        results = []
        for state in (None, zero):
            cell.zero_grad()
            out, last = run_sequence(cell, x, ei, ew, state)
            (out.square().sum() + cell.output(last).sum()).backward()
            results.append((out.detach(), [p.grad.clone() for p in cell.parameters()]))
        torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-12)
        for g0, g1 in zip(results[0][1], results[1][1]):
            torch.testing.assert_close(g0, g1, rtol=1e-10, atol=1e-12)


def test_first_step_skips_the_recurrent_products(small_graph, monkeypatch):
    from gcnkit.nn.conv import GraphConvBase
    from gcnkit.nn.recurrent import GRUCell, run_sequence

    ei, ew, n = small_graph
    cell = GRUCell(3, 4, reset="before", input_operator="gcn", hidden_operator="gcn")
    calls = _count_products(monkeypatch, GraphConvBase, "propagate_transform")
    run_sequence(cell, torch.randn(3, n, 3), ei, ew)
    assert len(calls) == 2 * 2  # steps 1 and 2, gates and candidate
    calls.clear()
    run_sequence(cell, torch.randn(3, n, 3), ei, ew, torch.zeros(n, 4))  # a state passed: no skip
    assert len(calls) == 2 * 3
    calls.clear()
    cell(torch.randn(n, 3), ei, ew)  # one step from no state: nothing to multiply
    assert calls == []


def test_hooks_see_every_step(small_graph):
    from gcnkit.nn.recurrent import GRUCell, run_sequence

    ei, ew, n = small_graph
    cell = GRUCell(3, 4, reset="before", input_operator="gcn", hidden_operator="gcn")
    seen = []
    cell.hidden_map.register_forward_hook(lambda m, inp, out: seen.append(out.shape))
    run_sequence(cell, torch.randn(3, n, 3), ei, ew)
    assert len(seen) == 3


def test_wrong_graph_refused_on_a_one_step_sequence():
    from gcnkit.nn.recurrent import GRUCell, run_sequence

    cell = GRUCell(3, 4, reset="before", input_operator="linear", hidden_operator="gcn")
    with pytest.raises(ValueError, match="nodes|index|out of range"):
        run_sequence(cell, torch.randn(1, 4, 3), torch.tensor([[0, 7], [7, 0]]))


def test_cell_subclass_whose_step_has_no_zero_state(small_graph):
    from gcnkit.nn.recurrent import ElmanCell, run_sequence

    class OldStyle(ElmanCell):
        def step(self, ux, state, graphs):  # written before zero_state existed
            return super().step(ux, state, graphs)

    ei, ew, n = small_graph
    torch.manual_seed(0)
    cell = OldStyle(3, 4, input_operator="gcn", hidden_operator="gcn")
    x = torch.randn(4, n, 3)
    out, _ = run_sequence(cell, x, ei, ew)
    ref, _ = run_sequence(cell, x, ei, ew, torch.zeros(n, 4))
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("input_operator", ["linear", "gcn"])
def test_input_map_hooks_run_in_a_sequence(small_graph, input_operator):
    """The input side of all steps is split into prepare/transform for speed; a hooked input map
    is called as a module instead, so its hooks run (and can change the result)."""
    from gcnkit.nn.recurrent import GRUCell, run_sequence

    ei, ew, n = small_graph
    torch.manual_seed(0)
    cell = GRUCell(3, 4, reset="before", input_operator=input_operator, hidden_operator="gcn")
    x = torch.randn(2, 5, n, 3)
    plain, _ = run_sequence(cell, x, ei, ew)
    seen = []
    handle = cell.input_map.register_forward_pre_hook(lambda m, args: (seen.append(1), (args[0] * 0,) + args[1:])[1])
    zeroed, _ = run_sequence(cell, x, ei, ew)
    handle.remove()
    assert seen and not torch.allclose(plain, zeroed)
    torch.testing.assert_close(zeroed, run_sequence(cell, x * 0, ei, ew)[0])


def test_pruned_dense_recurrent_map_trains(small_graph):
    from torch.nn.utils import prune

    from gcnkit.nn.recurrent import GRUCell, run_sequence

    ei, ew, n = small_graph
    torch.manual_seed(0)
    cell = GRUCell(3, 4, reset="before", input_operator="gcn", hidden_operator="linear")
    prune.l1_unstructured(cell.hidden_map.lin, "weight", amount=0.5)
    opt = torch.optim.SGD(cell.parameters(), lr=0.1)
    before = cell.hidden_map.lin.weight_orig.detach().clone()
    for _ in range(2):
        opt.zero_grad()
        run_sequence(cell, torch.randn(4, n, 3), ei, ew)[0].square().sum().backward()
        opt.step()
    assert not torch.equal(cell.hidden_map.lin.weight_orig, before)
    lin = cell.hidden_map.lin
    run_sequence(cell, torch.randn(2, n, 3), ei, ew)
    torch.testing.assert_close(lin.weight, lin.weight_orig * lin.weight_mask)


def test_no_skip_for_a_subclass_with_its_own_initial_state(small_graph):
    """The skip assumes gcnkit's zero initial state: a learned h0 must reach the recurrent map."""
    from gcnkit.nn.recurrent import GRUCell, run_sequence

    class LearnedStart(GRUCell):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.h0 = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))

        def init_state(self, x):
            return self.h0.expand(x.shape[:-1] + (4,))

    ei, ew, n = small_graph
    torch.manual_seed(0)
    cell = LearnedStart(3, 4, reset="before", input_operator="gcn", hidden_operator="gcn").double()
    x = torch.randn(3, n, 3, dtype=torch.float64)
    out, _ = run_sequence(cell, x, ei, ew)
    ref, _ = run_sequence(cell, x, ei, ew, cell.init_state(x[0]))
    torch.testing.assert_close(out, ref)
    (g,) = torch.autograd.grad(out.sum(), cell.h0)
    assert g.abs().sum() > 0


@pytest.mark.parametrize("hidden_operator", ["linear", "gcn", "cheb"])
def test_one_step_from_no_state_still_gives_the_recurrent_weights_a_gradient(small_graph, hidden_operator):
    """Through the product they got a zero gradient; None instead would stall
    DistributedDataParallel's reduction and skip weight decay."""
    from gcnkit.nn.recurrent import GRUCell, LSTMCell, run_sequence

    ei, ew, n = small_graph
    for cell in (GRUCell(3, 4, reset="before", input_operator="gcn", hidden_operator=hidden_operator),
                 LSTMCell(3, 4, input_operator="gcn", hidden_operator=hidden_operator)):
        run_sequence(cell, torch.randn(1, n, 3), ei, ew)[0].sum().backward()
        for name, p in cell.named_parameters():
            assert p.grad is not None, name
        hidden = [p for name, p in cell.named_parameters() if "hidden_map" in name or "candidate_map" in name]
        assert hidden and all(p.grad.abs().sum() == 0 for p in hidden if p.dim() == 2)


@pytest.mark.parametrize("operator", ["linear", "gcn"])
def test_elman_state_under_autocast_stays_in_its_dtype_and_can_be_carried(small_graph, operator):
    # the products run in bfloat16 under autocast, the state stays float32 as the GRU's and the
    # LSTM's (was: a bfloat16 state, refused when passed back in: "state is torch.bfloat16 ...")
    from gcnkit.nn.recurrent import ElmanCell, run_sequence

    ei, ew, n = small_graph
    torch.manual_seed(0)
    cell = ElmanCell(3, 4, input_operator=operator, hidden_operator=operator)
    x = torch.randn(4, n, 3)
    ref, _ = run_sequence(cell, x, ei, ew)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fresh, _ = run_sequence(cell, x, ei, ew)
        zeros, _ = run_sequence(cell, x, ei, ew, state=torch.zeros(n, 4))  # the zero-state skip: the same
        first, state = run_sequence(cell, x[:2], ei, ew)
        rest, state = run_sequence(cell, x[2:], ei, ew, state=state)  # carried across calls
        one = cell(x[0], ei, ew, state=state)
    assert fresh.dtype == zeros.dtype == state.dtype == one.dtype == torch.float32
    torch.testing.assert_close(fresh, zeros)
    torch.testing.assert_close(torch.cat([first, rest]), fresh)
    torch.testing.assert_close(fresh, ref, atol=3e-2, rtol=3e-2)  # bfloat16 products


def test_pruned_recurrent_bias_from_no_state(small_graph):
    from torch.nn.utils import prune

    from gcnkit.nn.recurrent import ElmanCell, run_sequence

    torch.manual_seed(0)
    cell = ElmanCell(3, 4)
    prune.l1_unstructured(cell.hidden_map.lin, "bias", amount=0.5)
    opt = torch.optim.SGD(cell.parameters(), lr=0.5)
    x = torch.randn(3, 5, 3)
    for _ in range(3):
        opt.zero_grad()
        run_sequence(cell, x)[0].square().sum().backward()
        opt.step()
        fresh = run_sequence(cell, x)[0]
        torch.testing.assert_close(fresh, run_sequence(cell, x, state=torch.zeros(5, 4))[0])


def test_a_callable_operator_refuses_options_it_cannot_take():
    from gcnkit.nn import ChebyshevConv, KipfGCNConv

    with pytest.raises(TypeError, match=r"got bias=False .* set them inside the callable"):
        GRUCell(3, 4, input_operator=lambda i, o: KipfGCNConv(i, o), bias=False)
    with pytest.raises(TypeError, match=r"got K .* set them inside the callable"):
        GRUCell(3, 4, hidden_operator=lambda i, o: ChebyshevConv(i, o, K=1), hidden_kwargs={"K": 3})
    with pytest.raises(TypeError, match="got bias=False"):  # recurrent_bias reaches the hidden side only
        GRUCell(3, 4, hidden_operator=_UserOperator, recurrent_bias=False)
    GRUCell(3, 4, input_operator=_UserOperator, recurrent_bias=False)  # the input side keeps its bias


def test_a_custom_operator_needs_no_reset_parameters(small_graph):
    class Plain(torch.nn.Module):  # forward(x, graphs) and graph_options only
        graph_options = None

        def __init__(self, i, o):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(o, i))

        def forward(self, x, graphs=None):
            return x @ self.w.t()

    torch.manual_seed(0)
    cell = GRUCell(3, 4, input_operator=Plain, hidden_operator=Plain)
    x, h = torch.randn(5, 3), torch.randn(5, 4)
    w_i, w_h = cell.input_map.w, cell.hidden_map.w
    r, u, n = (x @ w_i.t()).chunk(3, -1)
    hr, hu, hn = (h @ w_h.t()).chunk(3, -1)
    r, u = torch.sigmoid(r + hr), torch.sigmoid(u + hu)
    torch.testing.assert_close(cell(x, state=h), u * h + (1 - u) * torch.tanh(n + r * hn))


def test_the_cheb_operator_is_degree_one_unless_told():
    # GConvGRU/GConvLSTM cells built with operator "cheb" and no K take this default
    op = make_operator("cheb", 2, 3)
    assert op.conv.K == 1 and sum(p.numel() for p in op.parameters()) == 2 * 2 * 3 + 3
    assert make_operator("cheb", 2, 3, K=3).conv.K == 3


def test_a_chebyshev_cell_drops_the_graphs_own_self_loops():
    # as PyG's ChebConv: L is built without the graph's self-loops, so a graph with some gives the
    # outputs of the same graph without them
    from gcnkit.nn.recurrent import run_sequence

    chain = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    loops = torch.cat([chain, torch.tensor([[0, 2], [0, 2]])], 1)
    torch.manual_seed(0)
    cell = GRUCell(2, 3, input_operator="cheb", hidden_operator="cheb", input_kwargs={"K": 2},
                   hidden_kwargs={"K": 2})
    x = torch.randn(5, 4, 2)
    w = torch.rand(8) + 0.5
    out, _ = run_sequence(cell, x, loops, w)
    ref, _ = run_sequence(cell, x, chain, w[:6])
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
