"""Cells written once: parity with torch.nn.*Cell, hand-written references, graph operators."""
import numpy as np
import pytest
import torch

from gcnkit.functional import normalize_adjacency
from gcnkit.nn.recurrent import ElmanCell, GRUCell, LSTMCell, run_sequence
from gcnkit.nn.conv import KipfGCNConv
from gcnkit.nn.models import RecurrentGraphModel

B, F, H = 3, 4, 5


def _copy_dense(cell, ref):
    with torch.no_grad():
        cell.input_map.lin.weight.copy_(ref.weight_ih)
        cell.input_map.lin.bias.copy_(ref.bias_ih)
        cell.hidden_map.lin.weight.copy_(ref.weight_hh)
        cell.hidden_map.lin.bias.copy_(ref.bias_hh)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_elman_equals_torch_rnncell(nonlinearity):
    torch.manual_seed(0)
    ref = torch.nn.RNNCell(F, H, nonlinearity=nonlinearity)
    cell = ElmanCell(F, H, nonlinearity=nonlinearity)
    _copy_dense(cell, ref)
    x, h = torch.randn(B, F), torch.randn(B, H)
    torch.testing.assert_close(cell(x, state=h), ref(x, h), atol=1e-6, rtol=0)


def test_lstm_equals_torch_lstmcell_over_steps():
    torch.manual_seed(0)
    ref = torch.nn.LSTMCell(F, H)
    cell = LSTMCell(F, H)
    _copy_dense(cell, ref)
    xs = torch.randn(6, B, F)
    state_ref = (torch.randn(B, H), torch.randn(B, H))
    state = state_ref
    for x in xs:
        state_ref = ref(x, state_ref)
        state = cell(x, state=state)
        torch.testing.assert_close(state[0], state_ref[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(state[1], state_ref[1], atol=1e-6, rtol=0)


def test_gru_reset_after_equals_torch_grucell_and_runner():
    torch.manual_seed(0)
    ref = torch.nn.GRUCell(F, H)
    cell = GRUCell(F, H, reset="after")
    _copy_dense(cell, ref)
    xs = torch.randn(B, 7, 1, F)  # [B, T, N=1, F]
    h_ref = torch.zeros(B, H)
    outs = []
    for t in range(7):
        h_ref = ref(xs[:, t, 0], h_ref)
        outs.append(h_ref)
    out, h = run_sequence(cell, xs)
    torch.testing.assert_close(out[:, :, 0], torch.stack(outs, 1), atol=1e-6, rtol=0)
    torch.testing.assert_close(h[:, 0], h_ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("in_features", [F, 12])  # 12: a wide input, its gate blocks are views
def test_gradients_equal_torch_cells_over_a_sequence(kind, in_features, gate_path):
    """Values and weight gradients through 6 steps equal torch.nn.GRUCell / LSTMCell's, on both
    paths of the gate functions (hand-derived backward and autograd)."""
    torch.manual_seed(0)
    T = 6
    ref = torch.nn.GRUCell(in_features, H) if kind == "gru" else torch.nn.LSTMCell(in_features, H)
    cell = GRUCell(in_features, H, reset="after") if kind == "gru" else LSTMCell(in_features, H)
    _copy_dense(cell, ref)
    x = torch.randn(B, T, 1, in_features)
    state0 = torch.randn(B, 1, H) if kind == "gru" else (torch.randn(B, 1, H), torch.randn(B, 1, H))
    out, _ = run_sequence(cell, x, state=state0)
    state = state0[:, 0] if kind == "gru" else tuple(s[:, 0] for s in state0)
    outs = []
    for t in range(T):
        state = ref(x[:, t, 0], state)
        outs.append(state if kind == "gru" else state[0])
    ref_out = torch.stack(outs, 1)
    torch.testing.assert_close(out[:, :, 0], ref_out, atol=1e-6, rtol=0)
    g = torch.randn_like(ref_out)
    ours = torch.autograd.grad(out[:, :, 0], [cell.input_map.lin.weight, cell.input_map.lin.bias,
                                              cell.hidden_map.lin.weight, cell.hidden_map.lin.bias], g)
    theirs = torch.autograd.grad(ref_out, [ref.weight_ih, ref.bias_ih, ref.weight_hh, ref.bias_hh], g)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def _dense_maps(cell):
    U = lambda x: cell.input_map.lin(x)  # noqa: E731
    W = lambda h: cell.hidden_map.lin(h)  # noqa: E731
    return U, W


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_gru_reset_before_matches_reference(act):
    torch.manual_seed(1)
    cell = GRUCell(F, H, reset="before", activation=act)
    a = torch.tanh if act == "tanh" else torch.sigmoid
    x, h = torch.randn(B, F), torch.randn(B, H)
    ux = cell.input_map.lin(x)
    wh = cell.hidden_map.lin(h)
    r = torch.sigmoid(ux[:, :H] + wh[:, :H])
    u = torch.sigmoid(ux[:, H:2 * H] + wh[:, H:])
    n = a(ux[:, 2 * H:] + cell.candidate_map.lin(r * h))
    expected = u * h + (1 - u) * n
    torch.testing.assert_close(cell(x, state=h), expected, atol=1e-6, rtol=0)
    # it differs from reset-after with the same weights
    assert cell.candidate_map.lin.weight.shape == (H, H)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_reference_with_cell_activation_and_peephole(act, peephole):
    torch.manual_seed(2)
    cell = LSTMCell(F, H, cell_activation=act, peephole=peephole)
    if peephole:
        with torch.no_grad():
            cell.peephole_weight.normal_()
    a = torch.tanh if act == "tanh" else torch.sigmoid
    x, h, s = torch.randn(B, F), torch.randn(B, H), torch.randn(B, H)
    U, W = _dense_maps(cell)
    z = U(x) + W(h)
    zg, zf, zc, zo = z.split(H, -1)
    if peephole:
        wg, wf, wo = cell.peephole_weight
        zg, zf = zg + wg * s, zf + wf * s
    s_new = torch.sigmoid(zf) * s + torch.sigmoid(zg) * a(zc)
    if peephole:
        zo = zo + wo * s_new
    h_new = torch.tanh(s_new) * torch.sigmoid(zo)
    out = cell(x, state=(h, s))
    torch.testing.assert_close(out[0], h_new, atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1], s_new, atol=1e-6, rtol=0)


def test_graph_gru_cell_matches_dense_operator_reference(small_graph):
    ei, ew, n = small_graph
    torch.manual_seed(3)
    cell = GRUCell(F, H, reset="after", input_operator="gcn", hidden_operator="gcn")
    A = normalize_adjacency(ei, ew, n, norm="sym", self_loop_weight=1.0).to_dense()
    x, h = torch.randn(2, n, F), torch.randn(2, n, H)
    cu, cw = cell.input_map.conv, cell.hidden_map.conv
    ux = A @ x @ cu.lin.weight.t() + cu.bias
    wh = A @ h @ cw.lin.weight.t() + cw.bias
    r = torch.sigmoid(ux[..., :H] + wh[..., :H])
    u = torch.sigmoid(ux[..., H:2 * H] + wh[..., H:2 * H])
    nn_ = torch.tanh(ux[..., 2 * H:] + r * wh[..., 2 * H:])
    torch.testing.assert_close(cell(x, ei, ew, state=h), u * h + (1 - u) * nn_, atol=1e-5, rtol=0)


@pytest.mark.parametrize("per_step", [False, True])
def test_fused_operators_one_call_per_side(small_graph, monkeypatch, per_step):
    import gcnkit.nn.recurrent.sequence as sequence

    monkeypatch.setattr(sequence, "_PER_STEP_INPUT_NUMEL", 0 if per_step else 1 << 22)
    ei, ew, n = small_graph
    cell = LSTMCell(F, H, input_operator="gcn", hidden_operator="cheb", hidden_kwargs={"K": 2})
    calls = {"in": 0, "hid": 0, "in_graph": 0, "in_weights": 0}
    real_forward = cell.input_map.forward  # a spy, not a hook: a hooked map is called whole

    def forward_spy(*args, **kwargs):
        calls["in"] += 1
        return real_forward(*args, **kwargs)
    cell.input_map.forward = forward_spy
    cell.hidden_map.register_forward_hook(lambda *a: calls.__setitem__("hid", calls["hid"] + 1))
    conv = cell.input_map.conv
    for name, key in (("propagate_only", "in_graph"), ("transform", "in_weights")):
        def spy(*args, _f=getattr(conv, name), _k=key, **kwargs):
            calls[_k] += 1
            return _f(*args, **kwargs)
        setattr(conv, name, spy)
    x = torch.randn(2, 6, n, F)
    out, _ = run_sequence(cell, x, ei, ew)
    # input side: the graph part of all T steps in one call (one sparse matmul); the weights to
    # all steps at once, or (a large batch whose input, F=4, is narrower than the 4H gates) per
    # step; the gates of each side fused
    assert calls == {"in": 0, "hid": 6, "in_graph": 1, "in_weights": 6 if per_step else 1}
    state = None
    for t in range(6):  # the same as stepping the cell
        state = cell(x[:, t], ei, ew, state)
    torch.testing.assert_close(out[:, -1], state[0])
    assert cell.input_map.out_channels == 4 * H and cell.hidden_map.out_channels == 4 * H


def test_options_are_validated():
    with pytest.raises(ValueError, match="choose one of 'tanh', 'sigmoid'"):
        LSTMCell(F, H, cell_activation="relu")
    with pytest.raises(ValueError, match="reset"):
        GRUCell(F, H, reset="middle")
    with pytest.raises(ValueError, match="unknown operator"):
        GRUCell(F, H, input_operator="gat")
    with pytest.raises(ValueError, match="in_channels must be >= 1, got 0"):
        ElmanCell(0, H)


@pytest.mark.parametrize("width", [2.7, 2.0, True, "2", None])
def test_widths_are_integers_not_coerced(width):
    # int() would make a 2-wide cell of 2.7, a 1-wide one of True and a 2-wide one of "2"
    with pytest.raises(TypeError, match="in_channels must be an integer"):
        GRUCell(width, H)
    with pytest.raises(TypeError, match="hidden_channels must be an integer"):
        LSTMCell(F, width)


def test_bias_flags_are_bools():
    with pytest.raises(TypeError, match="bias must be True or False, got 'no'"):
        GRUCell(F, H, bias="no")  # bool("no") is True
    with pytest.raises(TypeError, match="recurrent_bias must be True or False, got 2"):
        ElmanCell(F, H, recurrent_bias=2)
    assert ElmanCell(F, H, recurrent_bias=0).recurrent_bias is False  # 0 and 1, as torch.nn.Linear
    assert GRUCell(F, H, bias=np.bool_(False)).input_map.bias is None


def test_repr_and_reset_parameters():
    cell = GRUCell(F, H, reset="before", input_operator="gcn")
    assert "4, 5, input_operator=gcn, hidden_operator=linear, reset=before" in cell.extra_repr()
    w = cell.input_map.conv.lin.weight.detach().clone()
    cell.reset_parameters()
    assert not torch.equal(w, cell.input_map.conv.lin.weight)
    assert "peephole=True" in repr(LSTMCell(F, H, peephole=True))
    cell = GRUCell(F, H, reset="before", input_operator="gcn", hidden_operator="gcn", recurrent_bias=False)
    assert cell.hidden_map.bias is None and cell.candidate_map.bias is None
    assert cell.input_map.bias is not None and "recurrent_bias=False" in cell.extra_repr()


def test_cell_bad_state_and_width():
    cell = GRUCell(F, H)
    with pytest.raises(ValueError, match="in_channels=4"):
        cell(torch.randn(B, F + 1))
    with pytest.raises(ValueError, match="state has shape"):
        cell(torch.randn(B, F), state=torch.randn(B + 1, H))
    with pytest.raises(TypeError, match="tuple"):
        LSTMCell(F, H)(torch.randn(B, F), state=torch.randn(B, H))
    with pytest.raises(ValueError, match="needs a graph|pass edge_index"):
        GRUCell(F, H, input_operator="gcn")(torch.randn(3, F))



def test_sparse_or_nodeless_input_is_named():
    """Sparse features (cells take dense ones) and a graph cell's x without a node axis are named
    (they were torch's "Could not run 'aten::ne.Scalar' ... 'SparseCPU'" from the NaN check, and a
    bare "Dimension out of range")."""
    from gcnkit.nn import TGCN

    ei = torch.tensor([[0, 1], [1, 0]])
    for x in (torch.randn(3, F).to_sparse(), torch.randn(3, F).to_sparse_csr()):
        with pytest.raises(TypeError, match=f"x must be a dense tensor.*got a {x.layout} tensor"):
            GRUCell(F, H)(x)
    with pytest.raises(TypeError, match="x must be a dense tensor.*torch.sparse_coo"):
        TGCN(F, H)(torch.randn(3, 2, F).to_sparse(), ei)
    with pytest.raises(ValueError, match=r"x must have shape \[\*, N, F\].*graph operators, got \(4,\)"):
        GRUCell(F, H, input_operator="gcn", hidden_operator="gcn")(torch.randn(F), ei)
    assert GRUCell(F, H)(torch.randn(F)).shape == (H,)  # dense operators: one vector is a batch of none


@pytest.mark.parametrize("make", [lambda: ElmanCell(3, 5), lambda: GRUCell(3, 5), lambda: LSTMCell(3, 5)])
def test_a_state_passed_second_as_torch_nn_cells_take_it_is_refused(make):
    """torch.nn cells take (input, hx); gcnkit cells (x, edge_index, edge_weight, state): a dense
    cell used to treat hx as an (unused) edge_index and start from zeros."""
    cell = make()
    x, h = torch.randn(4, 3), torch.randn(4, 5)
    hx = (h, torch.randn(4, 5)) if isinstance(cell, LSTMCell) else h
    with pytest.raises(TypeError, match=r"state-like .* as edge_index, the argument after x.*cell\(x, state=hx\)"):
        cell(x, hx)
    # a graph given to a dense cell through the common loop (a dense baseline) is not an error
    assert run_sequence(cell, torch.randn(5, 4, 3), torch.tensor([[0, 1], [1, 0]]))[0].shape == (5, 4, 5)
    out = cell(x, state=hx)
    assert not torch.allclose(out[0] if isinstance(out, tuple) else out,
                              (lambda o: o[0] if isinstance(o, tuple) else o)(cell(x)))
    # and so do the sequence runner and the model (they started from zeros, h0 unused: for an LSTM
    # over T=2 steps (h0, c0) was read as two per-step graphs)
    xs = torch.randn(2, 2, 4, 3)
    h0 = (torch.randn(2, 4, 5), torch.randn(2, 4, 5)) if isinstance(cell, LSTMCell) else torch.randn(2, 4, 5)
    for state_like in (h0, list(h0) if isinstance(h0, tuple) else [h0, h0]):
        with pytest.raises(TypeError, match=r"as edge_index.*run_sequence\(cell, x, state=h0\)"):
            run_sequence(cell, xs, state_like)
        with pytest.raises(TypeError, match=r"as edge_index.*model\(x, state=h0\)"):
            RecurrentGraphModel(cell)(xs, state_like)
    assert not torch.allclose(run_sequence(cell, xs, state=h0)[0], run_sequence(cell, xs)[0])
    # a torch.sparse adjacency is a graph, not a state: a dense cell in a common loop takes it
    adj = torch.sparse_coo_tensor(torch.tensor([[0, 1], [1, 0]]), torch.ones(2), (4, 4))
    for graph in (adj, adj.to_sparse_csr()):
        torch.testing.assert_close(run_sequence(cell, xs, graph)[0], run_sequence(cell, xs)[0])
        torch.testing.assert_close(RecurrentGraphModel(cell)(xs, graph)[0], run_sequence(cell, xs)[0])


def test_a_forward_hook_on_the_recurrent_map_sees_its_own_output():
    """Hooks on an operator see op(h) alone (W h + b), not the input side added into it; an
    output-changing hook acts on that term, as in a manual loop."""
    torch.manual_seed(0)
    cell = ElmanCell(3, 4)
    seen = []

    def hook(module, args, out):
        seen.append((args[0].detach().clone(), out.detach().clone()))
        return out * 0.5
    cell.hidden_map.register_forward_hook(hook)
    x = torch.randn(5, 2, 3)  # [T, N, F]
    out, h = run_sequence(cell, x)
    lin = cell.hidden_map.lin
    for h_prev, o in seen:
        torch.testing.assert_close(o, torch.nn.functional.linear(h_prev, lin.weight, lin.bias))
    # the manual loop of the same equations with the hook's halving
    ref, u = torch.zeros(2, 4), cell.input_map.lin
    for t in range(5):
        ref = torch.tanh(torch.nn.functional.linear(x[t], u.weight, u.bias)
                         + 0.5 * torch.nn.functional.linear(ref, lin.weight, lin.bias))
    torch.testing.assert_close(h, ref)


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_kwargs={"bias": False}), r"input_kwargs must not hold .bias.*pass bias=False, recurrent_bias=True"),
    (dict(hidden_kwargs={"bias": False}), r"hidden_kwargs must not hold 'bias'.*pass recurrent_bias=False"),
])
def test_a_bias_in_the_operators_kwargs_names_the_cells_option(kwargs, match):
    # was: "make_operator() got multiple values for keyword argument 'bias'"
    with pytest.raises(TypeError, match=match):
        GRUCell(3, 4, input_operator="gcn", hidden_operator="gcn", **kwargs)
    # the remedy: the input map's bias alone off (recurrent_bias follows bias unless given)
    cell = GRUCell(3, 4, input_operator="gcn", hidden_operator="gcn", bias=False, recurrent_bias=True)
    assert cell.input_map.bias is None and cell.hidden_map.bias is not None
    with pytest.raises(TypeError, match="set them inside the callable"):  # a callable: make_operator's advice
        ops = {"input_operator": "gcn", "hidden_operator": "gcn",
               ("input_operator" if "input_kwargs" in kwargs else "hidden_operator"): lambda i, o: KipfGCNConv(i, o)}
        GRUCell(3, 4, **ops, **kwargs)
