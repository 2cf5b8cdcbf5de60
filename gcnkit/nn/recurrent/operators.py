r"""Pluggable linear maps for the recurrent cells: the :math:`U x` and :math:`W h` of the gate
equations.

An operator maps ``[*, F_in]`` (dense) or ``[*, N, F_in]`` (graph) features to ``[*, N, F_out]``.
Cells build each map *fused*: one operator of width ``gates * hidden_channels`` produces the
pre-activations of every gate in one call (one sparse matmul for a graph operator), and the
result is split afterwards.

- :class:`DenseOperator`: :math:`x W^\top + b`, a per-node linear map (``torch.nn.Linear``).
- :class:`GraphOperator`: any gcnkit graph convolution (``KipfGCNConv``, ``ChebyshevConv``, any
  entry of :data:`~gcnkit.nn.conv.CONV_REGISTRY`), applied with a normalized graph taken from a
  :class:`~gcnkit.nn.recurrent.graph_set.GraphSet`, so every gate and every time step shares one
  normalization.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple, TypeGuard, Union, cast, overload

import torch
from torch import Tensor
from torch.nn.modules import module as nn_module

from gcnkit.functional.linear import linear
from gcnkit.functional.normalize import Norm
from gcnkit.functional.validation import check_bool, check_int
from gcnkit.nn.conv import CONV_REGISTRY, ChebyshevConv, GraphConvBase, KipfGCNConv, make_conv
from gcnkit.nn.conv.weights import weight_of
from gcnkit.nn.recurrent import docs
from gcnkit.nn.recurrent.graph_set import GraphOptions, GraphSet
from gcnkit.nn.shared_doc import shared_doc

OperatorSpec = Union[str, Callable[[int, int], torch.nn.Module]]

#: Names accepted by :func:`make_operator` besides the conv registry's.
OPERATOR_NAMES: Tuple[str, ...] = ("linear", "gcn", "cheb") + tuple(CONV_REGISTRY)


@shared_doc(shapes=docs.OPERATOR_SHAPES)
class DenseOperator(torch.nn.Module):
    r"""A per-node linear map :math:`x W^\top + b` (no graph).

    Args:
        in_channels, out_channels (int): :math:`F_{in}` and :math:`F_{out}`.
        bias (bool, optional): learn :math:`b`. (default: ``True``)
    """

    graph_options: Optional[GraphOptions] = None
    #: :meth:`prepare` and :meth:`transform` split the map (see :class:`GraphOperator`).
    two_phase = True

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.lin = torch.nn.Linear(self.in_channels, self.out_channels, bias=check_bool("bias", bias))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    @property
    def bias(self) -> Optional[Tensor]:
        return self.lin.bias

    def forward(self, x: Tensor, graphs: Optional[GraphSet] = None, add: Optional[Tensor] = None) -> Tensor:
        r""":math:`x W^\top + b`, plus ``add`` (accumulated by the GEMM) when given."""
        return self.transform(x, add=add)

    def prepare(self, x: Tensor, graphs: Optional[GraphSet] = None) -> Tensor:
        """The graph part of the map (none here): ``forward(x) == transform(prepare(x))``."""
        return x

    @overload
    def transform(self, z: Tensor, split: None = None, *, add: Optional[Tensor] = None) -> Tensor: ...
    @overload
    def transform(self, z: Tensor, split: Sequence[int], *, add: None = None) -> Tuple[Tensor, ...]: ...
    def transform(self, z: Tensor, split: Optional[Sequence[int]] = None, *,
                  add: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, ...]]:
        """The weights and bias; with ``split``, the output's column blocks as a tuple; with
        ``add``, ``add`` plus the output (see :func:`~gcnkit.functional.linear.linear`)."""
        return linear(z, weight_of(self.lin), self.lin.bias, split, add=add)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, bias={self.lin.bias is not None}"


@shared_doc(shapes=docs.OPERATOR_SHAPES)
class GraphOperator(torch.nn.Module):
    r"""A gcnkit graph convolution used as a gate map: ``conv(x, graph)`` with the graph normalized
    by the :class:`GraphSet` of the sequence, with the conv's own ``norm``/``self_loop_weight``.

    Args:
        conv (GraphConvBase): any gcnkit graph convolution with nodes on axis -2 (``node_dim=-2``).
    """

    def __init__(self, conv: GraphConvBase):
        super().__init__()
        if not isinstance(conv, GraphConvBase):
            raise TypeError(f"GraphOperator wraps a gcnkit graph convolution, got {type(conv).__name__}")
        if conv.node_dim != -2:
            raise ValueError(f"a recurrent cell passes its operators [*, N, F] (nodes on axis -2), but this "
                             f"{type(conv).__name__} has node_dim={conv.node_dim}; build it with the default")
        self.conv = conv
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.graph_options: GraphOptions = (cast(Norm, str(conv.norm)),  # (one of NORMS: checked by the conv)
                                            float(conv.self_loop_weight), bool(conv.remove_self_loops))
        # ``add`` goes into the weights' GEMM only for gcnkit's own split convs: a user's subclass
        # that overrides forward, propagate_only or transform (possibly without ``add``) is
        # called as it is, and ``add`` is added to its output
        self._fuse_add = bool(conv.two_phase) and all(
            getattr(type(conv), name).__module__.startswith("gcnkit.")
            for name in ("forward", "propagate_only", "transform", "propagate_transform"))

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    @property
    def two_phase(self) -> bool:
        """Whether the conv splits into a weight-free graph part and its weights
        (:meth:`prepare`, :meth:`transform`); a conv without the split runs whole."""
        return bool(self.conv.two_phase)

    @property
    def bias(self) -> Optional[Tensor]:
        return self.conv.bias

    def forward(self, x: Tensor, graphs: Optional[GraphSet] = None, add: Optional[Tensor] = None) -> Tensor:
        """``conv(x)``, plus ``add`` when given: accumulated by the weights' GEMM when the conv
        splits into :meth:`prepare` and :meth:`transform` (it then propagates first, the order
        it takes anyway when it does not narrow the features, as every recurrent map)."""
        if graphs is None:
            raise ValueError(f"{self.conv.__class__.__name__} needs a graph: pass edge_index")
        graph = graphs.get(self.graph_options)
        if add is None:
            return self.conv(x, graph)
        if (self._fuse_add and self.out_channels >= self.in_channels and x.layout == torch.strided
                and not _called_through_hooks(self.conv)):
            return self.conv.propagate_transform(x, graph, add=add)
        return add + self.conv(x, graph)

    def prepare(self, x: Tensor, graphs: Optional[GraphSet] = None) -> Tensor:
        """The weight-free graph part (the conv's :meth:`~gcnkit.nn.conv.GraphConvBase.propagate_only`):
        ``forward(x) == transform(prepare(x))``."""
        if graphs is None:
            raise ValueError(f"{self.conv.__class__.__name__} needs a graph: pass edge_index")
        return self.conv.propagate_only(x, graphs.get(self.graph_options))

    @overload
    def transform(self, z: Tensor, split: None = None, *, add: Optional[Tensor] = None) -> Tensor: ...
    @overload
    def transform(self, z: Tensor, split: Sequence[int], *, add: None = None) -> Tuple[Tensor, ...]: ...
    def transform(self, z: Tensor, split: Optional[Sequence[int]] = None, *,
                  add: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, ...]]:
        """The weights and bias applied to :meth:`prepare`'s output; with ``split``, the output's
        column blocks as a tuple; with ``add``, ``add`` plus the output."""
        if add is None:  # a user's conv may implement transform(z, split) only
            return self.conv.transform(z, split)
        if split is not None:  # as gcnkit.functional.linear (a user's conv would have met add + tuple)
            raise ValueError("transform takes split or add, not both")
        if self._fuse_add:
            return self.conv.transform(z, None, add=add)
        return add + self.conv.transform(z)


def apply_operator(op: torch.nn.Module, x: Tensor, graphs: Optional[GraphSet], add: Tensor, *,
                   zero_input: bool = False) -> Tensor:
    """``add + op(x, graphs)``: the sum accumulated by the operator's GEMM for gcnkit's operators
    (no pass of its own over the result), added afterwards for a custom one.

    ``zero_input=True`` says that ``x`` is all zeros (the fresh state of a sequence's first step):
    gcnkit's own operators, affine in ``x``, then return ``add`` plus their bias with no product
    and no pass over the graph (the graph is still checked). A custom operator, or one with hooks,
    is called as usual."""
    if zero_input and _affine_without_hooks(op):
        return _zero_input_output(op, graphs, add)
    # not a subclass overriding forward(x, graphs), and no hooks, which must see op(x) alone
    if type(op).forward in _ADDING_FORWARDS and not _called_through_hooks(op):
        return op(x, graphs, add=add)
    return add + op(x, graphs)


def _zero_input_output(op: Union[DenseOperator, GraphOperator], graphs: Optional[GraphSet], add: Tensor) -> Tensor:
    """``add + op(0)`` = ``add + bias``, with the operator's weights kept in the autograd graph
    (their gradient is 0, as through the product: a one-step sequence must not leave them
    without ``.grad``, which DistributedDataParallel and weight decay would notice)."""
    if graphs is not None and op.graph_options is not None:
        graphs.get(op.graph_options)  # a wrong graph is refused at the first step too
    if isinstance(op, DenseOperator):
        weight_of(op.lin)  # pruning hooks recompute the bias too
    weights = [p for p in op.parameters() if p.requires_grad]
    bias = op.bias
    if torch.is_grad_enabled() and weights:
        keep = cast(Tensor, sum(w.sum() for w in weights)) * 0.0  # (weights is not empty: not sum's 0)
        bias = keep if bias is None else bias + keep
    if bias is None:
        return add
    if bias.dtype != add.dtype:  # autocast: as the product's output, add's dtype
        bias = bias.to(add.dtype)
    return add + bias


def _affine_without_hooks(op: torch.nn.Module) -> TypeGuard[Union[DenseOperator, GraphOperator]]:
    """Whether ``op`` is one of gcnkit's operators, not a subclass, around a gcnkit conv (then
    ``op(0) == bias``), called without hooks."""
    if type(op) is DenseOperator:
        return not _called_through_hooks(op)
    return (type(op) is GraphOperator and op._fuse_add and not _called_through_hooks(op)
            and not _called_through_hooks(op.conv))


_ADDING_FORWARDS = (DenseOperator.forward, GraphOperator.forward)


def splits(op: torch.nn.Module) -> bool:
    """Whether ``op(x, graphs)`` may run as ``op.transform(op.prepare(x, graphs))`` (the
    sequence runner's input side of all steps at once): gcnkit's operators unless a subclass
    overrides ``forward`` or wraps a conv that overrides its methods (which the split would skip);
    another module when it declares ``two_phase`` or has both methods."""
    if isinstance(op, (DenseOperator, GraphOperator)):
        return (type(op).forward in _ADDING_FORWARDS and op.two_phase
                and (not isinstance(op, GraphOperator) or op._fuse_add))
    return bool(getattr(op, "two_phase", hasattr(op, "prepare") and hasattr(op, "transform")))


def _called_through_hooks(module: torch.nn.Module) -> bool:
    """Whether calling ``module`` runs more than its ``forward`` (forward hooks or pre-hooks, on
    it or global, or ``Module.compile()``): then the fused path, which calls its methods
    directly, would skip them."""
    # torch's private hook registries, read defensively (a renamed one counts as no hooks)
    return bool(getattr(module, "_forward_hooks", None) or getattr(module, "_forward_pre_hooks", None)
                or getattr(nn_module, "_global_forward_hooks", None)
                or getattr(nn_module, "_global_forward_pre_hooks", None)
                or getattr(module, "_compiled_call_impl", None) is not None)


def make_operator(spec: OperatorSpec, in_channels: int, out_channels: int, *, bias: bool = True,
                  **kwargs) -> torch.nn.Module:
    """Builds a gate map.

    ``spec``: ``"linear"`` (:class:`DenseOperator`), ``"gcn"`` (``KipfGCNConv``, kwargs e.g.
    ``self_loop_weight``), ``"cheb"`` (``ChebyshevConv``, kwargs ``K`` = polynomial degree,
    default 1, and ``lambda_max``), any name of :data:`~gcnkit.nn.conv.CONV_REGISTRY`, or a callable
    ``(in_channels, out_channels) -> module`` (a gcnkit conv is wrapped in :class:`GraphOperator`;
    any other module must accept ``(x, graphs)`` and set ``graph_options``; its
    ``reset_parameters()``, if it has one, runs with the cell's). A callable builds the module
    itself: ``bias=False`` and options are refused there (set them inside the callable).

    Args:
        spec (OperatorSpec): see above.
        in_channels, out_channels (int): the map's widths.
        bias (bool): (default: ``True``)
        **kwargs: options of the conv.

    Returns:
        torch.nn.Module: the gate map (a :class:`GraphOperator` around a gcnkit conv).
    """
    if callable(spec) and not isinstance(spec, str):
        name = getattr(spec, "__name__", type(spec).__name__)
        if kwargs or not bias:
            given = sorted(kwargs) + ([] if bias else ["bias=False"])
            raise TypeError(f"the operator {name} is a callable (in_channels, out_channels) -> module, which "
                            f"gcnkit cannot pass options to; got {', '.join(given)} for it (from the cell's "
                            f"bias/recurrent_bias or input_kwargs/hidden_kwargs): set them inside the callable")
        module = spec(in_channels, out_channels)
    elif spec == "linear":
        if kwargs:
            raise TypeError(f"the linear operator takes no options, got {sorted(kwargs)}")
        return DenseOperator(in_channels, out_channels, bias=bias)
    elif spec == "gcn":
        module = KipfGCNConv(in_channels, out_channels, bias=bias, **kwargs)
    elif spec == "cheb":
        kwargs.setdefault("K", 1)
        module = ChebyshevConv(in_channels, out_channels, bias=bias, **kwargs)
    elif spec in CONV_REGISTRY:
        module = make_conv(spec, in_channels, out_channels, bias=bias, **kwargs)
    else:
        raise ValueError(f"unknown operator={spec!r}; choose one of {', '.join(map(repr, OPERATOR_NAMES))} "
                         f"or pass a callable (in_channels, out_channels) -> module")
    if isinstance(module, GraphConvBase):
        return GraphOperator(module)
    if not hasattr(module, "graph_options"):
        raise TypeError(f"a custom operator must be a gcnkit graph convolution or define "
                        f"graph_options (None for a dense map), got {type(module).__name__}")
    return module
