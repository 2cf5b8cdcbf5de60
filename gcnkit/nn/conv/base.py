"""Machinery shared by every gcnkit graph convolution: input checks, the cached normalized
graph, sparse input features, and PyG message passing."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple, Union, overload

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing

from gcnkit.functional.cache import GraphCache, graph_cache
from gcnkit.functional.graph_input import GraphInput, normalization_dtype, resolve_graph
from gcnkit.functional.normalize import Norm, NormalizedGraph
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.spmm import csr_matmul
from gcnkit.functional.validation import (NodeIndexError, check_bool, check_choice, check_dtype_matches,
                                         check_features, check_int)
from gcnkit.nn.conv import docs
from gcnkit.nn.conv.explain import refuse_explainer
from gcnkit.nn.shared_doc import shared_doc

#: Sparse features seen by any layer, converted to :class:`CSRMatrix` (with the transpose the
#: backward pass needs) once per feature tensor.
feature_cache = GraphCache(maxsize=8)
#: Dense feature tensors seen once (see :func:`as_features`).
_seen_features = GraphCache(maxsize=4)

Features = Union[Tensor, CSRMatrix]


#: Dense input features at most this dense (and at least ``_SPARSE_MIN_NUMEL`` entries, not
#: requiring grad) are multiplied as a CSR matrix, converted once per feature tensor.
SPARSE_DENSITY = 0.1
_SPARSE_MIN_NUMEL = 1 << 16


#: Cached for a dense tensor that is not sparse enough to convert (not the tensor itself: an
#: entry must not keep its own key alive).
_KEEP_DENSE = object()


def _dense_as_csr(x: Tensor):
    if torch.count_nonzero(x).item() > SPARSE_DENSITY * x.numel():
        return _KEEP_DENSE
    return CSRMatrix.from_torch(x.to_sparse_csr())


def clear_caches() -> None:
    """Empties the shared graph cache and the feature caches (needed only after writing to a
    graph or feature tensor behind autograd's version counter, e.g. through ``.data`` or a NumPy
    array sharing its memory; see :mod:`gcnkit.functional.cache`).

    Returns:
        None.
    """
    graph_cache.clear()
    feature_cache.clear()
    _seen_features.clear()


def as_features(x: Features, auto: bool = True, cache: bool = True) -> Features:
    """``torch.sparse`` COO/CSR features become a cached :class:`CSRMatrix` (converted once per
    tensor). With ``auto``, dense 2-D input features (a leaf not requiring grad, such as Cora's bag
    of words, 98.7% zeros) that are at most 10% non-zero are converted too, once per tensor from its
    second use on (identity and version keyed), so ``X W`` and its backward are sparse matmuls;
    other tensors pass through. Without ``cache`` (a layer built with ``cached=False``) nothing is
    kept: sparse features are converted at every call and dense ones stay dense."""
    if not isinstance(x, Tensor):
        return x
    if x.layout in (torch.sparse_coo, torch.sparse_csr):
        if x.dim() != 2:
            raise ValueError(f"sparse features must be 2-D [N, F], got shape {tuple(x.shape)}")
        if not cache:
            return CSRMatrix.from_torch(x)
        return feature_cache.get((x,), "csr", lambda: CSRMatrix.from_torch(x))
    if (auto and cache and x.dim() == 2 and x.is_leaf and not x.requires_grad and x.numel() >= _SPARSE_MIN_NUMEL
            and x.is_floating_point()):
        converted = feature_cache.peek((x,), "auto")
        if converted is None and _seen_features.peek((x,), "seen") is not None:
            # convert on the second call with the same tensor: a tensor made anew per call (e.g.
            # the output of F.dropout) would pay the conversion every time and never reuse it
            converted = feature_cache.get((x,), "auto", lambda: _dense_as_csr(x))
        if converted is not None:
            return x if converted is _KEEP_DENSE else converted
        _seen_features.get((x,), "seen", lambda: True)
    return x


#: ``torch_geometric.nn.GCNConv`` options and what to pass here instead.
_PYG_OPTIONS = {
    "improved": "self_loop_weight=2.0 (improved=True) or 1.0",
    "add_self_loops": "self_loop_weight=0.0 (add_self_loops=False; FirstOrderTermConv is that preset)",
    "normalize": "NaiveGCNConv, or GeneralGCNConv(..., norm='none', self_loop_weight=0.0) (normalize=False: PyG "
                 "then adds no self-loops either)",
    # torch_geometric.nn.ChebConv's
    "normalization": "nothing for normalization='sym' (ChebyshevConv's only Laplacian; pass lambda_max= "
                     "a number or 'eig'); 'rw' and None are not offered",
}


@shared_doc(args_head=docs.CHANNELS, args=docs.OPTIONS, shapes=docs.SHAPES)
class GraphConvBase(MessagePassing):
    """Base class: subclasses implement ``forward`` with :meth:`graph` and :meth:`features`.

    ``forward`` multiplies by a normalized sparse operator instead of calling PyG's
    ``propagate``, so PyG's propagate/message/aggregate hooks do not run there (module hooks,
    ``register_forward_hook``, do); ``conv.propagate(...)`` runs PyG's message path with them.
    TorchScript is not supported; ``torch.compile`` compiles the layers (with graph breaks around
    the graph and sparse products; tested with inductor against eager). Args, Shapes: every layer's.
    """

    cached: bool
    #: Whether the graph's own self-loops are dropped before normalizing (``ChebyshevConv``).
    remove_self_loops: bool = False

    # The arguments of PyG's generated ``propagate`` (the layers never call ``self.propagate``
    # themselves, so PyG cannot infer them from the source): ``conv.propagate(edge_index, x=h,
    # edge_weight=w)`` runs PyG's message path.
    propagate_type = {"x": Tensor, "edge_weight": Optional[Tensor]}

    if TYPE_CHECKING:  # a layer returns its output features (torch types Module.__call__ as Any)
        def __call__(self, *args: Any, **kwargs: Any) -> Tensor: ...

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, cached: bool = True,
                 **kwargs):
        for name, instead in _PYG_OPTIONS.items():
            if name in kwargs:
                raise TypeError(f"{type(self).__name__} has no {name}= (a torch_geometric GCNConv/ChebConv "
                                f"option); pass {instead}")
        if kwargs.get("decomposed_layers", 1) != 1:
            raise ValueError(f"{type(self).__name__} does not decompose its layers (PyG's "
                             f"decomposed_layers={kwargs['decomposed_layers']!r}): it multiplies by a "
                             f"sparse operator, with no per-edge message tensor to split")
        node_dim = kwargs.get("node_dim", -2)
        if not isinstance(node_dim, int) or isinstance(node_dim, bool):
            raise TypeError(f"node_dim must be an int (the axis of x that holds the nodes), got {node_dim!r}")
        if isinstance(in_channels, int) and in_channels < 0:
            raise ValueError(f"in_channels and out_channels must be positive, got in_channels={in_channels} "
                             f"(PyG's lazy initialization is not supported: pass the input width)")
        kwargs.setdefault("aggr", "add")
        # The fast path always sums messages from sources into targets: refuse options it would ignore.
        check_choice("aggr", kwargs["aggr"], ("add", "sum"))
        check_choice("flow", kwargs.get("flow", "source_to_target"), ("source_to_target",))
        super().__init__(**kwargs)
        in_channels, out_channels = check_int("in_channels", in_channels), check_int("out_channels", out_channels)
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"in_channels and out_channels must be positive, got {in_channels}, {out_channels}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.cached = check_bool("cached", cached)
        if check_bool("bias", bias):
            self.bias = torch.nn.Parameter(torch.empty(self.out_channels))
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    # ----------------------------------------------------------------- inputs
    def features(self, x: Features, auto: bool = True) -> Features:
        """Checks ``x`` (dense ``[N, F]``/``[*, N, F]``, torch.sparse or :class:`CSRMatrix`).
        Dense features are multiplied as CSR (see :func:`as_features`) only with ``auto`` and when
        they have the layer's dtype, so a dtype mismatch is the same error on every call."""
        # forward's inputs (auto) are checked against the parameters' dtype here; the two-phase
        # methods serve the recurrent cells, which check x once per sequence (not per step)
        if not auto and self.node_dim != -2:  # the two-phase methods: the recurrent runner's API
            raise ValueError(f"{type(self).__name__}.propagate_only/propagate_transform take nodes on axis "
                             f"-2 ([*, N, F]), but this layer has node_dim={self.node_dim}")
        given = auto  # forward's own input (the user's), checked against the parameters' dtype
        check = auto and isinstance(x, Tensor)
        if check:
            weight = next(self.parameters(), None)
            # under autocast dense features stay dense: the sparse product runs in x's dtype (CPUs
            # lack low-precision sparse kernels), which would change the output's dtype from the
            # second call on (the conversion's)
            auto = (weight is None or weight.dtype == x.dtype) and not torch.is_autocast_enabled(x.device.type)
        x = as_features(x, auto, cache=self.cached)
        if isinstance(x, CSRMatrix):
            if not x.dtype.is_floating_point:  # (as dense x: it would make an integer graph)
                raise TypeError(f"x must be a floating-point tensor, got sparse {x.dtype}")
            if given:  # as dense x (it was cast to the layer's dtype, silently and at every call)
                check_dtype_matches(x.value, self)
            if x.shape[1] != self.in_channels:
                raise ValueError(f"x has {x.shape[1]} features per node but the layer expects "
                                 f"in_channels={self.in_channels} (shape {x.shape})")
            return x
        check_features(x, self.in_channels)
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
        if check and not auto:
            check_dtype_matches(x, self)
        return x

    def graph(self, edge_index: GraphInput, edge_weight: Optional[Tensor], x: Features, *,
              norm: Norm, self_loop_weight: float, remove_self_loops: bool = False) -> NormalizedGraph:
        """The normalized graph on ``x``'s device and dtype, from the shared cache."""
        if getattr(self, "explain", False):
            refuse_explainer(self)
        num_nodes = x.shape[0] if isinstance(x, CSRMatrix) else x.size(-2)
        dtype = x.dtype if isinstance(x, CSRMatrix) or x.is_floating_point() else None
        try:
            g = resolve_graph(edge_index, edge_weight, num_nodes, norm=norm, self_loop_weight=self_loop_weight,
                              remove_self_loops=remove_self_loops,
                              cache=graph_cache if self.cached else None,
                              dtype=normalization_dtype(edge_index, edge_weight, dtype))
        except NodeIndexError as e:  # num_nodes came from x, not from the caller: say so
            raise NodeIndexError(e.max_index, num_nodes, f"edge_index refers to node {e.max_index} but x has "
                                 f"{num_nodes} nodes (shape {tuple(x.shape)}): indices must be < {num_nodes}"
                                 ) from None
        if g.num_nodes != num_nodes:
            raise ValueError(f"x has {num_nodes} nodes but the graph has {g.num_nodes}")
        return g.to(x.device, dtype)

    def add_bias(self, out: Tensor) -> Tensor:
        if self.bias is None:
            return out
        if out.dtype != self.bias.dtype and torch.is_autocast_enabled(out.device.type):
            return out + self.bias.to(out.dtype)  # as the GEMM's bias under autocast: same dtype out
        return out + self.bias

    def __prepare_scriptable__(self):
        raise NotImplementedError(f"{type(self).__name__} cannot be compiled by TorchScript (its graph "
                                  f"inputs are Python objects: NormalizedGraph, CSRMatrix); use "
                                  f"torch.compile, or torch_geometric.nn.GCNConv / ChebConv (same "
                                  f"state_dict layout) where TorchScript is required")

    # ----------------------------------------------------------------- two phases
    #: Whether the layer implements :meth:`propagate_only` and :meth:`transform`.
    two_phase: bool = False

    def propagate_only(self, x: Tensor, edge_index: Optional[GraphInput] = None,
                       edge_weight: Optional[Tensor] = None) -> Tensor:
        r"""The weight-free (linear, graph-only) part of the layer: dense ``[*, N, F_in]`` to
        ``[*, N, m F_in]`` with ``forward(x) == transform(propagate_only(x))`` (``m`` propagated terms).
        The recurrent runner uses it to propagate the input of all ``T`` steps in one sparse
        matmul and apply the weights per step, without a ``[B, T, N, F_out]`` intermediate."""
        raise NotImplementedError(f"{type(self).__name__} has no propagate_only/transform split")

    @overload
    def transform(self, z: Tensor, split: None = None, *, add: Optional[Tensor] = None) -> Tensor: ...
    @overload
    def transform(self, z: Tensor, split: Sequence[int], *, add: None = None) -> Tuple[Tensor, ...]: ...
    def transform(self, z: Tensor, split: Optional[Sequence[int]] = None, *,
                  add: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, ...]]:
        """The weights and bias applied to :meth:`propagate_only`'s output: ``[*, N, m F_in] -> [*, N, F_out]``;
        with ``split``, the output's column blocks of those widths as a tuple; with ``add``
        (``[*, N, F_out]``), ``add`` plus the output, accumulated by the GEMM (see
        :func:`gcnkit.functional.linear.linear`)."""
        raise NotImplementedError(f"{type(self).__name__} has no propagate_only/transform split")

    def propagate_transform(self, x: Tensor, edge_index: Optional[GraphInput] = None,
                            edge_weight: Optional[Tensor] = None, *, add: Optional[Tensor] = None) -> Tensor:
        """``transform(propagate_only(x), add=add)``, in the order that does not narrow the
        features (a conv may skip materializing the propagated terms side by side, as
        ``ChebyshevConv`` does); the recurrent cells' maps of the state use it."""
        return self.transform(self.propagate_only(x, edge_index, edge_weight), add=add)

    @property
    def hops(self) -> int:
        """How many propagations :meth:`forward` applies: an output depends on the nodes at most
        this many edges upstream (see :mod:`gcnkit.functional.receptive_field`)."""
        return 1

    # ----------------------------------------------------------------- weights first
    def fused_weight(self) -> Tensor:
        r"""All weight matrices of the layer stacked on the output axis, ``[m F_out, F_in]``
        (``m`` terms, as :meth:`propagate_weighted` takes them): ``forward(x)`` equals
        ``propagate_weighted(x @ fused_weight().T) + bias``. Independent models stacked into one
        (:class:`~gcnkit.nn.models.StackedGCN`) multiply each by its own weights this way and
        share the propagation."""
        raise NotImplementedError(f"{type(self).__name__} has no weights-first form")

    def propagate_weighted(self, z: Tensor, edge_index: Optional[GraphInput] = None,
                           edge_weight: Optional[Tensor] = None, *, copies: int = 1) -> Tensor:
        r"""The propagation applied after the weights: ``z = X W^\top`` with
        ``W = fused_weight()``, dense ``[*, N, m F_out]``, to ``[*, N, F_out]`` (bias not added).
        With ``copies``, ``z`` holds that many models side by side, term by term (the ``m`` blocks
        of ``copies F_out`` columns, each the models' ``X W_k^\top`` in turn), and the output is
        ``[*, N, copies F_out]``: one wide sparse product per propagation for all of them."""
        raise NotImplementedError(f"{type(self).__name__} has no weights-first form")

    def _term_width(self, z: Tensor, terms: int, copies: int) -> int:
        """Checks ``propagate_weighted``'s ``z``; returns the width of one term's block."""
        copies = check_int("copies", copies, 1)
        width = terms * copies * self.out_channels
        if not isinstance(z, Tensor) or z.layout != torch.strided or z.dim() < 2 or z.size(-1) != width:
            got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"z must be dense [*, N, terms * copies * out_channels = {terms} * {copies} * "
                             f"{self.out_channels} = {width}] (x @ fused_weight().T), got {got}")
        return copies * self.out_channels

    # ----------------------------------------------------------------- PyG message passing
    def message(self, x_j: Tensor, edge_weight: Optional[Tensor] = None) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, adj_t, x: Tensor) -> Tensor:
        if isinstance(adj_t, NormalizedGraph):
            return adj_t.matmul(x)
        return csr_matmul(CSRMatrix.from_torch(adj_t), x)

    def __repr__(self) -> str:
        extra = self.extra_repr()
        args = f"{self.in_channels}, {self.out_channels}" + (f", {extra}" if extra else "")
        return f"{self.__class__.__name__}({args})"
