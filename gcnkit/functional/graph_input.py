"""Turns any accepted graph input into a cached :class:`NormalizedGraph`.

Accepted inputs, as in PyG: an ``edge_index`` ``[2, E]`` (with optional ``edge_weight``), a
``torch.sparse`` COO/CSR adjacency read as PyG's ``adj_t`` (rows = targets, columns = sources),
a ``torch_sparse.SparseTensor`` (when that optional package is installed) or an already
normalized :class:`NormalizedGraph`.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor

from gcnkit.functional.cache import GraphCache, graph_cache
from gcnkit.functional.normalize import Norm, NormalizedGraph, normalize_adjacency
from gcnkit.functional.sparse import check_row_pointers
from gcnkit.functional.validation import check_bool, check_finite, check_real

GraphInput = Union[Tensor, NormalizedGraph]


def _is_torch_sparse_tensor(obj) -> bool:
    return type(obj).__name__ == "SparseTensor" and hasattr(obj, "coo")


def adjacency_to_edge_index(adj) -> tuple:
    """``(edge_index, edge_weight, num_nodes)`` from a sparse ``adj_t`` (rows = targets)."""
    shape = tuple(adj.sizes()) if _is_torch_sparse_tensor(adj) else tuple(adj.shape)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"a sparse adjacency must be square [N, N], got {shape}")
    if _is_torch_sparse_tensor(adj):
        row, col, value = adj.coo()
        n = adj.size(0)
    else:
        if adj.layout == torch.sparse_csr:
            crow = adj.crow_indices()
            check_row_pointers(crow, adj.size(0), adj.col_indices().numel(), "the sparse CSR adjacency")
            row = torch.repeat_interleave(torch.arange(adj.size(0), device=crow.device), crow.diff())
            col, value = adj.col_indices(), adj.values()
        else:
            adj = adj.coalesce()
            (row, col), value = adj.indices(), adj.values()
        n = adj.size(0)
    if value is not None and value.is_complex():  # .to(float) would silently drop the imaginary part
        raise TypeError(f"a sparse adjacency must have real values (its edge weights), got {value.dtype}")
    if value is not None and not value.is_floating_point():  # e.g. an integer adjacency: its counts
        value = value.to(torch.get_default_dtype())
    if value is not None:  # named as what the caller passed, not as the edge_weight it becomes
        check_finite("the sparse adjacency (its values, the edge weights)", value)
    return torch.stack([col.long(), row.long()]), value, n


def normalization_dtype(edge_index: GraphInput, edge_weight: Optional[Tensor],
                        feature_dtype: Optional[torch.dtype]) -> torch.dtype:
    """The precision to normalize in for features of ``feature_dtype``: the weights' promoted with
    the features' (float64 features get a float64 operator, not a float32 one cast up), never
    below float32."""
    weight_dtype = torch.float32
    if isinstance(edge_weight, Tensor) and edge_weight.is_floating_point():
        weight_dtype = edge_weight.dtype
    elif isinstance(edge_index, Tensor) and edge_index.layout != torch.strided and edge_index.is_floating_point():
        weight_dtype = edge_index.dtype  # a sparse adjacency: its values are the weights
    dtype = weight_dtype if feature_dtype is None else torch.promote_types(weight_dtype, feature_dtype)
    return torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype


def _same_without_loops(graph: NormalizedGraph, made: tuple, want: tuple) -> bool:
    """A graph normalized keeping self-loops and adding none, that has no self-loops, is also the
    graph normalized with them removed: accept it where ``remove_self_loops=True`` is asked."""
    if made[:2] != want[:2] or made[1] != 0.0 or made[2] or not want[2]:
        return False
    if "has_self_loops" not in graph.extras:
        graph.extras["has_self_loops"] = bool((graph.adj.row == graph.adj.col).any())
    return not graph.extras["has_self_loops"]


def refuse_tracing() -> None:
    """``torch.jit.trace`` would fix one graph's node count and the kernels' Python branches into
    the trace (wrong, or an index error, on the next graph) and cannot record gcnkit's autograd
    functions; ``torch.export`` stops on data-dependent sizes. Both are refused plainly, by the
    layers, the models and the recurrent cells (``torch.compile`` works; TorchScript is refused)."""
    what = "torch.jit.trace" if torch.jit.is_tracing() else None
    is_exporting = getattr(torch.compiler, "is_exporting", None)
    if what is None and is_exporting is not None and is_exporting():
        what = "torch.export"
    if what is not None:
        raise NotImplementedError(f"gcnkit's layers, models and recurrent cells cannot be captured by {what}: graph "
                                  f"sizes are data-dependent and the sparse and fused kernels are Python autograd "
                                  f"functions; use torch.compile, or where {what} is required PyG's GCNConv / "
                                  f"ChebConv (same state_dict layout) and torch.nn's recurrent cells")


def resolve_graph(edge_index: GraphInput, edge_weight: Optional[Tensor] = None,
                  num_nodes: Optional[int] = None, *, norm: Norm = "sym", self_loop_weight: float = 1.0,
                  remove_self_loops: bool = False, cache: Optional[GraphCache] = graph_cache,
                  dtype: Optional[torch.dtype] = None) -> NormalizedGraph:
    r"""The normalized graph for any accepted input; computed once per graph and options
    (``cache=None`` disables caching). ``dtype``: the precision to normalize in (default: the
    weights', else float32), e.g. float64 for float64 features. ``norm``, ``self_loop_weight``,
    ``remove_self_loops``: see :func:`normalize_adjacency`.

    Args:
        edge_index (GraphInput): ``[2, E]``, a sparse adjacency ``[N, N]`` (torch.sparse COO/CSR
            or torch_sparse), or a :class:`NormalizedGraph` (returned as is if made with these options).
        edge_weight (Tensor, optional): ``[E]``; ``None`` for a sparse adjacency or a
            :class:`NormalizedGraph`. (default: ``None``)
        num_nodes (int, optional): :math:`|\mathcal{V}|`, checked against the graph. (default: ``None``)
        norm (str): (default: ``"sym"``)
        self_loop_weight (float): (default: ``1.0``)
        remove_self_loops (bool): (default: ``False``)
        cache (GraphCache, optional): (default: ``graph_cache``)
        dtype (torch.dtype, optional): (default: ``None``)

    Returns:
        NormalizedGraph: :math:`\hat{A}`, :math:`(|\mathcal{V}|, |\mathcal{V}|)`.
    """
    refuse_tracing()
    remove_self_loops = check_bool("remove_self_loops", remove_self_loops)
    self_loop_weight = check_real("self_loop_weight", self_loop_weight)
    if isinstance(edge_index, NormalizedGraph):
        if edge_weight is not None:
            raise ValueError("edge_weight must be None when the graph is a NormalizedGraph (its "
                             "weights were used when it was normalized)")
        made = (edge_index.norm, edge_index.self_loop_weight, edge_index.remove_self_loops)
        want = (norm, float(self_loop_weight), remove_self_loops)
        if made != want and not _same_without_loops(edge_index, made, want):
            raise ValueError(f"the NormalizedGraph passed was made with norm={made[0]!r}, "
                             f"self_loop_weight={made[1]}, remove_self_loops={made[2]} but this layer "
                             f"uses norm={norm!r}, self_loop_weight={float(self_loop_weight)}, "
                             f"remove_self_loops={remove_self_loops}")
        if num_nodes is not None and edge_index.num_nodes != num_nodes:
            raise ValueError(f"x has {num_nodes} nodes but the NormalizedGraph has {edge_index.num_nodes}")
        return edge_index
    if isinstance(edge_index, Tensor) and edge_index.layout not in (torch.strided, torch.sparse_coo,
                                                                    torch.sparse_csr):
        raise ValueError(f"a sparse adjacency must be a torch.sparse COO or CSR tensor, got layout "
                         f"{edge_index.layout}; convert it with adj.to_sparse_csr()")
    sparse_input = _is_torch_sparse_tensor(edge_index) or (
        isinstance(edge_index, Tensor) and edge_index.layout in (torch.sparse_coo, torch.sparse_csr))

    def compute() -> NormalizedGraph:
        if sparse_input:
            if edge_weight is not None:
                raise ValueError("edge_weight must be None when the graph is given as a sparse "
                                 "adjacency (its values are the weights)")
            ei, ew, n = adjacency_to_edge_index(edge_index)
            if num_nodes is not None and n != num_nodes:
                raise ValueError(f"x has {num_nodes} nodes but the sparse adjacency is {n} x {n}")
            return normalize_adjacency(ei, ew, n, norm=norm, self_loop_weight=self_loop_weight,
                                       remove_self_loops=remove_self_loops, dtype=dtype)
        return normalize_adjacency(edge_index, edge_weight, num_nodes, norm=norm, self_loop_weight=self_loop_weight,
                                   remove_self_loops=remove_self_loops, dtype=dtype)

    if cache is None or _is_torch_sparse_tensor(edge_index):
        return compute()
    options = (norm, float(self_loop_weight), remove_self_loops, num_nodes, dtype)
    return cache.get((edge_index, edge_weight), options, compute)
