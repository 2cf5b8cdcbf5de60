"""torch.func on the dense recurrent cells: the fused kernels step aside, the plain equations are
differentiated, and the gradients equal autograd's."""
import pytest
import torch
from torch.func import functional_call, grad

from gcnkit.nn.recurrent import GRUCell, LSTMCell


@pytest.mark.parametrize("make", [lambda: GRUCell(3, 16), lambda: LSTMCell(3, 16)])
def test_torch_func_grad_of_a_dense_cell_equals_autograd(make):
    torch.manual_seed(0)
    cell = make().double()
    x = torch.randn(4, 600, 3, dtype=torch.float64)  # 38400 state entries: fused outside torch.func

    def loss(params):
        out = functional_call(cell, params, (x,))
        h = out[0] if isinstance(out, tuple) else out
        h = h[0] if isinstance(h, tuple) else h
        return h.square().sum()
    params = {k: v.detach() for k, v in cell.named_parameters()}
    g_func = grad(loss)(params)
    g_ref = torch.autograd.grad(loss(dict(cell.named_parameters())), list(cell.parameters()))
    for (name, _), ref in zip(cell.named_parameters(), g_ref):
        torch.testing.assert_close(g_func[name], ref, rtol=1e-10, atol=1e-12)
