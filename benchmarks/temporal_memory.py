"""Peak memory of a recurrent training step: tensors saved for backward (and device memory on CUDA),
for full and truncated BPTT."""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def _storage_key(t: Tensor) -> Tuple[tuple, int]:
    """``((device, address), bytes)`` of ``t``'s storage (per tensor for sparse ones)."""
    try:
        storage = t.untyped_storage()
        return (t.device, storage.data_ptr()), storage.nbytes()
    except (RuntimeError, NotImplementedError):  # (sparse tensors: no single storage)
        return ("id", id(t)), t.numel() * t.element_size()


class SavedTensorPeak:
    """Peak bytes of tensors saved for backward that are alive at the same time, each storage
    counted once: a tensor saved by several autograd nodes (a weight, a state that two products
    read) or views of one storage are one allocation. Storages of ``held`` tensors (the inputs,
    the parameters: memory the caller holds anyway) are not counted: a chunk of the input saved
    for backward is a view of the whole sequence."""

    def __init__(self, held: Iterable[Tensor] = ()):
        self.current = self.peak = 0
        self._refs: Dict[tuple, int] = {}
        self._held = {_storage_key(t)[0] for t in held}

    def _add(self, key: tuple, nbytes: int, delta: int) -> None:
        refs = self._refs.get(key, 0) + delta
        if refs == 0:
            del self._refs[key]
            self.current -= nbytes
        else:
            if refs == 1 and delta == 1:
                self.current += nbytes
                self.peak = max(self.peak, self.current)
            self._refs[key] = refs

    def __enter__(self):
        tracker = self

        class Packed:
            def __init__(self, t):
                self.t = t
                self.key, self.n = _storage_key(t)
                if self.key in tracker._held:
                    self.n = 0
                tracker._add(self.key, self.n, 1)

            def __del__(self):
                tracker._add(self.key, self.n, -1)

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
    with SavedTensorPeak(held=[x, y, ei, *model.parameters()]) as mem:
        if k is None:
            F.mse_loss(model(x, ei)[0], y).backward()
        else:
            tbptt_backward(model, x, y, ei, k=k, loss_fn=F.mse_loss)
    out = {"T": T, "k": k, "saved_tensor_peak_mib": mem.peak / 2**20}
    if cuda:
        torch.cuda.synchronize(device)
        out["cuda_peak_mib"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return out
