"""The LSTM gate function: fused backward and autograd of the equations against a plain
reference, gradcheck (gradient parity with torch.nn cells: test_recurrent_cells.py)."""
import pytest
import torch

from gcnkit.nn.recurrent.lstm_gates import lstm_gates

H = 4
pytestmark = pytest.mark.usefixtures("gate_path")
ACTS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _reference(ux, wh, s, act, peephole=None):
    zg, zf, zc, zo = (ux + wh).split(H, -1)
    if peephole is not None:
        zg, zf = zg + peephole[0] * s, zf + peephole[1] * s
    s_new = torch.sigmoid(zf) * s + torch.sigmoid(zg) * ACTS[act](zc)
    if peephole is not None:
        zo = zo + peephole[2] * s_new
    return torch.tanh(s_new) * torch.sigmoid(zo), s_new


def _inputs(dtype=torch.float64, lead=(3, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda w: torch.randn(*lead, w, dtype=dtype, generator=g).requires_grad_()  # noqa: E731
    return make(4 * H), make(4 * H), make(H)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_gates_equal_autograd_of_the_equations(act, dtype, peephole):
    ux, wh, s = _inputs(dtype)
    w = torch.randn(3, H, dtype=dtype, requires_grad=True) if peephole else None
    tol = dict(atol=1e-6, rtol=1e-5) if dtype == torch.float32 else {}
    ours = lstm_gates(ux + wh, s, act, w)  # the cell passes the sum, made by the map's GEMM
    ref = _reference(ux, wh, s, act, w)
    leaves = [ux, wh, s] + ([w] if peephole else [])
    grads = [torch.randn_like(r) for r in ref]
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, **tol)
    for a, b in zip(torch.autograd.grad(ours, leaves, grads), torch.autograd.grad(ref, leaves, grads)):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_gradcheck(act):
    ux, wh, s = _inputs(lead=(2, 3), seed=1)
    w = torch.randn(3, H, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: lstm_gates(a + b, c, act), (ux, wh, s))
    assert torch.autograd.gradcheck(lambda a, b, c, d: lstm_gates(a + b, c, act, d), (ux, wh, s, w))


@pytest.mark.parametrize("used", [0, 1])
@pytest.mark.parametrize("peephole", [False, True])
def test_one_output_unused(used, peephole):
    ux, wh, s = _inputs()
    w = torch.randn(3, H, dtype=torch.float64, requires_grad=True) if peephole else None
    leaves = [ux, wh, s] + ([w] if peephole else [])
    got = torch.autograd.grad(lstm_gates(ux + wh, s, "tanh", w)[used].sum(), leaves)
    want = torch.autograd.grad(_reference(ux, wh, s, "tanh", w)[used].sum(), leaves)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)

