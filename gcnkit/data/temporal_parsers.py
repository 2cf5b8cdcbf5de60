"""Parsers for the raw temporal-signal files (no downloading, no checksums).

File formats (as shipped by their publishers):

* ``chickenpox.json`` (PyG Temporal): ``{"edges": [[src, dst], ...],
  "node_ids": {county: index}, "FX": [[N values] * T]}``. 20 counties,
  102 directed edges including 20 self-loops, T = 521 weekly values. FX is
  already z-scored per county (mean 0, population std 1 over all 521 weeks).
* ``pedalme_london.json`` (PyG Temporal): ``{"edges": [[src, dst], ...],
  "weights": [E floats], "X": [[N values] * T]}``. 15 areas, 225 edges
  (complete graph with self-loops), T = 35.
* ``los_speed.csv`` (T-GCN): first row = 207 sensor ids, then one row per
  5-minute step (T = 2016, i.e. 7 days), speeds in mph.
* ``los_adj.csv`` (T-GCN): dense 207 x 207 weighted adjacency, no header,
  symmetric, ones on the diagonal.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from gcnkit.data.signal import TemporalSignal

PathLike = Union[str, "os.PathLike[str]"]


def _load_json(path: PathLike, keys: List[str]) -> Dict[str, Any]:
    try:
        with open(path, "r") as f:
            obj = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"'{path}' is not valid JSON ({e}); the file may be "
                         f"truncated. Delete it and download it again.") from e
    if not isinstance(obj, dict):
        raise ValueError(f"'{path}': expected a JSON object with keys {keys}.")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ValueError(f"'{path}': missing keys {missing} (found "
                         f"{sorted(obj)}).")
    return obj


def _matrix(value: Any, path: PathLike, key: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"'{path}': '{key}' is not a rectangular numeric "
                         f"table ({e}).") from e
    if arr.ndim != 2:
        raise ValueError(f"'{path}': '{key}' must be a [T, N] table, got "
                         f"shape {arr.shape}.")
    return arr


def _edges(value: Any, path: PathLike) -> Tensor:
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(
            arr.dtype, np.integer):
        raise ValueError(f"'{path}': 'edges' must be a list of integer "
                         f"[src, dst] pairs, got array of shape {arr.shape} "
                         f"and dtype {arr.dtype}.")
    return torch.from_numpy(np.ascontiguousarray(arr.T.astype(np.int64)))


def parse_chickenpox(path: PathLike) -> TemporalSignal:
    r"""Parses ``chickenpox.json``.

    Edge weights are ones, as in PyG Temporal's ``ChickenpoxDatasetLoader``.
    The series is :obj:`FX` as given (already standardized per county).
    """
    obj = _load_json(path, ["edges", "node_ids", "FX"])
    fx = _matrix(obj["FX"], path, "FX")
    edge_index = _edges(obj["edges"], path)
    ids = obj["node_ids"]
    names = [name for name, _ in sorted(ids.items(), key=lambda kv: kv[1])]
    return TemporalSignal(
        series=torch.from_numpy(fx).float(), edge_index=edge_index,
        edge_weight=torch.ones(edge_index.size(1)), name="chickenpox",
        num_nodes=fx.shape[1],
        meta={"node_names": names, "interval": "1 week",
              "source": "pytorch_geometric_temporal"})


def parse_pedalme(path: PathLike) -> TemporalSignal:
    r"""Parses ``pedalme_london.json`` (edges, :obj:`weights`, :obj:`X`)."""
    obj = _load_json(path, ["edges", "weights", "X"])
    x = _matrix(obj["X"], path, "X")
    edge_index = _edges(obj["edges"], path)
    weight = np.asarray(obj["weights"], dtype=np.float64)
    if weight.shape != (edge_index.size(1), ):
        raise ValueError(f"'{path}': {weight.size} weights for "
                         f"{edge_index.size(1)} edges.")
    return TemporalSignal(
        series=torch.from_numpy(x).float(), edge_index=edge_index,
        edge_weight=torch.from_numpy(weight).float(), name="pedalme",
        num_nodes=x.shape[1],
        meta={"interval": "1 week", "source": "pytorch_geometric_temporal"})


def _is_int(token: str) -> bool:
    token = token.strip().strip('"')
    return token.isdigit()


def read_los_speed(
        path: PathLike) -> Tuple[np.ndarray, Optional[List[int]]]:
    r"""Reads ``los_speed.csv``.

    Returns:
        :obj:`(speeds [T, N] float64 array, sensor_ids or None)`. The first
        row is taken as a header of sensor ids if every token is an integer
        >= 1000 (speeds never are); otherwise every row is data.
    """
    with open(path, "r") as f:
        first = f.readline()
    tokens = first.strip().split(",")
    header = bool(tokens) and all(_is_int(t) and int(t.strip().strip('"'))
                                  >= 1000 for t in tokens)
    try:
        speeds = np.loadtxt(path, delimiter=",", skiprows=int(header),
                            dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise ValueError(f"'{path}': not a numeric CSV table ({e}); the file "
                         f"may be corrupt.") from e
    ids = [int(t.strip().strip('"')) for t in tokens] if header else None
    if ids is not None and len(ids) != speeds.shape[1]:
        raise ValueError(f"'{path}': header has {len(ids)} sensor ids but the "
                         f"rows have {speeds.shape[1]} values.")
    return speeds, ids


def read_dense_adjacency(path: PathLike) -> np.ndarray:
    r"""Reads a header-less dense square adjacency CSV."""
    try:
        adj = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise ValueError(f"'{path}': not a numeric CSV matrix ({e}).") from e
    if adj.shape[0] != adj.shape[1]:
        raise ValueError(f"'{path}': adjacency must be square, got "
                         f"{adj.shape}.")
    return adj


def dense_to_edges(adj: np.ndarray) -> Tuple[Tensor, Tensor]:
    r"""Nonzero entries of a dense matrix as :obj:`(edge_index [2, E],
    edge_weight [E])` tensors, row-major order (self-loops kept)."""
    row, col = np.nonzero(adj)
    edge_index = torch.from_numpy(np.stack([row, col]).astype(np.int64))
    return edge_index, torch.from_numpy(adj[row, col]).float()


def parse_losloop(speed_path: PathLike,
                  adj_path: PathLike) -> TemporalSignal:
    r"""Parses Los-loop: ``los_speed.csv`` and ``los_adj.csv``.

    The adjacency's nonzeros (including its 207 unit self-loops) become
    :obj:`edge_index` / :obj:`edge_weight`.
    """
    speeds, ids = read_los_speed(speed_path)
    adj = read_dense_adjacency(adj_path)
    if adj.shape[0] != speeds.shape[1]:
        raise ValueError(f"'{adj_path}' is {adj.shape[0]}x{adj.shape[0]} but "
                         f"'{speed_path}' has {speeds.shape[1]} sensors.")
    edge_index, edge_weight = dense_to_edges(adj)
    meta: Dict[str, Optional[Any]] = {"sensor_ids": ids,
                                      "interval": "5 minutes",
                                      "source": "T-GCN"}
    return TemporalSignal(series=torch.from_numpy(speeds).float(),
                          edge_index=edge_index, edge_weight=edge_weight,
                          name="losloop", num_nodes=speeds.shape[1],
                          meta=meta)
