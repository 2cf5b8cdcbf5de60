r"""The graph of one sequence (or of one time step, for per-step graphs), shared by a cell's
operators: normalized at most once per normalization option (``norm``, ``self_loop_weight``,
``remove_self_loops``) that they ask for, at least at the features' precision, on their device."""
from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from gcnkit.functional.cache import GraphCache, graph_cache
from gcnkit.functional.graph_input import GraphInput, normalization_dtype, resolve_graph
from gcnkit.functional.normalize import Norm, NormalizedGraph

#: ``(norm, self_loop_weight)`` or ``(norm, self_loop_weight, remove_self_loops)``.
GraphOptions = Union[Tuple[Norm, float], Tuple[Norm, float, bool]]


class GraphSet:
    r"""The graph of a sequence (or a step), normalized lazily and at most once per option.

    Args:
        edge_index: ``[2, E]`` indices, a ``torch.sparse`` adjacency, or a
            :class:`~gcnkit.functional.NormalizedGraph` (then only its own options are served).
        edge_weight (Tensor, optional): ``[E]``.
        num_nodes (int): number of nodes of the features.
        device, dtype: where the normalized operators must live (the features').
        cache (GraphCache, optional): the graph-keyed cache shared with the layers (``None``:
            only this object's memo; the graph is still normalized once per sequence).

    Shapes:
        - **input:** ``edge_index`` :math:`(2, |\mathcal{E}|)` or an adjacency, ``edge_weight`` :math:`(|\mathcal{E}|)`
        - **output:** :meth:`get`: a NormalizedGraph, :math:`(|\mathcal{V}|, |\mathcal{V}|)`
    """

    __slots__ = ("edge_index", "edge_weight", "num_nodes", "device", "dtype", "cache", "_graphs")

    def __init__(self, edge_index: Optional[GraphInput], edge_weight: Optional[Tensor], num_nodes: int,
                 device: torch.device, dtype: torch.dtype, cache: Optional[GraphCache] = graph_cache):
        if edge_index is None:
            raise ValueError("this recurrent cell uses graph operators: pass edge_index (a [2, E] "
                             "tensor, a sparse adjacency or a NormalizedGraph)")
        self.edge_index, self.edge_weight, self.num_nodes = edge_index, edge_weight, int(num_nodes)
        self.device, self.dtype, self.cache = device, dtype, cache
        self._graphs: Dict[GraphOptions, NormalizedGraph] = {}

    def get(self, options: GraphOptions) -> NormalizedGraph:
        """The graph normalized with ``options = (norm, self_loop_weight[, remove_self_loops])``
        (memoized)."""
        graph = self._graphs.get(options)
        if graph is None:
            norm, slw, *remove = options
            graph = resolve_graph(self.edge_index, self.edge_weight, self.num_nodes, norm=norm,
                                  self_loop_weight=slw, remove_self_loops=bool(remove and remove[0]),
                                  cache=self.cache,
                                  dtype=normalization_dtype(self.edge_index, self.edge_weight, self.dtype))
            if graph.num_nodes != self.num_nodes:
                raise ValueError(f"x has {self.num_nodes} nodes but the graph has {graph.num_nodes}")
            graph = graph.to(self.device, self.dtype)
            self._graphs[options] = graph
        return graph
