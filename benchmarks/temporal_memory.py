"""Peak memory of a recurrent training step: tensors saved for backward (and device memory on CUDA),
for full and truncated BPTT."""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F


class SavedTensorPeak:
    """Peak bytes of tensors saved for backward that are alive at the same time."""

    def __init__(self):
        self.current = self.peak = 0

    def __enter__(self):
        tracker = self

        class Packed:
            def __init__(self, t):
                self.t, self.n = t, t.numel() * t.element_size()
                tracker.current += self.n
                tracker.peak = max(tracker.peak, tracker.current)

            def __del__(self):
                tracker.current -= self.n

        self._hooks = torch.autograd.graph.saved_tensors_hooks(Packed, lambda p: p.t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)


def tbptt_memory(T: int, k: Optional[int], N: int = 207, hidden: int = 64, device="cpu") -> Dict[str, float]:
    """Peak saved-tensor MiB of one training step on a sequence of length T (k=None: full BPTT);
    on CUDA also the peak device memory the step allocated above what was in use before it."""
    from gcnkit.nn.models import TGCN
    from gcnkit.nn.recurrent import tbptt_backward

    g = torch.Generator().manual_seed(0)
    ei = torch.stack([torch.arange(N), (torch.arange(N) + 1) % N])
    ei = torch.cat([ei, ei.flip(0)], 1)
    x, y = torch.randn(1, T, N, 1, generator=g), torch.randn(1, T, N, 1, generator=g)
    model = TGCN(1, hidden, out_channels=1).to(device)
    x, y, ei = x.to(device), y.to(device), ei.to(device)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with SavedTensorPeak() as mem:
        if k is None:
            F.mse_loss(model(x, ei)[0], y).backward()
        else:
            tbptt_backward(model, x, y, ei, k=k, loss_fn=F.mse_loss)
    out = {"T": T, "k": k, "saved_tensor_peak_mib": mem.peak / 2**20}
    if cuda:
        torch.cuda.synchronize(device)
        out["cuda_peak_mib"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return out
