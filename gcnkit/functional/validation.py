"""Input checks shared by every function and layer: each failure names the problem."""
from __future__ import annotations

import numbers
import threading
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import Tensor


def check_choice(name: str, value, choices: Sequence) -> None:
    """Raises ``ValueError`` listing the valid choices when ``value`` is not one of them."""
    if value not in choices:
        raise ValueError(f"unknown {name}={value!r}; choose one of {', '.join(map(repr, choices))}")


def check_device(name: str, device) -> None:
    """A device torch knows and this build can use (``cuda`` without CUDA is an error here,
    not an assertion deep inside the first ``.to()``)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown {name}={device!r} ({e})") from None
    if dev.type == "meta":  # (it would fail at the first value read, after the set-up)
        raise ValueError(f"{name}={device!r}: meta tensors hold no values to train or evaluate on")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={device!r} but CUDA is not available to this torch ({torch.__version__})")


def check_bool(name: str, value) -> bool:
    """``value`` as a plain ``bool``: ``True`` or ``False`` (NumPy's, a 0-d bool tensor, and the
    integers 0 and 1 too, as ``torch.nn.Linear(bias=0)`` takes them), not a string such as ``"no"``,
    ``None`` or another number, which ``bool()`` would silently turn into a flag."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, Tensor) and value.dim() == 0 and value.dtype == torch.bool:
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def check_int(name: str, value, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """``value`` as a plain ``int``: an integer (NumPy's, a 0-d integer tensor too), not a bool, float
    or string; within ``[minimum, maximum]`` where given."""
    if isinstance(value, Tensor) and value.dim() == 0 and not value.is_floating_point() \
            and value.dtype != torch.bool:
        value = int(value)
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and int(value) > maximum:  # (numbers.Integral declares only < and <=)
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


#: The largest seed: seeds become int64 values (torch's generators, tensors of seeds).
MAX_SEED = 2 ** 63 - 1


def check_seed(name: str, value) -> int:
    """A random seed: an integer in ``0 .. 2**63 - 1``."""
    return check_int(name, value, 0, MAX_SEED)


def check_real(name: str, value) -> float:
    """``value`` as a ``float``: a real number (NumPy's too), not a bool, string or ``None``;
    range checks are the caller's."""
    if isinstance(value, Tensor) and value.dim() == 0 and value.dtype != torch.bool and not value.is_complex():
        value = value.item()
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def check_self_loop_weight(value) -> float:
    """A layer's ``self_loop_weight``: a finite number >= 0 (not ``True``, ``"2"`` or NaN)."""
    value = check_real("self_loop_weight", value)
    if not 0.0 <= value < float("inf"):
        raise ValueError(f"self_loop_weight must be a finite number >= 0, got {value}")
    return value


def capturing(t: Tensor) -> bool:
    """Whether ``t`` is a CUDA tensor and the current stream is capturing a CUDA graph: then the
    values a graph will see are not there yet (each replay brings new ones), and reading one
    (``bool(...)``, ``.item()``) would synchronise, which a capture forbids."""
    if not t.is_cuda:
        return False
    if t.device.index is None or t.device.index == torch.cuda.current_device():
        return torch.cuda.is_current_stream_capturing()
    with torch.cuda.device(t.device):  # the stream that is current on t's device
        return torch.cuda.is_current_stream_capturing()


_vouched = threading.local()


@contextmanager
def finite_checked(*names: str) -> Iterator[None]:
    """Inside the block, :func:`check_finite` skips the values called ``names`` (``"x"``,
    ``"state"``): for a caller that checked them already, such as
    :func:`~gcnkit.nn.recurrent.tbptt_backward` (a chunk of its checked ``x``, the state it
    carries) or a training epoch over batches of checked windows, where each call's check would
    be a host synchronisation on CUDA. The previous setting is restored on exit."""
    before: frozenset = getattr(_vouched, "names", frozenset())
    _vouched.names = before | frozenset(names)
    try:
        yield
    finally:
        _vouched.names = before


def check_finite(name: str, t: Tensor) -> None:
    """Raises ``ValueError`` when ``t`` holds NaN or inf, with their counts. Skipped while a CUDA
    graph is being captured (see :func:`capturing`): the captured graph replays without it, so
    check the data before copying it into the graph's static inputs; and for the names a caller
    vouches for (:func:`finite_checked`). Inside ``torch.func`` transforms the values under the
    transforms' wrappers are checked (``vmap`` cannot read a batched tensor on the host)."""
    if (t.is_floating_point() or t.is_complex()) and not capturing(t) and name not in getattr(
            _vouched, "names", ()):
        while torch._C._are_functorch_transforms_active() and torch._C._functorch.is_functorch_wrapped_tensor(t):
            t = torch._C._functorch.get_unwrapped(t)  # (the whole batch, under vmap)
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            n_nan = int(torch.isnan(t).sum())
            raise ValueError(f"{name} has {int(bad.sum())} non-finite values ({n_nan} NaN, "
                             f"{int(bad.sum()) - n_nan} inf) of {t.numel()}")


class NodeIndexError(ValueError):
    """An ``edge_index`` refers to a node ``>= num_nodes`` (``max_index``, ``num_nodes`` kept, so
    that a caller that took ``num_nodes`` from the features can say so)."""

    def __init__(self, max_index: int, num_nodes: int, message: str):
        super().__init__(message)
        self.max_index, self.num_nodes = max_index, num_nodes


def check_edge_index(edge_index, num_nodes: Optional[int]) -> int:
    """Validates an ``edge_index`` of shape ``[2, E]`` and returns the number of nodes."""
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"edge_index must be a torch.Tensor of shape [2, E], got {type(edge_index).__name__}")
    if edge_index.is_sparse or edge_index.layout != torch.strided:
        raise TypeError("edge_index must be a dense [2, E] index tensor; pass sparse adjacency "
                        "matrices to the layers, which accept them directly")
    if edge_index.dim() == 2 and edge_index.size(0) == edge_index.size(1) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}: a dense adjacency "
                         f"matrix? pass adj.t().to_sparse_csr() (PyG's adj_t, rows = targets) or the edge list "
                         f"of torch_geometric.utils.dense_to_sparse(adj)")
    if edge_index.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"edge_index must have dtype torch.long (or int32), got {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    max_index = int(edge_index.max()) if edge_index.numel() else -1
    if edge_index.numel() and int(edge_index.min()) < 0:
        raise ValueError(f"edge_index contains negative node indices (min {int(edge_index.min())})")
    if num_nodes is None:
        return max_index + 1
    num_nodes = check_int("num_nodes", num_nodes, 0)
    if max_index >= num_nodes:
        raise NodeIndexError(max_index, num_nodes, f"edge_index refers to node {max_index} but num_nodes="
                                                   f"{num_nodes} (indices must be < num_nodes)")
    return num_nodes


def check_edge_weight(edge_weight: Optional[Tensor], num_edges: int) -> None:
    if edge_weight is None:
        return
    if not isinstance(edge_weight, Tensor):
        raise TypeError(f"edge_weight must be a Tensor of shape [E], got {type(edge_weight).__name__}")
    if edge_weight.layout != torch.strided:
        raise TypeError(f"edge_weight must be a dense [E] tensor, got layout {edge_weight.layout}; pass "
                        f"edge_weight.to_dense(), or the graph as one sparse adjacency (its values the weights)")
    if not edge_weight.is_floating_point():
        raise TypeError(f"edge_weight must be a floating-point tensor, got {edge_weight.dtype}")
    if edge_weight.dim() != 1 or edge_weight.numel() != num_edges:
        raise ValueError(f"edge_weight must have shape [E] = [{num_edges}] to match edge_index, "
                         f"got {tuple(edge_weight.shape)}")
    check_finite("edge_weight", edge_weight)


def check_features(x, in_channels: int, num_nodes: Optional[int] = None, name: str = "x") -> None:
    """Checks a feature matrix ``[N, F]`` / ``[*, N, F]`` (dense or torch.sparse)."""
    if isinstance(x, tuple) and len(x) == 2:
        raise TypeError(f"{name} must be a torch.Tensor, got a pair: gcnkit's convolutions take one feature "
                        f"matrix of the graph's nodes, not PyG's bipartite (x_src, x_dst)")
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"{name} must have shape [N, in_channels] or [*, N, in_channels], got {tuple(x.shape)}")
    if x.size(-1) != in_channels:
        raise ValueError(f"{name} has {x.size(-1)} features per node but the layer expects "
                         f"in_channels={in_channels} (shape {tuple(x.shape)})")
    if num_nodes is not None and x.size(-2) != num_nodes:
        raise ValueError(f"{name} has {x.size(-2)} nodes but the graph has {num_nodes}")


def check_dtype_matches(x: Tensor, module: torch.nn.Module, name: str = "x") -> None:
    """Dense floating ``x`` must have the module's parameter dtype (outside autocast, which mixes
    them itself): a ``TypeError`` naming both, not a GEMM's dtype error (or, for some widths, a
    silently promoted result)."""
    weight = next(module.parameters(), None)
    if (weight is not None and x.dtype != weight.dtype and x.is_floating_point()
            and not torch.is_autocast_enabled(x.device.type)):
        raise TypeError(f"{name} is {x.dtype} but {type(module).__name__}'s parameters are {weight.dtype}; "
                        f"convert one: module.to({x.dtype}) or {name}.to({weight.dtype})")


def refuse_functorch() -> None:
    """A clear error inside ``torch.func`` transforms (``grad``, ``vmap``, ``jacrev``, ...), which
    cannot run through gcnkit's custom autograd functions (sparse matmuls, fused gates)."""
    if torch._C._are_functorch_transforms_active():
        raise NotImplementedError(
            "gcnkit's sparse products and fused kernels are torch.autograd.Functions without "
            "torch.func support, so torch.func.grad/vmap/jacrev cannot run through gcnkit layers; "
            "use torch.autograd.grad (a Python loop instead of vmap), or torch_geometric.nn.GCNConv "
            "/ ChebConv (same state_dict layout)")
