r"""The GCN layer family: one implementation, presets for every first-order propagation rule."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union, overload

from torch import Tensor

from gcnkit.functional.graph_input import GraphInput
from gcnkit.functional.linear import linear
from gcnkit.functional.normalize import NORMS, Norm
from gcnkit.functional.validation import check_bool, check_choice, check_self_loop_weight
from gcnkit.nn.conv import docs
from gcnkit.nn.conv.base import Features, GraphConvBase
from gcnkit.nn.conv.node_dim import nodes_on_node_dim
from gcnkit.nn.conv.preset import preset_options
from gcnkit.nn.conv.weights import glorot_linear, sparse_aware_linear, weight_of
from gcnkit.nn.shared_doc import shared_doc

#: Adds the Args and Shapes every GCN layer shares.
_gcn_doc = shared_doc(args_head=docs.CHANNELS, args=docs.OPTIONS, shapes=docs.SHAPES)


@_gcn_doc
class GeneralGCNConv(GraphConvBase):
    r"""A graph convolution :math:`X' = (\hat{A} + c I) X W + b`, with :math:`\hat{A}` from
    :func:`~gcnkit.functional.normalize_adjacency` (``norm``, ``self_loop_weight``) and
    :math:`c = 1` when ``add_identity`` (Kipf & Welling's "single parameter" model), else 0.

    Node-wise: :math:`x'_i = W^\top \big(c\,x_i + \sum_{j \to i} \hat{a}_{ij} x_j\big) + b`.

    The presets :class:`KipfGCNConv`, :class:`NaiveGCNConv`, :class:`RowGCNConv`,
    :class:`SingleParameterConv` and :class:`FirstOrderTermConv` fix these options.

    The normalized graph comes from a cache keyed on the graph tensors (identity and in-place
    version), shared by all layers: it is computed once per graph, never reused for another one.
    ``X W`` is computed before propagating when ``out_channels < in_channels`` (and always for
    sparse ``x``, where it is a sparse matmul), after otherwise.

    Args:
        norm (str, optional): ``"sym"``, ``"row"``, ``"col"`` or ``"none"``. (default: ``"sym"``)
        self_loop_weight (float, optional): weight of the self-loops added where a node has none
            (0 adds none; 2.0 is PyG's ``improved``). (default: ``1.0``)
        add_identity (bool, optional): add :math:`X` to the propagated features
            (:math:`\hat{A} + I`). (default: ``False``)
    """

    two_phase = True

    def __init__(self, in_channels: int, out_channels: int, *, norm: Norm = "sym",
                 self_loop_weight: float = 1.0, add_identity: bool = False, bias: bool = True,
                 cached: bool = True, **kwargs):
        check_choice("norm", norm, NORMS)
        self_loop_weight = check_self_loop_weight(self_loop_weight)
        super().__init__(in_channels, out_channels, bias=bias, cached=cached, **kwargs)
        self.norm = norm
        self.self_loop_weight = self_loop_weight
        self.add_identity = check_bool("add_identity", add_identity)
        self.lin = glorot_linear(self.in_channels, self.out_channels)
        self.reset_parameters()

    def _propagate(self, graph, h: Tensor) -> Tensor:
        out = graph.matmul(h)
        return out + h if self.add_identity else out

    @nodes_on_node_dim
    def forward(self, x: Features, edge_index: GraphInput, edge_weight: Optional[Tensor] = None) -> Tensor:
        x = self.features(x)
        graph = self.graph(edge_index, edge_weight, x, norm=self.norm, self_loop_weight=self.self_loop_weight)
        if not isinstance(x, Tensor) or self.out_channels < self.in_channels:
            return self.add_bias(self._propagate(graph, sparse_aware_linear(x, weight_of(self.lin))))
        return self.transform(self._propagate(graph, x))

    # edge_index is required here: the base's default None serves graph-free convs (ChebyshevConv, K=0)
    def propagate_only(self, x: Tensor, edge_index: Optional[GraphInput] = None,
                       edge_weight: Optional[Tensor] = None) -> Tensor:
        r""":math:`(\hat{A} + c I) X` (dense ``x``); see :meth:`GraphConvBase.propagate_only`."""
        checked = self.features(x, auto=False)
        if not isinstance(checked, Tensor):
            raise TypeError("propagate_only takes dense features")
        x = checked
        graph = self.graph(self._needs_graph(edge_index, "propagate_only"), edge_weight, x,
                           norm=self.norm, self_loop_weight=self.self_loop_weight)
        return self._propagate(graph, x)

    def _needs_graph(self, edge_index: Optional[GraphInput], method: str) -> GraphInput:
        if edge_index is None:
            raise TypeError(f"{type(self).__name__}.{method} needs a graph: edge_index ([2, E] indices, a "
                            f"sparse adjacency or a NormalizedGraph), got None")
        return edge_index

    @overload
    def transform(self, z: Tensor, split: None = None, *, add: Optional[Tensor] = None) -> Tensor: ...
    @overload
    def transform(self, z: Tensor, split: Sequence[int], *, add: None = None) -> Tuple[Tensor, ...]: ...
    def transform(self, z: Tensor, split: Optional[Sequence[int]] = None, *,
                  add: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, ...]]:
        return linear(z, weight_of(self.lin), self.bias, split, add=add)

    def fused_weight(self) -> Tensor:
        return weight_of(self.lin)

    def propagate_weighted(self, z: Tensor, edge_index: Optional[GraphInput] = None,
                           edge_weight: Optional[Tensor] = None, *, copies: int = 1) -> Tensor:
        r""":math:`(\hat{A} + c I) Z` for ``z = X W^\top``; see :meth:`GraphConvBase.propagate_weighted`."""
        self._term_width(z, 1, copies)
        graph = self.graph(self._needs_graph(edge_index, "propagate_weighted"), edge_weight, z,
                           norm=self.norm, self_loop_weight=self.self_loop_weight)
        return self._propagate(graph, z)

    def extra_repr(self) -> str:
        s = f"norm={self.norm}, self_loop_weight={self.self_loop_weight}"
        if self.add_identity:
            s += ", add_identity=True"
        if self.bias is None:
            s += ", bias=False"
        return s


@_gcn_doc
class KipfGCNConv(GeneralGCNConv):
    r"""Kipf & Welling's GCN layer (the renormalization trick):
    :math:`X' = \tilde{D}^{-1/2} \tilde{A} \tilde{D}^{-1/2} X W + b`, :math:`\tilde{A} = A + I`.

    Node-wise :math:`x'_i = W^\top \sum_{j \in \mathcal{N}(i) \cup \{i\}}
    \frac{e_{ji}}{\sqrt{\tilde{d}_j \tilde{d}_i}} x_j + b`. Same operator and parameter layout
    (``lin.weight``, ``bias``) as ``torch_geometric.nn.GCNConv``; see :class:`GeneralGCNConv`.

    Args:
        self_loop_weight (float, optional): weight of the self-loops added where a node has none
            (2.0 is PyG's ``improved``). (default: ``1.0``)
        norm: fixed, ``"sym"``; :class:`GeneralGCNConv` chooses it (passing another value here is a
            ``TypeError``). :class:`GeneralGCNConv`'s ``add_identity`` (default ``False``) is taken
            through ``**kwargs``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, self_loop_weight: float = 1.0,
                 bias: bool = True, cached: bool = True, **kwargs):
        super().__init__(in_channels, out_channels, self_loop_weight=self_loop_weight, bias=bias, cached=cached,
                         **preset_options(self, GeneralGCNConv, kwargs, norm="sym"))


@_gcn_doc
class NaiveGCNConv(GeneralGCNConv):
    r"""The naive graph convolution :math:`X' = A X W + b` (no self-loops, no normalization):
    the first model :math:`\sigma(AHW)` of the lecture notes. See :class:`GeneralGCNConv`.

    Args:
        norm, self_loop_weight: fixed, ``"none"`` and ``0.0``; :class:`GeneralGCNConv` chooses them
            (passing another value here is a ``TypeError``). :class:`GeneralGCNConv`'s
            ``add_identity`` (default ``False``) is taken through ``**kwargs``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, cached: bool = True,
                 **kwargs):
        super().__init__(in_channels, out_channels, bias=bias, cached=cached,
                         **preset_options(self, GeneralGCNConv, kwargs, norm="none", self_loop_weight=0.0))


@_gcn_doc
class RowGCNConv(GeneralGCNConv):
    r"""Row (random-walk / mean) normalization :math:`X' = \tilde{D}^{-1} \tilde{A} X W + b`.
    See :class:`GeneralGCNConv`.

    Args:
        self_loop_weight (float, optional): weight of the self-loops added where a node has none
            (0 adds none). (default: ``1.0``)
        norm: fixed, ``"row"``; :class:`GeneralGCNConv` chooses it (passing another value here is a
            ``TypeError``). :class:`GeneralGCNConv`'s ``add_identity`` (default ``False``) is taken
            through ``**kwargs``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, self_loop_weight: float = 1.0,
                 bias: bool = True, cached: bool = True, **kwargs):
        super().__init__(in_channels, out_channels, self_loop_weight=self_loop_weight, bias=bias, cached=cached,
                         **preset_options(self, GeneralGCNConv, kwargs, norm="row"))


@_gcn_doc
class SingleParameterConv(GeneralGCNConv):
    r"""Kipf & Welling's single-parameter model
    :math:`X' = (I + D^{-1/2} A D^{-1/2}) X \Theta + b` (no added self-loops).
    See :class:`GeneralGCNConv`.

    Args:
        norm, self_loop_weight, add_identity: fixed, ``"sym"``, ``0.0`` and ``True``;
            :class:`GeneralGCNConv` chooses them (passing another value here is a ``TypeError``).
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, cached: bool = True,
                 **kwargs):
        super().__init__(in_channels, out_channels, bias=bias, cached=cached,
                         **preset_options(self, GeneralGCNConv, kwargs, norm="sym",
                                          self_loop_weight=0.0, add_identity=True))


@_gcn_doc
class FirstOrderTermConv(GeneralGCNConv):
    r"""Kipf & Welling's "first-order term only" model :math:`X' = D^{-1/2} A D^{-1/2} X \Theta + b`.
    See :class:`GeneralGCNConv`.

    Args:
        norm, self_loop_weight, add_identity: fixed, ``"sym"``, ``0.0`` and ``False``;
            :class:`GeneralGCNConv` chooses them (passing another value here is a ``TypeError``).
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, cached: bool = True,
                 **kwargs):
        super().__init__(in_channels, out_channels, bias=bias, cached=cached,
                         **preset_options(self, GeneralGCNConv, kwargs, norm="sym",
                                          self_loop_weight=0.0, add_identity=False))
