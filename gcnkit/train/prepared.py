"""A dataset prepared once for the runs of node classification (features, splits, graphs and
receptive fields, each built once)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Protocol

import torch

from gcnkit.functional.features import row_normalize_features
from gcnkit.functional.graph_input import resolve_graph
from gcnkit.functional.receptive_field import ReceptiveField, receptive_field
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.validation import check_finite

if TYPE_CHECKING:
    from gcnkit.train.node_classification import TrainConfig


class LayeredModel(Protocol):
    """What :class:`PreparedData` reads of a model (a :class:`~gcnkit.nn.models.GCN`): its layers
    (the last one's normalization options) and its number of propagations."""

    @property
    def convs(self) -> torch.nn.ModuleList: ...
    @property
    def hops(self) -> int: ...


class PreparedData:
    """A dataset prepared once for many runs: features (row-normalized, sparse), masks as index
    tensors, one normalized graph per propagation rule (built lazily, kept)."""

    def __init__(self, data, config: TrainConfig):
        device = torch.device(config.device)
        _check_data(data)
        x = data.x.float()
        sparse_input = x.layout != torch.strided
        if config.sparse_features or sparse_input:
            x = CSRMatrix.from_torch(x if sparse_input else x.to_sparse_csr())
        norm = config.feature_norm
        if norm == "auto":  # bag-of-words features (Planetoid) are row-normalized, as Kipf does
            norm = "row" if bool(((x.value if isinstance(x, CSRMatrix) else x) >= 0).all()) else "none"
        self.feature_norm = norm
        if config.sparse_features:
            x = row_normalize_features(x) if norm == "row" else x
            x = x.to(device)
            x.t()  # build the transpose for the backward pass once
        else:
            x = x.to_dense() if isinstance(x, CSRMatrix) else x
            x = (row_normalize_features(x) if norm == "row" else x).to(device)
        self.x = x
        self.y = data.y.to(device)
        self.num_nodes = int(data.num_nodes)
        self.num_features = int(data.x.size(1))
        self.num_classes = int(getattr(data, "num_classes", None) or int(data.y.max()) + 1)
        self.edge_index = data.edge_index.to(device)
        self.edge_weight = getattr(data, "edge_weight", None)
        if self.edge_weight is not None:
            self.edge_weight = self.edge_weight.to(device)
        self.train_idx = data.train_mask.nonzero().view(-1).to(device)
        self.val_idx = data.val_mask.nonzero().view(-1).to(device)
        self.test_idx = data.test_mask.nonzero().view(-1).to(device)
        self._graphs: Dict[tuple, object] = {}
        self._fields: Dict[tuple, ReceptiveField] = {}

    @staticmethod
    def _graph_key(model: LayeredModel) -> tuple:
        conv = model.convs[-1]
        return (getattr(conv, "norm", "sym"), float(getattr(conv, "self_loop_weight", 0.0)),
                bool(getattr(conv, "remove_self_loops", False)))

    def graph_for(self, model: LayeredModel):
        """The normalized graph each layer of ``model`` needs (computed once per rule)."""
        key = self._graph_key(model)
        if key not in self._graphs:
            self._graphs[key] = resolve_graph(self.edge_index, self.edge_weight, self.num_nodes,
                                              norm=key[0], self_loop_weight=key[1],
                                              remove_self_loops=key[2], cache=None)
        return self._graphs[key]

    def field_for(self, model: LayeredModel, split: str) -> ReceptiveField:
        """The receptive field of the ``"train"`` or ``"val"`` nodes for ``model`` (a :class:`GCN`;
        built once per graph, split and number of hops)."""
        hops = model.hops
        key = (self._graph_key(model), split, hops)
        if key not in self._fields:
            targets = {"train": self.train_idx, "val": self.val_idx}[split]
            self._fields[key] = receptive_field(self.graph_for(model), self.x, targets, hops)
        return self._fields[key]


def _check_data(data) -> None:
    """What a run needs of ``data``: finite features, one class label in ``[0, num_classes)`` per
    node, and boolean masks over the nodes, with training nodes (NaN features or labels out of
    range would train into NaN or be scored silently wrong)."""
    n = int(data.num_nodes)
    x = data.x
    if x.dim() != 2 or x.size(0) != n:
        raise ValueError(f"data.x must have shape [num_nodes={n}, F], got {tuple(x.shape)}")
    if x.layout == torch.strided:
        check_finite("data.x", x)
    elif x.layout in (torch.sparse_coo, torch.sparse_csr):
        check_finite("data.x", (x.coalesce() if x.layout == torch.sparse_coo else x).values())
    y = data.y
    if y is None or y.dim() != 1 or y.size(0) != n or y.is_floating_point() or y.dtype == torch.bool:
        got = None if y is None else f"{tuple(y.shape)} {y.dtype}"
        raise ValueError(f"data.y must hold one integer class label per node ([{n}]), got {got}")
    used = torch.zeros(n, dtype=torch.bool, device=y.device)
    for name in ("train_mask", "val_mask", "test_mask"):
        mask = getattr(data, name, None)  # bool, or uint8 0/1 as older PyG and DGL exports have
        if mask is None or mask.dtype not in (torch.bool, torch.uint8) or mask.shape != (n,) \
                or (mask.dtype == torch.uint8 and bool((mask > 1).any())):
            got = None if mask is None else f"{tuple(mask.shape)} {mask.dtype}"
            raise ValueError(f"data.{name} must be a boolean mask over the {n} nodes, got {got}")
        if name == "train_mask" and not bool(mask.any()):
            raise ValueError("data.train_mask selects no node: there is nothing to train on")
        used |= mask.bool().to(y.device)
    # the labels the run reads (other nodes may hold -1 for "unlabelled", a common convention)
    num_classes = getattr(data, "num_classes", None)
    low, high = int(y[used].min()), int(y[used].max())
    if low < 0 or (num_classes is not None and high >= int(num_classes)):
        raise ValueError(f"data.y has labels in [{low}, {high}] on the masked nodes, outside [0, num_classes"
                         f"{'' if num_classes is None else f'={int(num_classes)}'})")
