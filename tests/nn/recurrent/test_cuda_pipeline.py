"""The recurrent pipeline on CUDA: no host synchronisation per time step, truncated BPTT's device
memory flat in T, the sparse products' gradients on the device. Skipped without CUDA."""
import pytest
import torch
import torch.nn.functional as F

from gcnkit.functional import CSRMatrix, csr_matmul
from gcnkit.nn.models import TGCN, GConvGRU, GConvLSTM
from gcnkit.nn.recurrent import tbptt_backward

pytestmark = pytest.mark.gpu


def _ring(n, device="cuda"):
    ei = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    ei = torch.cat([ei, ei.flip(0), torch.stack([torch.arange(n), (torch.arange(n) + 5) % n])], 1)
    return ei.to(device), torch.rand(ei.size(1), generator=torch.Generator().manual_seed(0)).to(device)


@pytest.mark.parametrize("cls", [TGCN, GConvGRU, GConvLSTM])
@pytest.mark.parametrize("batch, nodes, hidden", [(2, 11, 8), (32, 207, 64)])  # autograd gates; fused gates
def test_no_host_sync_per_time_step(cls, batch, nodes, hidden, cuda_syncs):
    ei, ew = _ring(nodes)
    model = cls(3, hidden, out_channels=2).cuda()

    def step(T):
        x = torch.randn(batch, T, nodes, 3, device="cuda")
        out, _ = model(x, ei, ew)
        out.square().mean().backward()

    step(4)  # normalization (cached on the graph), allocator, kernels
    syncs = {T: cuda_syncs(lambda: step(T)) for T in (3, 24)}
    assert len(syncs[3]) == len(syncs[24]), syncs  # a per-step sync would add 21 here
    # the NaN check of the input, once per call (at least one: the counting itself works)
    assert 1 <= len(syncs[3]) <= 2, syncs


def _peak_mib(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def test_truncated_bptt_device_memory_is_flat_in_T():
    n, hidden = 207, 64
    ei, ew = _ring(n)
    model = TGCN(1, hidden, out_channels=1).cuda()
    peaks = {}
    for T in (100, 800):
        x = torch.randn(1, T, n, 1, device="cuda")
        y = torch.randn(1, T, n, 1, device="cuda")
        peaks["tbptt", T] = _peak_mib(lambda: tbptt_backward(model, x, y, ei, ew, k=10, loss_fn=F.mse_loss))
        peaks["full", T] = _peak_mib(lambda: F.mse_loss(model(x, ei, ew)[0], y).backward())
    assert peaks["tbptt", 800] < 1.25 * peaks["tbptt", 100] + 1.0, peaks
    assert peaks["full", 800] > 4 * peaks["full", 100], peaks  # full BPTT does grow with T
    assert peaks["tbptt", 800] < 0.2 * peaks["full", 800], peaks


def test_csr_matmul_gradcheck_on_cuda():
    g = torch.Generator().manual_seed(0)
    r, c = torch.randint(0, 6, (20,), generator=g), torch.randint(0, 5, (20,), generator=g)
    v = torch.randn(20, dtype=torch.float64, generator=g)
    m = CSRMatrix.from_coo(r.cuda(), c.cuda(), v.cuda(), (6, 5))
    assert m.crow.device.type == "cuda"
    dense = torch.zeros(6, 5, dtype=torch.float64).index_put_((r, c), v, accumulate=True)
    torch.testing.assert_close(m.to_dense().cpu(), dense)
    x = torch.randn(5, 3, dtype=torch.float64, device="cuda", requires_grad=True)
    w = m.value.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, w: csr_matmul(m.with_values(w), x), (x, w))
    xb = torch.randn(4, 5, 3, dtype=torch.float64, device="cuda")
    torch.testing.assert_close(csr_matmul(m, xb).cpu(), dense @ xb.cpu())  # batched [B, N, C]
