"""The :class:`TemporalSignal` container: node time series on a static graph."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import Tensor

from gcnkit.functional.validation import check_edge_weight, check_int


@dataclass
class TemporalSignal:
    r"""Node signals over time on a fixed graph.

    Attributes:
        series (Tensor): float32 :obj:`[T, N]` or :obj:`[T, N, F]`: time
            steps, nodes, (features).
        edge_index (LongTensor): :obj:`[2, E]`.
        edge_weight (Tensor, optional): float32 :obj:`[E]`.
        name (str): Dataset name.
        num_nodes (int): :obj:`N`.
        meta (dict): Extra information (node ids, sampling interval, ...).

    NumPy arrays given for :obj:`series`, :obj:`edge_index` or
    :obj:`edge_weight` are converted with :func:`torch.as_tensor` (as
    :func:`~gcnkit.data.windows.make_windows` does); other non-tensors are a
    :class:`TypeError`. :obj:`num_nodes` must be an integer. As everywhere in
    gcnkit (:func:`~gcnkit.functional.normalize_adjacency`),
    :obj:`edge_weight` must be floating-point and finite: integer weights
    are a :class:`TypeError` (convert them with :obj:`.float()`), NaN / inf a
    :class:`ValueError`.
    """
    series: Tensor
    edge_index: Tensor
    edge_weight: Optional[Tensor]
    name: str
    num_nodes: int
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.series = _tensor("series", self.series, self.name)
        self.edge_index = _tensor("edge_index", self.edge_index, self.name)
        if self.edge_weight is not None:
            self.edge_weight = _tensor("edge_weight", self.edge_weight, self.name)
        self.num_nodes = _named(self.name, check_int, "num_nodes", self.num_nodes, 1)
        if self.series.dim() not in (2, 3):
            raise ValueError(f"{self.name}: series must be [T, N] or [T, N, F]"
                             f", got shape {tuple(self.series.shape)}.")
        if self.series.size(1) != self.num_nodes:
            raise ValueError(f"{self.name}: series has {self.series.size(1)} "
                             f"nodes, expected num_nodes={self.num_nodes}.")
        if self.edge_index.dim() != 2 or self.edge_index.size(0) != 2:
            raise ValueError(f"{self.name}: edge_index must be [2, E], got "
                             f"{tuple(self.edge_index.shape)}.")
        if self.edge_index.dtype != torch.long:
            raise ValueError(f"{self.name}: edge_index must be int64.")
        if self.edge_index.numel() and (
                int(self.edge_index.min()) < 0
                or int(self.edge_index.max()) >= self.num_nodes):
            raise ValueError(f"{self.name}: edge_index refers to nodes outside"
                             f" [0, {self.num_nodes}).")
        if self.edge_weight is not None and (
                self.edge_weight.shape != (self.edge_index.size(1), )):
            raise ValueError(f"{self.name}: edge_weight must be [E] = "
                             f"[{self.edge_index.size(1)}], got "
                             f"{tuple(self.edge_weight.shape)}.")
        # floating and finite, as normalize_adjacency requires
        _named(self.name, check_edge_weight, self.edge_weight, self.edge_index.size(1))

    @property
    def num_timesteps(self) -> int:
        r"""Number of time steps :obj:`T`."""
        return self.series.size(0)

    @property
    def num_features(self) -> int:
        r"""Features per node and step (1 for a :obj:`[T, N]` series)."""
        return 1 if self.series.dim() == 2 else self.series.size(2)

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)

    def __repr__(self) -> str:
        w = "None" if self.edge_weight is None else f"[{self.num_edges}]"
        return (f"TemporalSignal(name={self.name!r}, series="
                f"{list(self.series.shape)}, edge_index="
                f"{list(self.edge_index.shape)}, edge_weight={w}, "
                f"num_nodes={self.num_nodes})")


def _tensor(field_name: str, value: Any, name: str) -> Tensor:
    """``value`` as a tensor: a tensor as is, a NumPy array converted, anything else refused."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value)
    raise TypeError(f"{name}: {field_name} must be a torch.Tensor or a NumPy array, got "
                    f"{type(value).__name__}")


def _named(name: str, check, *args):
    """``check(*args)`` with the dataset's name in front of its error message."""
    try:
        return check(*args)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: {e}") from None
