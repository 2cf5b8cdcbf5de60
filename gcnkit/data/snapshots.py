r"""PyTorch Geometric Temporal's snapshot signals as the tensors gcnkit's recurrent models take.

PyG Temporal iterates a signal (``StaticGraphTemporalSignal``, ``DynamicGraphTemporalSignal``,
``DynamicGraphStaticSignal``) snapshot by snapshot, each a :class:`torch_geometric.data.Data`
with ``x``, ``edge_index``, ``edge_attr`` (the edge weights) and ``y``, and calls its cell once
per snapshot. gcnkit's models take the whole sequence in one call:
:func:`from_snapshots` stacks the snapshots into ``x`` ``[T, N, F]`` and ``y`` ``[T, N, ...]``
and gives the graph once when it is the same at every step (then it is normalized once for the
sequence), or as per-step lists when it changes::

    from torch_geometric_temporal.dataset import ChickenpoxDatasetLoader
    from gcnkit.data import from_snapshots

    signal = ChickenpoxDatasetLoader().get_dataset(lags=4)
    x, y, edge_index, edge_weight = from_snapshots(signal)      # x [T, N, 4], y [T, N]
    out, state = model(x, edge_index, edge_weight)               # out [T, N, out_channels]

Any iterable of ``Data``-like snapshots works (a plain list of ``Data`` objects too); nothing
here imports PyG Temporal.
"""
from __future__ import annotations

from typing import Any, Iterable, List, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from gcnkit.data.signal import _tensor


class SnapshotSequence(NamedTuple):
    """What :func:`from_snapshots` returns: unpack as ``x, y, edge_index, edge_weight``."""

    x: Tensor  #: ``[T, N, F]``
    y: Optional[Tensor]  #: ``[T, N, ...]``, or ``None`` when the snapshots have no targets
    edge_index: Union[Tensor, List[Tensor]]  #: ``[2, E]``, or a list of ``T`` per-step graphs
    edge_weight: Union[Optional[Tensor], List[Optional[Tensor]]]  #: ``[E]`` / ``None``, or per step


def _as_tensor(value: Any, what: str, t: int) -> Optional[Tensor]:
    """A snapshot's field as a tensor (NumPy arrays converted, as TemporalSignal does), or None."""
    return None if value is None else _tensor(what, value, f"snapshot {t}")


def _edge_weights(snap: Any, num_edges: int, t: int) -> Optional[Tensor]:
    """A snapshot's edge weights ``[E]``: its ``edge_attr`` (PyG Temporal's field) or
    ``edge_weight`` (PyG's, e.g. ``GCNNorm``'s), ``[E, 1]`` squeezed; both must agree."""
    found = {}
    for what in ("edge_attr", "edge_weight"):
        value = _as_tensor(getattr(snap, what, None), what, t)
        if value is None:
            continue
        if value.dim() == 2 and value.size(1) == 1:
            value = value[:, 0]
        if value.dim() != 1 or value.numel() != num_edges:
            raise ValueError(f"snapshot {t}: {what} must hold one weight per edge ([E] = [{num_edges}] or "
                             f"[E, 1]); gcnkit's recurrent models take edge weights, not edge features; got "
                             f"shape {tuple(value.shape)}")
        found[what] = value
    if len(found) == 2 and not torch.equal(found["edge_attr"], found["edge_weight"].to(found["edge_attr"].dtype)):
        raise ValueError(f"snapshot {t} has both edge_attr and edge_weight, with different values: which are "
                         f"the edge weights is ambiguous; keep one of them")
    return next(iter(found.values()), None)


def _same(tensors: Sequence[Optional[Tensor]]) -> bool:
    first = tensors[0]
    if first is None:
        return all(t is None for t in tensors)
    return all(t is first or (t is not None and t.shape == first.shape and torch.equal(t, first))
               for t in tensors[1:])


def from_snapshots(snapshots: Iterable) -> SnapshotSequence:
    r"""Stacks the snapshots of a PyTorch Geometric Temporal signal (or any iterable of
    :class:`~torch_geometric.data.Data`-like objects with ``x``, ``edge_index``, optional edge
    weights ``edge_attr`` (PyG Temporal's field) or ``edge_weight`` (PyG's), and optional ``y``)
    into one sequence for gcnkit's models.

    The graph comes back as one ``edge_index`` / ``edge_weight`` when every snapshot has the same
    (equal values), else as lists of ``T`` per-step tensors, which the models accept as they are.
    Features are float32 as PyG Temporal makes them; ``y`` keeps the snapshots' dtype.

    Args:
        snapshots (Iterable): A PyG Temporal signal or ``T`` snapshots.

    Returns:
        SnapshotSequence: ``(x, y, edge_index, edge_weight)``, shaped as below (``y`` ``None``
        without targets).

    Raises:
        ValueError: no snapshot, a snapshot without ``x`` or ``edge_index``, node counts or feature
            widths that change between snapshots (a sequence has one node set), targets present
            in some snapshots only or of changing shapes, multi-column edge features, an
            ``edge_attr`` and an ``edge_weight`` that differ.

    Shapes:
        - **output:** ``x`` :math:`(T, N, F)` (a 1-D ``x`` per snapshot gives :math:`F = 1`), ``y``
          :math:`(T, N, *)`, ``edge_index`` :math:`(2, E)` or ``T`` of :math:`(2, E_t)`,
          ``edge_weight`` :math:`(E)` or ``T`` of :math:`(E_t)`
    """
    if isinstance(snapshots, (Tensor, np.ndarray, str, bytes)) or not isinstance(snapshots, Iterable):
        raise TypeError(f"from_snapshots takes a PyG Temporal signal or an iterable of Data snapshots, "
                        f"got {type(snapshots).__name__}")
    xs: List[Tensor] = []
    ys: List[Optional[Tensor]] = []
    graphs: List[Tensor] = []
    weights: List[Optional[Tensor]] = []
    for t, snap in enumerate(snapshots):
        x = _as_tensor(getattr(snap, "x", None), "x", t)
        ei = _as_tensor(getattr(snap, "edge_index", None), "edge_index", t)
        if x is None or ei is None:
            raise ValueError(f"snapshot {t} has no {'x' if x is None else 'edge_index'}: gcnkit's models "
                             f"need node features and a graph at every step")
        x = x.unsqueeze(-1) if x.dim() == 1 else x
        if x.dim() != 2:
            raise ValueError(f"snapshot {t}: x must have shape [N, F] or [N], got {tuple(x.shape)}")
        if xs and x.shape != xs[0].shape:
            raise ValueError(f"snapshot {t}: x has shape {tuple(x.shape)} but snapshot 0 had "
                             f"{tuple(xs[0].shape)}: a sequence needs the same nodes and features at every step")
        xs.append(x.float() if not x.is_floating_point() else x)
        ys.append(_as_tensor(getattr(snap, "y", None), "y", t))
        graphs.append(ei.long() if ei.dtype != torch.long else ei)
        weights.append(_edge_weights(snap, ei.size(-1), t))
    if not xs:
        raise ValueError("from_snapshots got no snapshot")
    present = [y is not None for y in ys]
    if any(present) and not all(present):
        raise ValueError(f"snapshot {present.index(not present[0])} has {'no ' if present[0] else ''}y "
                         f"but snapshot 0 {'has' if present[0] else 'has none'}: targets at every step or at none")
    targets = [y for y in ys if y is not None]  # (all of ys, or none)
    if all(present) and any(y.shape != targets[0].shape for y in targets):
        shapes = sorted({tuple(y.shape) for y in targets})
        raise ValueError(f"the snapshots' y have different shapes {shapes}: they cannot be stacked")
    y = torch.stack(targets) if all(present) else None
    x = torch.stack(xs)
    if _same(graphs) and _same(weights):
        return SnapshotSequence(x, y, graphs[0], weights[0])
    return SnapshotSequence(x, y, graphs, weights)
