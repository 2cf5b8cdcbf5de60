r"""The one normalization function of gcnkit.

Every propagation rule (Kipf's renormalization trick, the naive :math:`AHW`, row normalization,
Chebyshev polynomials, the first-order models of Kipf & Welling's Table 3, the recurrent graph
models) is built on :func:`normalize_adjacency`.

Direction convention (PyG's ``flow="source_to_target"``): ``edge_index[0]`` holds sources
:math:`j`, ``edge_index[1]`` targets :math:`i`, and the operator is the matrix
:math:`\hat{A}[i, j]` so that :math:`(\hat{A} X)_i = \sum_{j \to i} \hat{a}_{ij} x_j`: row ``i``
gathers the messages arriving at node ``i``.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Hashable, Literal, Optional, Tuple

import torch
from torch import Tensor

from gcnkit.functional._degree import checked_degrees, degree_power
from gcnkit.functional.cache import _version
from gcnkit.functional.sparse import CSRMatrix, to_arguments
from gcnkit.functional.spmm import csr_matmul
from gcnkit.functional.validation import check_bool, check_choice, check_edge_index, check_edge_weight, check_real

Norm = Literal["sym", "row", "col", "none"]
NORMS: Tuple[str, ...] = ("sym", "row", "col", "none")


class NormalizedGraph:
    r"""A normalized adjacency operator :math:`\hat{A}` of shape ``[N, N]``, computed once.

    Produced by :func:`normalize_adjacency`; pass it to any gcnkit layer in place of
    ``edge_index`` to share one normalization between layers, gates and time steps. Copies on
    other devices/dtypes (:meth:`to`) and the transpose for the backward pass are built once
    and kept.

    Attributes:
        adj (CSRMatrix): the operator, rows = targets.
        num_nodes (int), norm (str), self_loop_weight (float), remove_self_loops (bool).
        deg (Tensor): the weighted degrees used (row sums of :math:`\tilde{A}`, or column sums
            for ``norm="col"``).
        parent (NormalizedGraph or None): for the restriction of a graph to some of its nodes
            (:func:`~gcnkit.functional.receptive_field.restrict_graph`), the whole graph, from which
            whole-graph quantities such as :math:`\lambda_{max}` are taken.
    """

    def __init__(self, adj: CSRMatrix, norm: Norm, self_loop_weight: float, deg: Tensor,
                 remove_self_loops: bool = False, parent: Optional["NormalizedGraph"] = None):
        self.adj = adj
        self.norm = norm
        self.self_loop_weight = float(self_loop_weight)
        self.remove_self_loops = bool(remove_self_loops)
        self.deg = deg
        self.parent = parent
        self._copies: Dict[Tuple[torch.device, torch.dtype], "NormalizedGraph"] = {}
        self._source: "NormalizedGraph" = self  # copies are always made from the original
        self._source_version: Optional[int] = None  # (a copy's: its original's values' version then)
        self._extras: Dict[Hashable, Any] = {}
        self._values_version = _version(adj.value)

    @property
    def extras(self) -> Dict[Hashable, Any]:
        """Per-graph derived quantities (e.g. ``lambda_max``, the scaled Laplacian), keyed by name or
        by ``(name, options...)``, shared by every device/dtype copy. Values of the operator written
        in place (``graph.edge_weight.mul_(2)``) drop them and the copies, which are rebuilt on use."""
        return self._fresh_source()._extras

    def _fresh_source(self) -> "NormalizedGraph":
        """The graph whose extras and copies this one shares: the original, its copies and extras
        dropped if its values were written in place. A copy whose own values or whose original's
        were written in place since it was made is no longer a copy of it: it becomes a graph of
        its own (its extras kept where its values did not change)."""
        src, own = self._source, _version(self.adj.value)
        if src is not self and (own != self._values_version or _version(src.adj.value) != self._source_version):
            self._extras = {} if own != self._values_version else dict(self._extras)
            self._copies, self._source, self._values_version = {}, self, own
            if src._copies.get((self.device, self.dtype)) is self:
                del src._copies[(self.device, self.dtype)]
            return self
        version = _version(src.adj.value)
        if version != src._values_version:  # what was derived from the old values is stale (new
            src._extras, src._copies = {}, {}  # dicts: earlier copies keep theirs, see above)
            src._values_version = version
        return src

    @property
    def num_nodes(self) -> int:
        return self.adj.shape[0]

    @property
    def num_edges(self) -> int:
        return self.adj.nnz

    @property
    def device(self) -> torch.device:
        return self.adj.device

    @property
    def dtype(self) -> torch.dtype:
        return self.adj.dtype

    @property
    def edge_index(self) -> Tensor:
        """COO ``[2, E]`` (source, target) of the normalized operator, for message passing."""
        return torch.stack([self.adj.col, self.adj.row])

    @property
    def edge_weight(self) -> Tensor:
        return self.adj.value

    def to(self, device=None, dtype: Optional[torch.dtype] = None) -> "NormalizedGraph":
        """This operator on ``device``/``dtype``; each copy is made once and kept. As ``Tensor.to``,
        a dtype alone may come first: ``graph.to(torch.float64)``."""
        device, dtype = to_arguments("NormalizedGraph", device, dtype)
        device = self.device if device is None else torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        dtype = self.dtype if dtype is None else _floating("dtype", dtype)
        if device == self.device and dtype == self.dtype:
            return self
        # never convert a (possibly lower-precision) copy again; copies made from values since
        # written in place are dropped (see _fresh_source)
        src = self._fresh_source()
        if device == src.device and dtype == src.dtype:
            return src
        key = (device, dtype)
        # a differentiable operator is converted per call: a kept copy would carry the autograd
        # history of its first conversion (none at all if that was under no_grad)
        out = None if src.adj.value.requires_grad else src._copies.get(key)
        if out is not None and out._fresh_source() is not src:  # its values were written in place
            out = None
        if out is None:
            out = NormalizedGraph(src.adj.to(device, dtype), self.norm, self.self_loop_weight,
                                  src.deg.to(device), self.remove_self_loops, self.parent)
            out._extras = src._extras  # derived quantities do not depend on device or dtype
            out._copies = src._copies
            out._source, out._source_version = src, _version(src.adj.value)
            if not src.adj.value.requires_grad:
                src._copies[key] = out
        return out

    def __getstate__(self) -> dict:
        """Pickles the operator, its degrees and its numeric extras (``lambda_max``); the derived
        device/dtype copies and cached matrices are rebuilt on use."""
        state = dict(self.__dict__)
        state["_copies"], state["_source"] = {}, None
        state["_extras"] = {k: v for k, v in self.extras.items() if isinstance(v, (int, float))}
        return state

    def __setstate__(self, state: dict) -> None:
        if "extras" in state:  # pickled before extras became a property
            state["_extras"] = state.pop("extras")
        self.__dict__.update(state)
        if self.__dict__.get("_source") is None:
            self._source = self
        self.__dict__.setdefault("_source_version", None)  # (pickled before copies kept it)
        self._values_version = _version(self.adj.value)

    def like(self, x: Tensor) -> "NormalizedGraph":
        """This operator on ``x``'s device and (floating) dtype."""
        return self.to(x.device, x.dtype if x.is_floating_point() else None)

    def matmul(self, x: Tensor) -> Tensor:
        r""":math:`\hat{A} X` for ``x`` of shape ``[N, F]`` or ``[*, N, F]`` (a batch is one sparse
        matmul; see :func:`~gcnkit.functional.sparse.csr_matmul`). Sparse features ``[N, F]``
        (torch.sparse COO or CSR, or a :class:`CSRMatrix`) give a sparse CSR product, as torch's
        sparse-sparse product does: it can be much smaller than a dense ``[N, F]``."""
        if isinstance(x, CSRMatrix):
            x = x.to_torch()
        elif isinstance(x, Tensor) and x.layout == torch.sparse_coo:
            x = x.to_sparse_csr()
        if not isinstance(x, Tensor) or x.layout not in (torch.strided, torch.sparse_csr):
            raise TypeError(f"x must be a dense tensor [N, F] / [*, N, F], a torch.sparse COO/CSR tensor or a "
                            f"CSRMatrix, got {type(x).__name__}{'' if not isinstance(x, Tensor) else f' ({x.layout})'}")
        return csr_matmul(self.like(x).adj, x)

    __matmul__ = matmul

    def to_sparse_csr(self) -> Tensor:
        """The operator as a ``torch.sparse_csr`` tensor ``[N, N]`` (rows = targets)."""
        return self.adj.to_torch()

    def to_dense(self) -> Tensor:
        return self.adj.to_dense()

    def __repr__(self) -> str:
        return (f"NormalizedGraph(num_nodes={self.num_nodes}, nnz={self.num_edges}, norm={self.norm}, "
                f"self_loop_weight={self.self_loop_weight}"
                + (", remove_self_loops=True" if self.remove_self_loops else "")
                + (f", restricted from {self.parent.num_nodes} nodes" if self.parent is not None else "")
                + f", dtype={self.dtype}, device={self.device})")


def _floating(name: str, dtype) -> torch.dtype:
    """A real floating dtype for the operator's values (an integer one would truncate them)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name} of a normalized graph must be a floating-point torch.dtype (float32, "
                        f"float64, bfloat16, float16), got {dtype!r}")
    return dtype


def normalize_adjacency(edge_index: Tensor, edge_weight: Optional[Tensor] = None,
                        num_nodes: Optional[int] = None, *, norm: Norm = "sym",
                        self_loop_weight: float = 1.0, remove_self_loops: bool = False,
                        dtype: Optional[torch.dtype] = None) -> NormalizedGraph:
    r"""Normalizes a (weighted, possibly directed) graph once.

    With :math:`\tilde{A} = A + w I` (self-loops of weight ``self_loop_weight`` added only to nodes
    that have none; existing self-loops are kept as they are) and weighted degrees
    :math:`\tilde{D}_{ii} = \sum_j \tilde{A}_{ij}` (incoming weight of the target, as PyG's
    ``gcn_norm``):

    - ``"sym"``: :math:`\tilde{D}^{-1/2} \tilde{A} \tilde{D}^{-1/2}` — node-wise
      :math:`\hat{a}_{ij} = \tilde{a}_{ij} / \sqrt{\tilde{d}_i \tilde{d}_j}`;
    - ``"row"``: :math:`\tilde{D}^{-1} \tilde{A}` (mean / random walk; rows sum to 1);
    - ``"col"``: :math:`\tilde{A} \tilde{D}_{col}^{-1}` with column sums
      :math:`\sum_i \tilde{a}_{ij}` (columns sum to 1);
    - ``"none"``: :math:`\tilde{A}` as is.

    Duplicate edges are summed. Zero-degree nodes get 0 (never ``inf``/``NaN``). A negative
    weighted degree under ``sym``/``row``/``col`` is a ``ValueError`` (PyG silently returns NaN).
    Degrees are summed in float64: signed weights that cancel give degree 0 (within the sum's
    rounding bound), and only a float64 overflow is an error.
    ``self_loop_weight=0`` adds no self-loops, ``2.0`` is PyG's ``improved=True``.
    ``remove_self_loops=True`` first drops the self-loops the graph has (as PyG's ``ChebConv`` and
    ``get_laplacian`` do), so :math:`\tilde{A} = A_{\neq} + w I` with :math:`A_{\neq}` the
    off-diagonal part.

    Args:
        edge_index (LongTensor): ``[2, E]``, row 0 sources, row 1 targets.
        edge_weight (Tensor, optional): ``[E]``; ones if omitted. (default: ``None``)
        num_nodes (int, optional): ``edge_index.max() + 1`` if omitted. (default: ``None``)
        norm (str): ``"sym"``, ``"row"``, ``"col"`` or ``"none"``. (default: ``"sym"``)
        self_loop_weight (float): weight of added self-loops. (default: ``1.0``)
        remove_self_loops (bool): drop existing self-loops first. (default: ``False``)
        dtype (torch.dtype, optional): dtype of the values (default: ``None``): ``edge_weight``'s, else
            float32; bfloat16/float16 give float32, in which the degrees are summed at least).
            :meth:`NormalizedGraph.to` converts later; a float32 operator cast up to float64 keeps
            float32 rounding, so normalize float64 graphs with ``dtype=torch.float64`` (the layers
            do so for float64 features).

    Returns:
        :class:`NormalizedGraph`, differentiable in ``edge_weight`` when it requires grad.
    """
    check_choice("norm", norm, NORMS)
    remove_self_loops = check_bool("remove_self_loops", remove_self_loops)
    num_nodes = check_edge_index(edge_index, num_nodes)
    num_edges = edge_index.size(1)
    check_edge_weight(edge_weight, num_edges)
    self_loop_weight = check_real("self_loop_weight", self_loop_weight)
    if not math.isfinite(self_loop_weight):
        raise ValueError(f"self_loop_weight must be finite, got {self_loop_weight}")
    device = edge_index.device
    if dtype is None:
        dtype = edge_weight.dtype if edge_weight is not None else torch.float32
    _floating("dtype", dtype)
    if dtype in (torch.bfloat16, torch.float16):
        dtype = torch.float32  # degrees are summed in float32 at least; .to() casts afterwards
    # Copies, not views: the returned graph (and the cache) must not alias the caller's tensors,
    # which may later be modified in place. A subclass (PyG's EdgeIndex) is read as a plain
    # tensor: its rows keep the subclass, whose arithmetic fails on graphs of 0 or 1 edges.
    if type(edge_index) is not Tensor:
        edge_index = edge_index.as_tensor() if hasattr(edge_index, "as_tensor") else edge_index.as_subclass(Tensor)
    src, dst = edge_index[0].clone().long(), edge_index[1].clone().long()
    w = torch.ones(num_edges, dtype=dtype, device=device) if edge_weight is None else edge_weight.to(dtype)
    if w is edge_weight:
        w = w.clone()

    if remove_self_loops:
        off_diagonal = src != dst
        src, dst, w = src[off_diagonal], dst[off_diagonal], w[off_diagonal]
    if self_loop_weight != 0.0:
        has_loop = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        has_loop[dst[src == dst]] = True
        missing = (~has_loop).nonzero().view(-1)
        src, dst = torch.cat([src, missing]), torch.cat([dst, missing])
        w = torch.cat([w, w.new_full((missing.numel(),), self_loop_weight)])

    adj = CSRMatrix.from_coo(dst, src, w, (num_nodes, num_nodes))  # rows = targets; duplicates summed
    row, col, w = adj.row, adj.col, adj.value
    along = col if norm == "col" else row
    # the degrees, powers and products in float64: a float32 sum of signed weights leaves a rounding
    # error that D^p would blow up, a sum of large weights overflows, and D^-1 of a tiny (subnormal)
    # float32 degree would be inf
    w64 = w.double()
    deg64 = w64.new_zeros(num_nodes).index_add(0, along, w64)
    if norm != "none":
        deg64 = checked_degrees(deg64, w64, along, norm)
    deg = deg64.to(w.dtype)
    value = w
    if norm != "none":
        if norm == "sym":
            d = degree_power(deg64, -0.5)
            value = (d[row] * w64 * d[col]).to(w.dtype)
        elif norm == "row":
            value = (degree_power(deg64, -1.0)[row] * w64).to(w.dtype)
        elif norm == "col":
            value = (w64 * degree_power(deg64, -1.0)[col]).to(w.dtype)
    adj = adj.with_values(value)
    return NormalizedGraph(adj, norm, self_loop_weight, deg, remove_self_loops)
