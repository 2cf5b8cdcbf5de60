r"""The receptive field of a set of nodes: what a model's outputs at those nodes depend on.

A model of ``hops`` propagations (two GCN layers: 2; two Chebyshev layers of order ``K``:
:math:`2K`; an MLP: 0) computes node :math:`i`'s output from the nodes at most ``hops`` edges
upstream of :math:`i` (in the operator's pattern: row :math:`i` of :math:`\hat{A}` lists the nodes
it gathers from). A loss over some nodes (Kipf's 140 training nodes of Cora) is therefore the same
when the model runs on those upstream nodes only, with the whole graph's normalized operator
restricted to them (:math:`\hat{A}_{SS}`: the whole graph's degrees, not the subgraph's): after
``j`` propagations the values are exact on the nodes at most ``hops - j`` edges from the
targets, which after ``hops`` are the targets. Row-wise operations (weights, ReLU, dropout) do not
care. This is PyG's ``k_hop_subgraph`` with the normalization kept, and without sampling: exact.

Dropout on a field draws each mask at the whole graph's size and keeps the field's rows
(:class:`~gcnkit.functional.features.Rows`), so that a run on fields equals the run on the whole
graph with the same random state, mask for mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from gcnkit.functional.features import Rows
from gcnkit.functional.normalize import NormalizedGraph
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.validation import check_int

Features = Union[Tensor, CSRMatrix]


@dataclass(frozen=True)
class ReceptiveField:
    """Inputs restricted to the receptive field of ``targets``.

    Attributes:
        nodes (LongTensor): the field's nodes, sorted (ids in the whole graph).
        targets (LongTensor): where the target nodes are among ``nodes`` (the rows of the model's
            output to read).
        x: the features of ``nodes`` (a :class:`CSRMatrix` with its transpose built, or dense).
        graph (NormalizedGraph): the whole graph's operator restricted to ``nodes``.
        node_rows, value_rows (Rows or None): for dropout, the field's rows among the whole
            graph's nodes and (sparse ``x``) its stored values among the whole ``x``'s; ``None``
            when the field is the whole graph (``x`` and ``graph`` are then the whole ones).
        hops (int): the propagations it covers: a model of more would be wrong at the targets.
    """

    hops: int
    nodes: Tensor
    targets: Tensor
    x: Features
    graph: NormalizedGraph
    node_rows: Optional[Rows]
    value_rows: Optional[Rows]

    @property
    def whole(self) -> bool:
        """Whether the field is the whole graph (nothing restricted)."""
        return self.node_rows is None

    def check(self, x: Features, hops: int) -> None:
        """``x`` must be this field's features, for a model of at most :attr:`hops` propagations
        (a model called with ``field=``)."""
        if hops > self.hops and not self.whole:
            raise ValueError(f"the receptive field covers {self.hops} hops but the model propagates {hops} times: "
                             f"its outputs at the targets would miss nodes; build the field with hops={hops}")
        n = x.shape[0]
        if n != self.nodes.numel():
            raise ValueError(f"x has {n} nodes but the receptive field has {self.nodes.numel()}: pass field.x "
                             f"and field.graph with field=")

    def __repr__(self) -> str:
        total = self.graph.num_nodes if self.node_rows is None else self.node_rows.total  # (None: whole)
        return (f"ReceptiveField(hops={self.hops}, targets={self.targets.numel()}, "
                f"nodes={self.nodes.numel()} of {total})")


def dropout_rows(field: Optional[ReceptiveField], x: Features, hops: int) -> Tuple[Optional[Rows], Optional[Rows]]:
    """What a model called with ``field=`` passes to its dropout: the field's node rows and (sparse
    ``x``) value rows, after checking ``x`` and the model's ``hops`` against it; ``(None, None)``
    without a field."""
    if field is None:
        return None, None
    field.check(x, hops)
    return field.node_rows, field.value_rows


def receptive_nodes(graph: NormalizedGraph, targets: Tensor, hops: int) -> Tensor:
    """A boolean mask ``[N]`` of the nodes at most ``hops`` edges upstream of ``targets`` (the
    targets included), following the operator's stored pattern."""
    hops = check_int("hops", hops, 0)
    _check_graph(graph)
    n = graph.num_nodes
    targets = _check_targets(targets, n)
    mask = torch.zeros(n, dtype=torch.bool, device=graph.device)
    mask[targets.to(graph.device)] = True
    row, col = graph.adj.row, graph.adj.col
    for _ in range(hops):
        grown = mask.clone()
        grown[col[mask[row]]] = True
        if bool((grown == mask).all()):
            break
        mask = grown
    return mask


def restrict_graph(graph: NormalizedGraph, nodes: Tensor) -> NormalizedGraph:
    r""":math:`\hat{A}_{SS}`: the rows and columns of the (already normalized) operator at the sorted
    node ids ``nodes``, with ``parent`` set to the whole graph."""
    n = graph.num_nodes
    adj = graph.adj
    mask = torch.zeros(n, dtype=torch.bool, device=adj.device)
    mask[nodes] = True
    position = torch.cumsum(mask, 0) - 1
    keep = mask[adj.row] & mask[adj.col]
    m = int(nodes.numel())
    sub = CSRMatrix.from_coo(position[adj.row[keep]], position[adj.col[keep]], adj.value[keep], (m, m))
    parent = graph.parent if graph.parent is not None else graph
    return NormalizedGraph(sub, graph.norm, graph.self_loop_weight, graph.deg[nodes], graph.remove_self_loops,
                           parent=parent)


def select_rows(x: CSRMatrix, index: Tensor) -> Tuple[CSRMatrix, Tensor]:
    """Rows ``index`` of a CSR matrix, and the positions of their stored values in ``x.value``."""
    starts, ends = x.crow[index], x.crow[index + 1]
    counts = ends - starts
    total = int(counts.sum())
    crow = torch.zeros(index.numel() + 1, dtype=torch.long, device=x.crow.device)
    torch.cumsum(counts, 0, out=crow[1:])
    first = torch.repeat_interleave(starts - crow[:-1], counts, output_size=total)
    positions = first + torch.arange(total, device=x.crow.device)
    return CSRMatrix(crow, x.col[positions], x.value[positions], (index.numel(), x.shape[1])), positions


def receptive_field(graph: NormalizedGraph, x: Features, targets: Tensor, hops: int) -> ReceptiveField:
    r"""The receptive field of ``targets`` (node ids, or a boolean mask over the nodes) for a model
    of ``hops`` propagations over ``graph``, with ``x`` (features of every node) restricted to it.
    When the field covers every node (or there are no targets), it is the whole graph, unrestricted.

    Args:
        graph (NormalizedGraph): the whole graph.
        x (Tensor or CSRMatrix): :math:`(|\mathcal{V}|, F)`.
        targets (Tensor): node ids or a boolean mask ``[N]``.
        hops (int): the model's propagations, :math:`\geq 0`.

    Returns:
        ReceptiveField: the restricted inputs and where the targets are among them.
    """
    _check_graph(graph, whole=True)
    n = graph.num_nodes
    hops = check_int("hops", hops, 0)
    if not isinstance(x, (Tensor, CSRMatrix)) or len(x.shape) != 2:
        got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"x must be one graph's node features [N, F] (dense, torch.sparse or a CSRMatrix), got {got}")
    if x.shape[0] != n:
        raise ValueError(f"x has {x.shape[0]} nodes but the graph has {n}")
    if isinstance(x, Tensor) and x.layout in (torch.sparse_coo, torch.sparse_csr):
        # as the models take them (a CSRMatrix): a torch.sparse CSR x has no index_select, and a COO
        # one restricted as a tensor lost where its values sit in the whole x (dropout's masks)
        x = CSRMatrix.from_torch(x)
    targets = _check_targets(targets, n).to(graph.device)
    mask = receptive_nodes(graph, targets, hops)
    if targets.numel() == 0 or bool(mask.all()):
        return whole_graph(graph, x, targets, hops)
    nodes = mask.nonzero().view(-1)
    position = torch.cumsum(mask, 0) - 1
    sub_graph = restrict_graph(graph, nodes)
    sub_x: Features
    value_rows: Optional[Rows]
    if isinstance(x, CSRMatrix):
        sub_x, positions = select_rows(x, nodes.to(x.device))
        sub_x.t()  # the transpose for the backward pass, built once
        value_rows = Rows(positions, x.nnz)
    else:
        sub_x, value_rows = x.index_select(0, nodes.to(x.device)), None
    return ReceptiveField(hops, nodes, position[targets], sub_x, sub_graph, Rows(nodes, n), value_rows)


def whole_graph(graph: NormalizedGraph, x: Features, targets: Tensor, hops: int = 0) -> ReceptiveField:
    """The whole graph as a field of ``targets``: nothing restricted (for any number of hops)."""
    _check_graph(graph, whole=True)
    targets = _check_targets(targets, graph.num_nodes).to(graph.device)
    return ReceptiveField(hops, torch.arange(graph.num_nodes, device=graph.device), targets, x, graph, None, None)


def _check_graph(graph, whole: bool = False) -> None:
    if not isinstance(graph, NormalizedGraph):
        raise TypeError(f"a receptive field is taken in a NormalizedGraph (the operator the model multiplies by: "
                        f"resolve_graph(edge_index, edge_weight, num_nodes, norm=..., self_loop_weight=...) with "
                        f"the model's normalization), got {type(graph).__name__}")
    if whole and graph.parent is not None:  # its masks and "whole" would be the restriction's, not the graph's
        raise ValueError(f"graph is already restricted (a receptive field's graph, {graph.num_nodes} of "
                         f"{graph.parent.num_nodes} nodes): take the field in the whole graph")


def _check_targets(targets: Tensor, n: int) -> Tensor:
    """Node ids ``[T]``, from ids or a boolean mask over the ``n`` nodes (PyG's ``train_mask``)."""
    if isinstance(targets, Tensor) and targets.dtype == torch.bool and targets.shape == (n,):
        return targets.nonzero().view(-1)
    if isinstance(targets, Tensor) and targets.dtype == torch.uint8:  # ids, or an old-style 0/1 mask?
        raise ValueError("targets as uint8 are ambiguous (node ids, or a 0/1 mask as older PyG exports have): "
                         "pass ids as int64 or a mask as bool (mask.bool())")
    if not isinstance(targets, Tensor) or targets.dim() != 1 or targets.is_floating_point() \
            or targets.dtype == torch.bool:
        raise ValueError(f"targets must be a 1-D tensor of node ids or a boolean mask over the {n} nodes, got "
                         f"{tuple(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__}"
                         f"{f' {targets.dtype}' if isinstance(targets, Tensor) else ''}")
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= n):
        raise ValueError(f"targets hold node ids outside [0, {n}): min {int(targets.min())}, "
                         f"max {int(targets.max())}")
    return targets.long()
