"""The sequence runner: one normalization per sequence, state carried, static/dynamic graphs,
truncated BPTT, gradcheck, clear errors."""
import numpy as np
import pytest
import torch

import gcnkit.functional.graph_input as graph_input
from gcnkit.functional import graph_cache, normalize_adjacency
from gcnkit.nn.recurrent import (ElmanCell, GRUCell, LSTMCell, clip_grad_norm, run_sequence,
                                 tbptt_backward)

F, H = 3, 4


@pytest.fixture
def spy(monkeypatch):
    calls = []
    real = graph_input.normalize_adjacency

    def counting(*args, **kwargs):
        calls.append(kwargs.get("norm"))
        return real(*args, **kwargs)

    monkeypatch.setattr(graph_input, "normalize_adjacency", counting)
    graph_cache.clear()
    return calls


@pytest.mark.parametrize("cache", [graph_cache, None])
def test_one_normalization_per_sequence(spy, small_graph, cache):
    ei, ew, n = small_graph
    cell = GRUCell(F, H, reset="before", input_operator="gcn", hidden_operator="gcn")
    run_sequence(cell, torch.randn(2, 12, n, F), ei, ew, cache=cache)
    assert len(spy) == 1  # 12 steps x 3 maps share one normalized adjacency


def test_one_normalization_per_option_and_per_step_graph(spy, small_graph):
    ei, ew, n = small_graph
    cell = LSTMCell(F, H, input_operator="gcn", hidden_operator="cheb")  # two normalizations
    run_sequence(cell, torch.randn(10, n, F), ei, ew, cache=None)
    assert sorted(spy) == ["sym", "sym"] and len(spy) == 2
    spy.clear()
    graphs = [ei[:, : 3 + t % 4].clone() for t in range(6)]
    run_sequence(cell, torch.randn(6, n, F), graphs, cache=None)
    assert len(spy) == 2 * 6


def test_state_carried_across_calls(small_graph):
    ei, ew, n = small_graph
    torch.manual_seed(0)
    for cell in (GRUCell(F, H, input_operator="gcn", hidden_operator="gcn"),
                 LSTMCell(F, H, input_operator="cheb", hidden_operator="cheb", peephole=True)):
        x = torch.randn(2, 9, n, F)
        full, s_full = run_sequence(cell, x, ei, ew)
        a, s = run_sequence(cell, x[:, :4], ei, ew)
        b, s = run_sequence(cell, x[:, 4:], ei, ew, state=s)
        torch.testing.assert_close(torch.cat([a, b], 1), full)
        torch.testing.assert_close(cell.output(s), cell.output(s_full))


@pytest.mark.parametrize("shape", [(2, 5, None, F), (1, 5, None, F), (5, None, F)])
def test_last_output_is_apart_from_the_state(small_graph, shape):
    # as torch.nn.GRU's output and h_n: editing the output in place leaves the carried state
    ei, ew, n = small_graph
    torch.manual_seed(0)
    for cell in (GRUCell(F, H, input_operator="gcn", hidden_operator="gcn"), LSTMCell(F, H)):
        x = torch.randn(*(n if d is None else d for d in shape))
        last, state = run_sequence(cell, x, ei, ew, return_sequence=False)
        h = cell.output(state)
        before = h.clone()
        torch.testing.assert_close(last, h)
        last.zero_()
        torch.testing.assert_close(cell.output(state), before)


def test_shapes_batched_unbatched_and_dynamic(small_graph):
    ei, ew, n = small_graph
    cell = ElmanCell(F, H, input_operator="gcn", hidden_operator="gcn")
    x = torch.randn(3, 5, n, F)
    out, h = run_sequence(cell, x, ei, ew)
    assert out.shape == (3, 5, n, H) and h.shape == (3, n, H)
    out1, h1 = run_sequence(cell, x[1], ei, ew)
    assert out1.shape == (5, n, H) and h1.shape == (n, H)
    torch.testing.assert_close(out1, out[1], atol=1e-6, rtol=0)  # B independent sequences
    dyn, hd = run_sequence(cell, x, [ei] * 5, [ew] * 5)
    torch.testing.assert_close(dyn, out, atol=1e-6, rtol=0)
    one, h_one = run_sequence(cell, x[1:2], ei, ew)  # B=1 runs the unbatched path
    assert one.shape == (1, 5, n, H) and h_one.shape == (1, n, H)
    torch.testing.assert_close(one[0], out1, atol=1e-6, rtol=0)
    lstm = LSTMCell(F, H, input_operator="gcn", hidden_operator="gcn")
    a, s = run_sequence(lstm, x[None, 0, :2], ei, ew)
    b, s = run_sequence(lstm, x[None, 0, 2:], ei, ew, state=s)
    assert s[0].shape == s[1].shape == (1, n, H)
    torch.testing.assert_close(torch.cat([a, b], 1)[0], run_sequence(lstm, x[0], ei, ew)[0])


def test_dynamic_graphs_match_manual_loop(small_graph):
    ei, ew, n = small_graph
    torch.manual_seed(1)
    cell = GRUCell(F, H, reset="before", input_operator="gcn", hidden_operator="gcn")
    T = 4
    eis = [ei[:, torch.randperm(ei.size(1))[:5]] for _ in range(T)]
    ews = [torch.rand(5) + 0.1 for _ in range(T)]
    x = torch.randn(2, T, n, F)
    out, h = run_sequence(cell, x, eis, ews)
    state = None
    for t in range(T):
        state = cell(x[:, t], eis[t], ews[t], state=state)
        torch.testing.assert_close(out[:, t], state, atol=1e-6, rtol=0)


def test_dense_input_map_is_folded_with_dynamic_graphs(small_graph):
    ei, ew, n = small_graph
    cell = GRUCell(F, H, input_operator="linear", hidden_operator="gcn")
    calls = []
    prepare = cell.input_map.prepare
    cell.input_map.prepare = lambda *a: calls.append(1) or prepare(*a)
    x = torch.randn(6, n, F)
    out, _ = run_sequence(cell, x, [ei] * 6)
    assert len(calls) == 1  # prepared once for all steps, although the graphs change per step
    state = None
    for t in range(6):
        state = cell(x[t], ei, None, state)
    torch.testing.assert_close(out[-1], state)


def test_gradcheck_float64(small_graph, gate_path):
    ei, ew, n = small_graph
    torch.manual_seed(0)
    for cell in (GRUCell(2, 3, reset="before", input_operator="gcn", hidden_operator="gcn"),
                 LSTMCell(2, 3, input_operator="cheb", hidden_operator="gcn", peephole=True),
                 ElmanCell(2, 3, input_operator="gcn", hidden_operator="cheb")):
        cell = cell.double()
        x = torch.randn(2, 3, n, 2, dtype=torch.float64, requires_grad=True)  # B=2, T=3
        w = ew.double().requires_grad_()

        def f(x, w):
            out, _ = run_sequence(cell, x, ei, w)
            return out

        assert torch.autograd.gradcheck(f, (x, w), atol=1e-6, fast_mode=True)
    x = torch.randn(1, 2, n, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x, w), atol=1e-6)  # full Jacobian on the last cell


def test_detach_every_cuts_the_gradient(small_graph):
    ei, ew, n = small_graph
    cell = GRUCell(F, H, input_operator="gcn", hidden_operator="gcn")
    x = torch.randn(8, n, F, requires_grad=True)
    for k in (3, np.int64(3), torch.tensor(3)):  # NumPy's and 0-d tensor integers, as check_int takes
        out, _ = run_sequence(cell, x, ei, ew, detach_every=k)
        (g,) = torch.autograd.grad(out[-1].sum(), x)
        assert g[:6].abs().sum() == 0 and g[6:].abs().sum() > 0  # steps 0..5 are beyond the cut
    out, _ = run_sequence(cell, x, ei, ew)
    (g,) = torch.autograd.grad(out[-1].sum(), x)
    assert g[0].abs().sum() > 0


def test_detach_every_keeps_the_last_state_differentiable_when_it_divides_t(small_graph):
    # T a multiple of k: a cut after the last step would leave the returned state and the last
    # output without any gradient (a model trained on it would silently not learn)
    ei, ew, n = small_graph
    cell = GRUCell(F, H, input_operator="gcn", hidden_operator="gcn")
    x = torch.randn(6, n, F, requires_grad=True)
    out, state = run_sequence(cell, x, ei, ew, detach_every=3, return_sequence=False)
    assert out.requires_grad and state.requires_grad
    (g,) = torch.autograd.grad(out.sum(), x)
    assert g[:3].abs().sum() == 0 and (g[3:].abs().sum((-2, -1)) > 0).all()


def test_tbptt_backward_chunks_and_full_bptt(small_graph):
    ei, ew, n = small_graph
    torch.manual_seed(0)
    cell = GRUCell(F, H, input_operator="gcn", hidden_operator="gcn")
    x, y = torch.randn(2, 10, n, F), torch.randn(2, 10, n, H)
    model = lambda x, ei, ew, state=None: run_sequence(cell, x, ei, ew, state)  # noqa: E731
    mse = torch.nn.functional.mse_loss

    def grads():
        out = [p.grad.clone() for p in cell.parameters()]
        cell.zero_grad()
        return out

    loss_k, state = tbptt_backward(model, x, y, ei, ew, k=10, loss_fn=mse)  # k >= T: full BPTT
    g_full = grads()
    out, _ = run_sequence(cell, x, ei, ew)
    mse(out, y).backward()
    for a, b in zip(g_full, grads()):
        torch.testing.assert_close(a, b)
    loss_3, state = tbptt_backward(model, x, y, ei, ew, k=np.int64(3), loss_fn=mse)  # (NumPy's int: as 3)
    g3 = grads()
    out, _ = run_sequence(cell, x, ei, ew, detach_every=3)  # same gradient as detaching in-forward
    torch.testing.assert_close(loss_3, mse(out, y).detach())
    mse(out, y).backward()
    for a, b in zip(g3, grads()):
        torch.testing.assert_close(a, b)
    assert not state.requires_grad
    loss_d, _ = tbptt_backward(model, x, y, [ei] * 10, [ew] * 10, k=4, loss_fn=mse)  # per-step graphs
    torch.testing.assert_close(loss_d, loss_3)


def test_clip_grad_norm():
    lin = torch.nn.Linear(3, 3)
    (lin(torch.ones(1, 3)) * 100).sum().backward()
    norm = clip_grad_norm(lin, 1.0)
    assert norm > 1.0
    assert clip_grad_norm(lin, None) == pytest.approx(1.0, rel=1e-4)
    for bad in (0.0, -1.0, float("nan"), float("inf")):  # -1 would flip the gradients' sign
        with pytest.raises(ValueError, match="max_norm must be a positive"):
            clip_grad_norm(lin, bad)
    for bad in (True, "1"):  # True would clip to 1.0
        with pytest.raises(TypeError, match="max_norm must be a number"):
            clip_grad_norm(lin, bad)


def test_clear_errors(small_graph):
    ei, ew, n = small_graph
    cell = GRUCell(F, H, input_operator="gcn", hidden_operator="gcn")
    x = torch.randn(2, 4, n, F)
    with pytest.raises(ValueError, match="3 per-step graphs .* T=4"):
        run_sequence(cell, x, [ei] * 3)
    with pytest.raises(ValueError, match="list of T=4"):
        run_sequence(cell, x, [ei] * 4, [ew] * 2)
    with pytest.raises(ValueError, match="in_channels=3"):
        run_sequence(cell, torch.randn(2, 4, n, F + 1), ei)
    with pytest.raises(ValueError, match="refers to node 3|nodes"):
        run_sequence(cell, torch.randn(2, 4, 3, F), ei)  # N mismatch with the graph
    g = normalize_adjacency(ei, ew, n)
    with pytest.raises(ValueError, match="7 nodes but the NormalizedGraph has 5"):
        run_sequence(cell, torch.randn(2, 4, 7, F), g)
    bad = x.clone()
    bad[0, 1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="x has 1 non-finite values"):
        run_sequence(cell, bad, ei)
    with pytest.raises(ValueError, match="state has shape"):
        run_sequence(cell, x, ei, state=torch.zeros(3, n, H))
    with pytest.raises(TypeError, match="state is torch.float64 on cpu but x is torch.float32"):
        run_sequence(cell, x, ei, state=torch.zeros(2, n, H, dtype=torch.float64))
    with pytest.raises(TypeError, match="state is one Tensor"):
        run_sequence(cell, x, ei, state=(torch.zeros(2, n, H),))
    with pytest.raises(ValueError, match="state has 1 non-finite values"):
        run_sequence(cell, x, ei, state=torch.zeros(2, n, H).index_fill_(0, torch.tensor([1]), 0).
                     view(-1).index_fill_(0, torch.tensor([3]), float("nan")).view(2, n, H))
    with pytest.raises(ValueError, match=r"\[B, T, N, F\]"):
        run_sequence(cell, torch.randn(n, F), ei)
    for bad in (0, True, 1.5, np.int64(0), torch.tensor(2.0)):  # True used to act as 1
        with pytest.raises(ValueError, match="detach_every must be a positive integer"):
            run_sequence(cell, x, ei, detach_every=bad)
    with pytest.raises(TypeError, match="x is torch.float64 but GRUCell's parameters are torch.float32"):
        run_sequence(cell, x.double(), ei)
    for bad in (0, True, 2.0, torch.tensor([2])):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            tbptt_backward(lambda *a, **k: None, x, torch.zeros(2, 4, n), ei, k=bad, loss_fn=None)
    with pytest.raises(ValueError, match=r"target must have x's T=4 time steps on axis 1 .* got 3 time steps"):
        tbptt_backward(lambda *a, **k: None, x, torch.zeros(2, 3, n), ei, k=2, loss_fn=None)
    with pytest.raises(ValueError, match=r"target must have x's T=4 .* got shape \(2,\)"):
        tbptt_backward(lambda *a, **k: None, x, torch.zeros(2), ei, k=2, loss_fn=None)
    with pytest.raises(ValueError, match=r"x must have shape \[B, T, N, F\] or \[T, N, F\].*got \(5, 4\)"):
        tbptt_backward(lambda *a, **k: None, torch.zeros(5, 4), torch.zeros(5, 4), ei, k=2, loss_fn=None)
    with pytest.raises(ValueError, match=r"got \(5, 4\); for one snapshot \[N, F\] .* pass x\[None\]"):
        run_sequence(cell, torch.zeros(5, 4), ei)


@pytest.mark.parametrize("steps", [3, 5])
def test_tbptt_checks_per_step_graphs_before_any_chunk(small_graph, steps):
    # T=4 with k=2: a list of 3 graphs used to fail only in the second chunk, after the first had
    # added its gradient; a list of 5 was accepted and its last graph silently ignored
    ei, ew, n = small_graph
    cell = GRUCell(F, H, input_operator="gcn", hidden_operator="gcn")
    x, y = torch.randn(2, 4, n, F), torch.randn(2, 4, n, H)
    model = lambda x, ei, ew, state=None: run_sequence(cell, x, ei, ew, state)  # noqa: E731
    with pytest.raises(ValueError, match=f"got {steps} per-step graphs .* for T=4 time steps"):
        tbptt_backward(model, x, y, [ei] * steps, [ew] * steps, k=2, loss_fn=torch.nn.functional.mse_loss)
    with pytest.raises(ValueError, match=f"edge_weight must be None or a list of T=4 tensors, got {steps}"):
        tbptt_backward(model, x, y, [ei] * 4, [ew] * steps, k=2, loss_fn=torch.nn.functional.mse_loss)
    assert all(p.grad is None for p in cell.parameters())


def test_tbptt_leaves_no_partial_gradient_on_an_error_in_a_later_chunk(small_graph):
    """NaN in a later chunk's x is refused before the first chunk; an error that only a later
    chunk finds (a per-step graph naming a node out of range) restores a module's gradients."""
    from gcnkit.nn.models import TGCN

    ei, ew, n = small_graph
    torch.manual_seed(0)
    model = TGCN(F, H, out_channels=1)
    x, y = torch.randn(2, 6, n, F), torch.randn(2, 6, n, 1)
    mse = torch.nn.functional.mse_loss
    bad = x.clone()
    bad[:, 5, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=f"x has 2 non-finite values .* of {x.numel()}"):
        tbptt_backward(model, bad, y, ei, ew, k=2, loss_fn=mse)
    assert all(p.grad is None for p in model.parameters())
    far = torch.tensor([[0, n], [n, 0]])  # node n in a graph of n nodes, at the last step
    graphs, weights = [ei] * 5 + [far], [ew] * 5 + [torch.ones(2)]
    with pytest.raises(ValueError, match=f"refers to node {n}"):
        tbptt_backward(model, x, y, graphs, weights, k=2, loss_fn=mse)
    assert all(p.grad is None for p in model.parameters())
    tbptt_backward(model, x, y, ei, ew, k=2, loss_fn=mse)  # accumulating: restored, not cleared
    before = [p.grad.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=f"refers to node {n}"):
        tbptt_backward(model, x, y, graphs, weights, k=2, loss_fn=mse)
    for p, g in zip(model.parameters(), before):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=0)
    with pytest.raises(ValueError, match="x has T=0 time steps"):
        tbptt_backward(model, x[:, :0], y[:, :0], ei, ew, k=2, loss_fn=mse)


def test_clip_grad_norm_of_one_tensor_as_torch():
    p = torch.nn.Parameter(torch.randn(3, 4))
    q = torch.nn.Parameter(p.detach().clone())
    p.grad, q.grad = torch.full((3, 4), 10.0), torch.full((3, 4), 10.0)
    norm = clip_grad_norm(p, 1.0)
    torch.testing.assert_close(norm, torch.nn.utils.clip_grad_norm_(q, 1.0))
    torch.testing.assert_close(norm, torch.tensor(20 * 3 ** 0.5))  # sqrt(12 * 10²)
    torch.testing.assert_close(p.grad, q.grad)
    torch.testing.assert_close(p.grad.norm(), torch.tensor(1.0))


def test_one_step_refuses_nan_input_as_the_sequence_runner_does(small_graph):
    ei, ew, n = small_graph
    for cell, x in ((GRUCell(2, 4), torch.full((3, 2), float("nan"))),
                    (GRUCell(2, 4, input_operator="gcn", hidden_operator="gcn"), torch.full((n, 2), float("nan")))):
        with pytest.raises(ValueError, match="x has 6 non-finite values|x has 10 non-finite values"):
            cell(x, ei if cell.uses_graph else None)


def test_per_step_and_all_steps_input_paths_give_the_same_gradients(small_graph, monkeypatch):
    import copy

    import gcnkit.nn.recurrent.sequence as sequence

    ei, ew, n = small_graph
    torch.manual_seed(0)
    cell = GRUCell(2, 5, reset="before", input_operator="cheb", hidden_operator="gcn",
                   input_kwargs={"K": 2})
    x = torch.randn(3, 4, n, 2)
    grads = []
    for limit in (0, 1 << 22):  # per step (large-batch path), then all T steps at once
        monkeypatch.setattr(sequence, "_PER_STEP_INPUT_NUMEL", limit)
        c = copy.deepcopy(cell)
        out, _ = run_sequence(c, x, ei, ew)
        out.square().sum().backward()
        grads.append([p.grad for p in c.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


class _PrepareOnly(torch.nn.Module):
    """A user's input operator with a ``prepare`` step but no ``transform``."""
    graph_options = None

    def __init__(self, i, o):
        super().__init__()
        self.lin = torch.nn.Linear(i, o)

    def reset_parameters(self):
        self.lin.reset_parameters()

    def forward(self, x, graphs=None):
        return self.lin(self.prepare(x))

    def prepare(self, x, graphs=None):
        return x


class _PrepareTransform(_PrepareOnly):
    """... and with ``transform``: the two-phase protocol (no ``split``)."""

    def transform(self, z):
        return self.lin(z)


@pytest.mark.parametrize("operator", [_PrepareTransform, _PrepareOnly])
def test_custom_operator_runs_through_the_same_paths(small_graph, operator):
    """A user's operator with prepare/transform (but no ``split``) runs two-phase; one with
    ``prepare`` but no ``transform`` (the protocol's old method name was ``apply``) runs through
    its ``forward``; both equal the built-in dense operator."""
    from gcnkit.nn.recurrent import DenseOperator

    torch.manual_seed(0)
    ei, _, n = small_graph
    mine = GRUCell(2, 3, reset="before", input_operator=operator, hidden_operator="gcn")
    ref = GRUCell(2, 3, reset="before", input_operator="linear", hidden_operator="gcn")
    ref.load_state_dict(mine.state_dict())
    assert isinstance(ref.input_map, DenseOperator)
    x = torch.randn(2, 4, n, 2)
    torch.testing.assert_close(run_sequence(mine, x, ei)[0], run_sequence(ref, x, ei)[0])


def test_input_side_without_two_phases_or_wider_than_the_gates(small_graph):
    """The input map runs whole (one call over all T steps) for a user conv without the
    propagate_only/transform split, and for inputs wider than the gates (where the conv's own
    cheaper order, weights first, applies); both equal the step-by-step cell."""
    from gcnkit.nn.conv import GraphConvBase

    class MyConv(GraphConvBase):  # a user's conv: forward only
        norm, self_loop_weight = "sym", 1.0

        def __init__(self, i, o):
            super().__init__(i, o)
            self.lin = torch.nn.Linear(i, o, bias=False)
            self.reset_parameters()

        def forward(self, x, edge_index, edge_weight=None):
            graph = self.graph(edge_index, edge_weight, x, norm="sym", self_loop_weight=1.0)
            return self.add_bias(graph.matmul(self.lin(x)))

    ei, ew, n = small_graph
    torch.manual_seed(0)
    for cell, f in ((GRUCell(2, 3, reset="before", input_operator=MyConv, hidden_operator="gcn"), 2),
                    (GRUCell(12, 3, reset="before", input_operator="gcn", hidden_operator="gcn"), 12)):
        calls = []
        for conv in (cell.input_map.conv, cell.hidden_map.conv):  # spies on the instances
            conv.propagate_only = lambda *a, _c=conv, _f=conv.propagate_only, **k: calls.append(_c) or _f(*a, **k)
        x = torch.randn(2, 4, n, f)
        out, _ = run_sequence(cell, x, ei, ew)
        state = None
        for t in range(4):
            state = cell(x[:, t], ei, ew, state)
            torch.testing.assert_close(out[:, t], state)
        # 12 features > 3 gates x 3: the input conv's forward, not the split (the hidden maps split)
        assert cell.input_map.conv not in calls and cell.hidden_map.conv in calls


def test_parametrized_weights_are_computed_once_per_sequence(monkeypatch, once_per_sequence):
    """torch.nn.utils.parametrize: each gate map's weight computed once for the T steps (not at
    every step), with the values and gradients of computing it at every step."""
    import contextlib

    from torch.nn.utils import parametrize

    from gcnkit.nn.models import GConvGRU

    calls = []

    class Scale(torch.nn.Module):
        def forward(self, w):
            calls.append(1)
            return w * 1.5

    torch.manual_seed(0)
    m = GConvGRU(2, 16, out_channels=1, K=1)
    lins = [mod for mod in m.cell.modules() if isinstance(getattr(mod, "weight", None), torch.nn.Parameter)]
    assert len(lins) >= 3  # the input, gate and candidate maps' linear layers
    for lin in lins:
        parametrize.register_parametrization(lin, "weight", Scale())
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 1, 2], [1, 2, 3, 4, 5, 0, 0, 4]])

    def run(T):
        calls.clear()
        m.zero_grad()
        x = torch.randn(1, T, 6, 2, generator=torch.Generator().manual_seed(1))
        out = m(x, ei)[0]
        out.square().mean().backward()
        return len(calls), out.detach(), [p.grad.clone() for p in m.parameters()]

    once_per_sequence(run, lambda: monkeypatch.setattr(parametrize, "cached", contextlib.nullcontext), 4, 12)


def test_convs_built_with_cached_false_keep_no_graph_in_a_cell():
    """cached=False, the remedy for edge weights edited behind autograd's version counter, was
    ignored inside the cells: the shared cache kept the old normalization (a stale output)."""
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    torch.manual_seed(0)
    x = torch.randn(3, 4, 3)
    kw = {"cached": False}
    cell = GRUCell(3, 5, reset="before", input_operator="gcn", hidden_operator="gcn",
                   input_kwargs=kw, hidden_kwargs=kw)
    graph_cache.clear()
    ew = torch.ones(6)
    run_sequence(cell, x, ei, ew), cell(x[0], ei, ew)
    ew.data[0] = 5.0
    torch.testing.assert_close(run_sequence(cell, x, ei, ew)[0], run_sequence(cell, x, ei, ew.clone())[0])
    torch.testing.assert_close(cell(x[0], ei, ew), cell(x[0], ei, ew.clone()))
    assert len(graph_cache) == 0
    cached = GRUCell(3, 5, input_operator="gcn", hidden_operator="gcn")  # the default keeps it
    run_sequence(cached, x, ei, ew)
    assert len(graph_cache) == 1


def test_learnable_edge_weights_build_the_scaled_laplacian_once_per_sequence(small_graph, monkeypatch):
    # was: rebuilt by every Chebyshev map at every step (a differentiable graph's L~ was never kept),
    # with the host syncs of a CSR build each time
    import gcnkit.functional.chebyshev as cheb

    ei, ew, n = small_graph
    made = []
    real = cheb._assemble_scaled_laplacian
    monkeypatch.setattr(cheb, "_assemble_scaled_laplacian", lambda *a: made.append(1) or real(*a))
    torch.manual_seed(0)
    cell = GRUCell(F, H, reset="before", input_operator="cheb", hidden_operator="cheb").double()
    x = torch.randn(2, 6, n, F, dtype=torch.float64)
    w = ew.double().requires_grad_()
    out, _ = run_sequence(cell, x, ei, w)
    (got,) = torch.autograd.grad(out.sum(), w)
    assert len(made) == 1
    state, total = None, 0.0
    for t in range(6):  # step by step: one graph per call
        state = cell(x[:, t], ei, w, state)
        total = total + state.sum()
    (want,) = torch.autograd.grad(total, w)
    torch.testing.assert_close(got, want)


def test_checks_are_one_host_sync_per_call_whatever_t_and_b(small_graph, host_syncs):
    # tbptt_backward checked x once, then every chunk's call checked its part and the carried state
    # again; a single sequence [1, T, N, F] was checked twice per call (each a sync on CUDA)
    import torch.nn.functional as tF

    from gcnkit.nn.models import GConvLSTM

    ei, ew, n = small_graph
    model = GConvLSTM(F, H, out_channels=1)
    counts = {}
    for T in (8, 32):
        x, y = torch.randn(2, T, n, F), torch.randn(2, T, n, 1)
        tbptt_backward(model, x, y, ei, ew, k=4, loss_fn=tF.mse_loss)  # (warm: the graph normalized)
        counts[T] = host_syncs(lambda: tbptt_backward(model, x, y, ei, ew, k=4, loss_fn=tF.mse_loss))
    assert counts[8] == counts[32] == 1
    state = (torch.zeros(1, n, H), torch.zeros(1, n, H))
    for B in (1, 2):
        x = torch.randn(B, 6, n, F)
        s = tuple(t.expand(B, n, H) for t in state)
        assert host_syncs(lambda: model(x, ei, ew)) == 1
        assert host_syncs(lambda: model(x, ei, ew, state=s)) == 3  # x, h and c
    bad = torch.randn(1, 6, n, F)
    bad[0, 5, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x has 1 non-finite"):
        model(bad, ei, ew)
    with pytest.raises(ValueError, match="x has 1 non-finite"):
        tbptt_backward(model, bad, torch.randn(1, 6, n, 1), ei, ew, k=2, loss_fn=tF.mse_loss)
    with pytest.raises(ValueError, match="state has 1 non-finite"):  # a given state: checked in chunk 1
        h = torch.zeros(1, n, H)
        h[0, 0, 0] = float("inf")
        tbptt_backward(model, torch.randn(1, 6, n, F), torch.randn(1, 6, n, 1), ei, ew, k=2,
                       loss_fn=tF.mse_loss, state=(h, torch.zeros(1, n, H)))
