r"""A whole training step replayed as one CUDA graph.

On a GPU the recurrent models and the Kipf epoch are bound by kernel launches, not by arithmetic:
a Chickenpox epoch (465 steps of a 20-node graph) launches tens of thousands of small kernels,
each costing a few microseconds of CPU time. :func:`graphed` records one call of a step function
(forward, backward and the optimizer's step) as a CUDA graph the first time after a warm-up,
and from then on replays it: one launch for the whole step.

What a captured step needs (PyTorch's rules for whole-network capture):

- **static inputs**: the step reads the same tensors at every call; bring new data with
  ``static_x.copy_(batch)`` before the call. Its outputs are the same tensors at every replay,
  overwritten by the next one: read them (``float(loss)``) before calling again.
- a **capturable optimizer**: ``torch.optim.Adam(..., capturable=True)``;
- **no host synchronisation** inside the step (``.item()``, ``float()``, ``print`` of a
  tensor, data-dependent shapes). gcnkit's models make none once the graph's normalization is
  cached, and skip their NaN checks of ``x`` and the state while a graph is captured (see
  :func:`gcnkit.functional.validation.capturing`): check the data before copying it in.
- dropout and other random operations draw from the default CUDA generator, which graphs
  support: each replay draws new numbers.

Example::

    opt = torch.optim.Adam(model.parameters(), lr=0.01, capturable=True)
    x_static = x.clone()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x_static, edge_index, edge_weight)[0], y_static)
        loss.backward()
        opt.step()
        return loss

    step = graphed(step)
    for x in batches:
        x_static.copy_(x)
        print(float(step()))
"""
from __future__ import annotations

from typing import Callable, Optional, TypeVar

import torch

from gcnkit.functional.validation import check_int

T = TypeVar("T")


class GraphedStep:
    """``step()`` run eagerly for the first ``warmup`` calls (on a side stream, as capture needs:
    lazy initialisations, caches, the optimizer's state), captured as a CUDA graph at the next
    call and replayed from then on. Every call is one real step; each returns what ``step``
    returned (after the warm-up, the same tensors each time, overwritten by each replay).

    Args:
        step: the step function, with no arguments; it reads static tensors.
        warmup (int): eager calls before the capture (default 3; at least 1).
        device: the CUDA device (default: the current one).
    """

    def __init__(self, step: Callable[[], T], warmup: int = 3, device=None):
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA graphs need a CUDA device, and CUDA is not available to this torch "
                               f"({torch.__version__}); call the step itself on the CPU")
        self.device = torch.device("cuda", torch.cuda.current_device()) if device is None else torch.device(device)
        if self.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, got device={device!r}")
        self.step = step
        self.warmup = check_int("warmup", warmup, 1)
        self.calls = 0
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        self.outputs = None
        self._stream: Optional[torch.cuda.Stream] = None

    def __call__(self):
        with torch.cuda.device(self.device):
            if self.graph is None and self.calls < self.warmup:
                out = self._eager()
            else:
                if self.graph is None:
                    self._capture()
                self.graph.replay()
                out = self.outputs
        self.calls += 1
        return out

    def _side_stream(self) -> torch.cuda.Stream:
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        return self._stream

    def _eager(self):
        stream, main = self._side_stream(), torch.cuda.current_stream()
        stream.wait_stream(main)
        with torch.cuda.stream(stream):
            out = self.step()
        main.wait_stream(stream)
        return out

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize()
        try:
            with torch.cuda.graph(graph):
                self.outputs = self.step()
        except RuntimeError as e:
            raise RuntimeError(f"capturing the step as a CUDA graph failed: {e}. A captured step must not "
                               f"synchronise with the host (.item(), float(), data-dependent shapes) and "
                               f"its optimizer must be capturable (e.g. Adam(..., capturable=True))") from e
        self.graph = graph

    def extra_repr(self) -> str:
        return f"warmup={self.warmup}, captured={self.graph is not None}"

    def __repr__(self) -> str:
        return f"GraphedStep({self.extra_repr()})"


def graphed(step: Callable[[], T], warmup: int = 3, device=None) -> GraphedStep:
    """``step`` as a :class:`GraphedStep`: eager for ``warmup`` calls, then one CUDA graph replay
    per call."""
    return GraphedStep(step, warmup=warmup, device=device)
