"""Input checks of :mod:`gcnkit.functional.chebyshev`: the graph it needs, mini-batch graph ids."""
from __future__ import annotations

import torch
from torch import Tensor

from gcnkit.functional.normalize import NormalizedGraph


def check_laplacian_graph(graph: NormalizedGraph, fn: str) -> None:
    r"""The Chebyshev functions build :math:`L = I - S` from :math:`S = D^{-1/2} A D^{-1/2}` without
    added self-loops: a ``ValueError`` saying how to make that graph for any other (the defaults
    of ``normalize_adjacency`` add self-loops, which would silently give another :math:`L`)."""
    if not isinstance(graph, NormalizedGraph):
        raise TypeError(f"{fn} takes a NormalizedGraph, got {type(graph).__name__}")
    if graph.norm != "sym" or graph.self_loop_weight != 0.0:
        raise ValueError(f"{fn} needs the graph of L = I - D^-1/2 A D^-1/2 (norm='sym', no added self-loops), "
                         f"got one made with norm={graph.norm!r}, self_loop_weight={graph.self_loop_weight}; "
                         f"build it with normalize_adjacency(edge_index, edge_weight, num_nodes, norm='sym', "
                         f"self_loop_weight=0.0, remove_self_loops=True) (as ChebyshevConv does; "
                         f"remove_self_loops=False keeps the graph's own self-loops in A)")


def check_batch(batch: Tensor, num_nodes: int) -> Tensor:
    """``batch`` (the graph id of each node, PyG's ``Batch.batch``) checked against the graph's
    size without reading its values: a 1-D integer tensor of ``num_nodes`` entries."""
    if not isinstance(batch, Tensor):
        raise TypeError(f"batch must be a tensor of graph ids, got {type(batch).__name__}")
    if batch.dim() != 1 or batch.is_floating_point() or batch.is_complex() or batch.dtype == torch.bool:
        raise ValueError(f"batch must be a 1-D integer tensor (the graph id of each node), got shape "
                         f"{tuple(batch.shape)} and dtype {batch.dtype}")
    if batch.numel() != num_nodes:
        raise ValueError(f"batch has {batch.numel()} entries but the graph has {num_nodes} nodes")
    return batch


def check_graph_ids(graph: NormalizedGraph, batch: Tensor) -> int:
    """The number of graphs ``batch.max() + 1``; refuses negative ids and edges between graphs."""
    if batch.numel() == 0:
        return 0
    if int(batch.min()) < 0:
        raise ValueError(f"batch holds negative graph ids (min {int(batch.min())})")
    b = batch.to(graph.device)
    across = int((b[graph.adj.row] != b[graph.adj.col]).sum()) if graph.num_edges else 0
    if across:
        raise ValueError(f"{across} edge(s) connect nodes of different graphs of batch: a mini-batch "
                         f"is a disjoint union of graphs, so no per-graph lambda_max exists")
    return int(batch.max()) + 1
