"""torch.func on the dense recurrent cells: the fused kernels step aside, the plain equations are
differentiated, and the gradients equal autograd's."""
import pytest
import torch
from torch.func import functional_call, grad

from gcnkit.nn.recurrent import ElmanCell, GRUCell, LSTMCell


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


@pytest.mark.parametrize("make", [lambda: GRUCell(4, 5), lambda: GRUCell(4, 5, reset="before"),
                                  lambda: LSTMCell(4, 5), lambda: ElmanCell(4, 5)])
def test_vmap_over_the_input_of_a_dense_cell_and_sequence(make):
    # README says torch.func's vmap works on the dense cells: the NaN check of x read a batched
    # tensor on the host ("vmap: ... data-dependent control flow"); it now checks the whole batch
    from torch.func import vmap

    from gcnkit.nn.recurrent import run_sequence

    torch.manual_seed(0)
    cell = make()
    h = lambda out: out[0] if isinstance(out, tuple) else out  # noqa: E731
    xs = torch.randn(3, 6, 4)
    torch.testing.assert_close(vmap(lambda x: h(cell(x)))(xs), torch.stack([h(cell(x)) for x in xs]))
    seqs = torch.randn(3, 7, 6, 4)
    torch.testing.assert_close(vmap(lambda x: run_sequence(cell, x)[0])(seqs),
                               torch.stack([run_sequence(cell, x)[0] for x in seqs]))
    xs[1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="x has 1 non-finite values"):  # still checked
        vmap(lambda x: h(cell(x)))(xs)
