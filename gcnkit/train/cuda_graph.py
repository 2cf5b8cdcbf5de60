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
- **Python-side state is frozen** at the capture: a float learning rate changed later (by a
  scheduler), ``model.train()`` / ``model.eval()`` outside the step, or a graph whose
  ``edge_weight`` is written in place (eager code would normalize it anew) do not reach the
  replays. Capture a new step after such a change.

The graph keeps the addresses of what its kernels read, not references to the tensors. Inside
the capture, gcnkit's caches and sparse products record everything they hand out
(:func:`gcnkit.functional.cache.holding`), and the step object holds those for the graph's
lifetime: a cache evicting the normalized graph later cannot free memory that replays read.

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

from typing import Callable, Generic, Optional, TypeVar

import torch

from gcnkit.functional.cache import holding
from gcnkit.functional.validation import check_int

T = TypeVar("T")


class GraphedStep(Generic[T]):
    """``step()`` run eagerly for the first ``warmup`` calls (on a side stream, as capture needs:
    lazy initialisations, caches, the optimizer's state), captured as a CUDA graph at the next
    call and replayed from then on. Every call is one real step; each returns what ``step``
    returned (after the warm-up, the same tensors each time, overwritten by each replay).

    Args:
        step: the step function, with no arguments; it reads static tensors.
        warmup (int): eager calls before the capture (default 3; at least 1).
        device: the CUDA device of the step's tensors (default: the device of the CUDA tensors
            the first call returns, else the current device). A step on another device than
            this would be captured empty, so it is an error.
    """

    def __init__(self, step: Callable[[], T], warmup: int = 3, device=None):
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA graphs need a CUDA device, and CUDA is not available to this torch "
                               f"({torch.__version__}); call the step itself on the CPU")
        self.device = None if device is None else torch.device(device)
        if self.device is not None and self.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, got device={device!r}")
        if self.device is not None and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.step = step
        self.warmup = check_int("warmup", warmup, 1)
        self.calls = 0
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        self.outputs: Optional[T] = None
        self._held: list = []  # what the captured kernels read from gcnkit's caches
        self._stream: Optional[torch.cuda.Stream] = None

    def __call__(self):
        if self.graph is None and self.calls < self.warmup:
            out = self._eager()
        else:
            with torch.cuda.device(self.device):
                if self.graph is None:
                    self._capture()
                self.graph.replay()
            out = self.outputs
        self.calls += 1
        return out

    def _eager(self):
        with torch.cuda.device(self.device or torch.cuda.current_device()):
            if self._stream is None or self._stream.device != torch.device("cuda", torch.cuda.current_device()):
                self._stream = torch.cuda.Stream()
            stream, main = self._stream, torch.cuda.current_stream()
            stream.wait_stream(main)
            with torch.cuda.stream(stream):
                out = self.step()
            main.wait_stream(stream)
        self._check_device(out)
        return out

    def _check_device(self, out) -> None:
        """Sets the device from the step's CUDA outputs on the first call; refuses outputs on
        another CUDA device than a given one."""
        found = _cuda_devices(out)
        if self.device is None:
            self.device = found[0] if found else torch.device("cuda", torch.cuda.current_device())
        elif any(d != self.device for d in found):
            raise ValueError(f"the step returned tensors on {', '.join(map(str, found))} but it is to be "
                             f"captured on {self.device}: pass device= the step's device")

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize()
        stream = torch.cuda.current_stream()
        try:
            with holding() as held, torch.cuda.graph(graph):
                self.outputs = self.step()
        except RuntimeError as e:
            reason = str(e).strip()
            first = e.__context__
            if first is not None and not e.__suppress_context__ and "captur" in reason:
                # torch's capture_end raised while the step's own error was propagating: name both
                reason = f"{str(first).strip()} (then: {reason})"
            raise RuntimeError(f"capturing the step as a CUDA graph failed: {reason} (a captured "
                               f"step must not synchronise with the host or copy from unpinned host "
                               f"memory, and its optimizer must be capturable, e.g. Adam(..., "
                               f"capturable=True))") from e
        finally:
            torch.cuda.set_stream(stream)  # a failed capture_end skips torch's own restore
        self._held = held
        self.graph = graph

    def extra_repr(self) -> str:
        return f"warmup={self.warmup}, captured={self.graph is not None}"

    def __repr__(self) -> str:
        return f"GraphedStep({self.extra_repr()})"


def _cuda_devices(out) -> list:
    """The CUDA devices of the tensors in ``out`` (nested tuples, lists and dicts), in order."""
    found: list = []
    stack = [out]
    while stack:
        item = stack.pop(0)
        if isinstance(item, torch.Tensor):
            if item.is_cuda and item.device not in found:
                found.append(item.device)
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return found


def graphed(step: Callable[[], T], warmup: int = 3, device=None) -> GraphedStep[T]:
    """``step`` as a :class:`GraphedStep`: eager for ``warmup`` calls, then one CUDA graph replay
    per call."""
    return GraphedStep(step, warmup=warmup, device=device)
