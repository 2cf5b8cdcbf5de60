"""The :class:`TemporalSignal` container: node time series on a static graph."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import torch
from torch import Tensor


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
    """
    series: Tensor
    edge_index: Tensor
    edge_weight: Optional[Tensor]
    name: str
    num_nodes: int
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
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
