"""The fused GRU gate functions: hand-written backward against autograd of the plain equations,
gradcheck (gradient parity with torch.nn cells: test_recurrent_cells.py)."""
import pytest
import torch

from gcnkit.nn.recurrent import fused
from gcnkit.nn.recurrent.gru_gates import gru_after, gru_gates_before, gru_update

H = 4
pytestmark = pytest.mark.usefixtures("gate_path")
ACTS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _inputs(dtype=torch.float64, lead=(3, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda w: torch.randn(*lead, w, dtype=dtype, generator=g).requires_grad_()  # noqa: E731
    return make(2 * H), make(H), make(3 * H), make(H)  # ux_g, ux_c, wh, h


def _reference_before(ux_g, wh, h, ux_c, wrh_fn, act):
    r, u = torch.sigmoid(ux_g + wh).chunk(2, -1)
    n = ACTS[act](ux_c + wrh_fn(r * h))
    return u * h + (1 - u) * n


def _reference_after(ux_g, ux_c, wh, h, act):
    r, u = torch.sigmoid(ux_g + wh[..., :2 * H]).chunk(2, -1)
    n = ACTS[act](ux_c + r * wh[..., 2 * H:])
    return u * h + (1 - u) * n


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_functions_equal_autograd_of_the_equations(act, dtype):
    ux_g, ux_c, wh3, h = _inputs(dtype)
    wh = wh3[..., :2 * H].detach().clone().requires_grad_()
    mix = torch.randn(H, H, dtype=dtype)  # a linear candidate map between the two functions
    grad = torch.randn(3, 5, H, dtype=dtype)
    tol = dict(atol=1e-6, rtol=1e-5) if dtype == torch.float32 else {}

    u, rh = gru_gates_before(ux_g + wh, h)  # the cell passes the sums, made by the maps' GEMMs
    ours = gru_update(ux_c + rh @ mix, u, h, act)
    ref = _reference_before(ux_g, wh, h, ux_c, lambda v: v @ mix, act)
    torch.testing.assert_close(ours, ref, **tol)
    leaves = (ux_g, wh, h, ux_c)
    for a, b in zip(torch.autograd.grad(ours, leaves, grad), torch.autograd.grad(ref, leaves, grad)):
        torch.testing.assert_close(a, b, **tol)

    ours = gru_after(ux_g, ux_c, wh3, h, act)
    ref = _reference_after(ux_g, ux_c, wh3, h, act)
    torch.testing.assert_close(ours, ref, **tol)
    leaves = (ux_g, ux_c, wh3, h)
    for a, b in zip(torch.autograd.grad(ours, leaves, grad), torch.autograd.grad(ref, leaves, grad)):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_gradcheck(act):
    ux_g, ux_c, wh3, h = _inputs(lead=(2, 3), seed=1)
    wh = wh3[..., :2 * H].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: gru_gates_before(a + b, c), (ux_g, wh, h))
    u = torch.rand(2, 3, H, dtype=torch.float64).requires_grad_()
    wrh = torch.randn(2, 3, H, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c, d: gru_update(a + b, c, d, act), (ux_c, wrh, u, h))
    assert torch.autograd.gradcheck(lambda a, b, c, d: gru_after(a, b, c, d, act), (ux_g, ux_c, wh3, h))


def test_gates_with_one_output_unused():
    ux_g, _, wh3, h = _inputs()
    wh = wh3[..., :2 * H].detach().clone().requires_grad_()
    u, rh = gru_gates_before(ux_g + wh, h)
    r_ref, u_ref = torch.sigmoid(ux_g + wh).chunk(2, -1)
    for ours, ref in ((u, u_ref), (rh, r_ref * h)):
        leaves = (ux_g, wh, h)
        got = torch.autograd.grad(ours.sum(), leaves, allow_unused=True, retain_graph=True)
        want = torch.autograd.grad(ref.sum(), leaves, allow_unused=True, retain_graph=True)
        for a, b in zip(got, want):
            if b is None:  # h does not reach u
                assert a is None or not a.any()
            else:
                torch.testing.assert_close(a, b)


def test_cpu_tanh_is_tanh():
    """On CPU the candidate's tanh is computed as 2σ(2x) − 1: the same values to float32 rounding,
    saturating correctly at ±1 for large inputs."""
    x = torch.cat([torch.linspace(-30, 30, 2001), torch.tensor([-1e4, 1e4, 0.0, 1e-8])])
    zeros = torch.zeros(x.numel(), H)
    out = gru_update(x[:, None].expand(-1, H).contiguous(), zeros, zeros, "tanh")  # u = 0: h' = n
    torch.testing.assert_close(out[:, 0], torch.tanh(x), atol=2e-7, rtol=0)
    assert torch.isfinite(out).all()


def test_path_is_chosen_by_state_size(monkeypatch):
    monkeypatch.setattr(fused, "FUSED_MIN_NUMEL", 40)
    ux_g, ux_c, wh3, h = _inputs(lead=(3, 5))  # 60 state entries: fused
    assert type(gru_after(ux_g, ux_c, wh3, h).grad_fn).__name__ == "_AfterBackward"
    small = [t[:1].detach().requires_grad_() for t in (ux_g, ux_c, wh3, h)]  # 20: autograd
    assert type(gru_after(*small).grad_fn).__name__ != "_AfterBackward"



def test_double_backward(gate_path):
    """Autograd's path is differentiable twice; the fused one refuses clearly (first order only)."""
    ux_g, ux_c, wh3, h = _inputs()
    out = gru_after(ux_g, ux_c, wh3, h)
    if gate_path == "fused":
        with pytest.raises(RuntimeError, match="double backward.*first-order only"):
            torch.autograd.grad(out.square().sum(), h, create_graph=True)
    else:
        (g,) = torch.autograd.grad(out.square().sum(), h, create_graph=True)
        ref = _reference_after(ux_g, ux_c, wh3, h, "tanh")
        (g_ref,) = torch.autograd.grad(ref.square().sum(), h, create_graph=True)
        torch.testing.assert_close(torch.autograd.grad(g.sum(), ux_g)[0], torch.autograd.grad(g_ref.sum(), ux_g)[0])


def test_double_backward_is_refused_on_the_fused_path_and_exact_on_autograd(gate_path):
    """A gradient penalty differentiates the gates twice: the fused backward passes are first
    order only and must say so rather than return constant Jacobians (torch's
    once_differentiable raises only when the incoming gradient requires grad)."""
    from gcnkit.nn.recurrent import GRUCell, LSTMCell, run_sequence

    torch.manual_seed(0)
    for cell in (GRUCell(3, H, reset="before").double(), GRUCell(3, H).double(), LSTMCell(3, H).double()):
        x = torch.randn(3, 5, 3, dtype=torch.float64)  # [T, N, F]: the recurrent maps used too
        y = run_sequence(cell, x)[0].sum()  # graph-free cells: no edge_index
        params = [p for p in cell.parameters()]
        if gate_path == "fused":
            with pytest.raises(RuntimeError, match="double backward.*FUSED_MIN_NUMEL"):
                torch.autograd.grad(y, params, create_graph=True)
        else:
            grads = torch.autograd.grad(y, params, create_graph=True)
            penalty = sum(g.square().sum() for g in grads)
            second = torch.autograd.grad(penalty, params, allow_unused=True)
            assert any(s is not None and s.abs().sum() > 0 for s in second)
