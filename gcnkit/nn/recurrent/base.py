r"""What every recurrent cell shares: the fused input map, state handling and input checks.

A cell computes one step ``state_t = cell(x_t, state_{t-1})`` in two parts:

- :meth:`RecurrentCellBase.project_input`: the input-side map :math:`U x_t` for *all* gates, one
  fused operator call; it has no recurrence, so the sequence runner applies it to all ``T``
  steps of a static-graph sequence at once;
- :meth:`RecurrentCellBase.step`: the recurrent map :math:`W h_{t-1}` and the gate equations
  (written once per cell, in ``elman.py``, ``lstm.py``, ``gru.py``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Literal, Optional, Tuple, TypeVar, Union

import torch
from torch import Tensor

from gcnkit.functional.cache import graph_cache
from gcnkit.functional.graph_input import GraphInput, refuse_tracing
from gcnkit.functional.validation import check_bool, check_choice, check_dtype_matches, check_finite, check_int
from gcnkit.nn.recurrent import docs
from gcnkit.nn.recurrent.operators import GraphSet, OperatorSpec, make_operator
from gcnkit.nn.shared_doc import shared_doc

State = Union[Tensor, Tuple[Tensor, Tensor]]
#: A cell's own state type: ``Tensor`` (Elman, GRU) or ``Tuple[Tensor, Tensor]`` (LSTM).
S = TypeVar("S", bound=State)
#: Per cell class: whether its first step from :meth:`RecurrentCellBase.init_state` may skip the
#: recurrent products (``init_state`` is gcnkit's zeros and ``step`` takes ``zero_state``).
_ZERO_STATE_STEPS: dict = {}
Activation = Literal["tanh", "sigmoid"]
ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


def activation(name: str, choices: Tuple[str, ...] = ("tanh", "sigmoid")):
    check_choice("activation", name, choices)
    return ACTIVATIONS[name]


@shared_doc(args_head=docs.CELL_CHANNELS, args=docs.CELL_OPTIONS, shapes=docs.CELL_SHAPES)
class RecurrentCellBase(torch.nn.Module, Generic[S]):
    r"""Base class of :class:`ElmanCell`, :class:`LSTMCell` and :class:`GRUCell`: one step
    ``state_t = cell(x_t, edge_index, edge_weight, state_{t-1})``; the arguments below are every cell's.
    """

    #: How the input map's output is split for :meth:`step`, in blocks of ``hidden_channels``
    #: (e.g. GRU: ``(2, 1)``, the gates and the candidate); their sum is the map's width.
    input_split: Tuple[int, ...] = (1,)

    def __init__(self, in_channels: int, hidden_channels: int, *, input_operator: OperatorSpec = "linear",
                 hidden_operator: OperatorSpec = "linear", bias: bool = True,
                 recurrent_bias: Optional[bool] = None, input_kwargs: Optional[dict] = None,
                 hidden_kwargs: Optional[dict] = None):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.hidden_channels = check_int("hidden_channels", hidden_channels, 1)
        self.bias = check_bool("bias", bias)
        self.recurrent_bias = self.bias if recurrent_bias is None else check_bool("recurrent_bias", recurrent_bias)
        options = (("input_kwargs", input_kwargs, input_operator, "bias={b}, recurrent_bias={r}"),
                   ("hidden_kwargs", hidden_kwargs, hidden_operator, "recurrent_bias={b}"))
        for name, given, spec, remedy in options:
            if given and "bias" in given:  # (was make_operator's "got multiple values for keyword argument")
                # (recurrent_bias defaults to bias: the input map's alone needs both)
                fix = remedy.format(b=given["bias"], r=recurrent_bias if recurrent_bias is not None else bias)
                fix = f"pass {fix} to the cell" if isinstance(spec, str) else "set them inside the callable"
                raise TypeError(f"{name} must not hold 'bias': the cell sets its maps' biases; {fix}")
        self._op_names = (getattr(input_operator, "__name__", input_operator),
                          getattr(hidden_operator, "__name__", hidden_operator))
        self._hidden_spec = (hidden_operator, dict(hidden_kwargs or {}))
        self.input_map = make_operator(input_operator, self.in_channels,
                                       sum(self.input_split) * self.hidden_channels, bias=bias,
                                       **dict(input_kwargs or {}))

    def hidden_operator(self, out_channels: int) -> torch.nn.Module:
        """A new recurrent map ``hidden_channels -> out_channels`` of the configured kind."""
        spec, kwargs = self._hidden_spec
        return make_operator(spec, self.hidden_channels, out_channels, bias=self.recurrent_bias, **kwargs)

    def reset_parameters(self) -> None:
        for module in self.children():
            if hasattr(module, "reset_parameters"):  # a custom operator need not have one
                module.reset_parameters()  # type: ignore[operator]  # (Module.__getattr__: Tensor | Module)

    # ------------------------------------------------------------------ graph and state
    @property
    def uses_graph(self) -> bool:
        return any(getattr(m, "graph_options", None) is not None for m in self.children())

    def graphs(self, edge_index: Optional[GraphInput], edge_weight: Optional[Tensor], x: Tensor,
               cache=graph_cache) -> Optional[GraphSet]:
        """The :class:`GraphSet` for features ``x`` (``None`` for a graph-free cell). A conv built
        with ``cached=False`` (for graphs edited behind autograd's version counter) makes the cell
        keep nothing either: the graph is normalized per call (per sequence in :func:`run_sequence`)."""
        if not self.uses_graph:
            return None
        if cache is not None and not self._convs_cache():
            cache = None
        return GraphSet(edge_index, edge_weight, x.size(-2), x.device, x.dtype, cache)

    def _convs_cache(self) -> bool:
        """Whether every conv of the cell's maps keeps its graph (``cached=True``); read from
        ``_modules`` directly (``children()`` and ``Module.__getattr__`` cost ~7 us a step)."""
        for module in self._modules.values():
            conv = module._modules.get("conv") if module is not None else None
            if conv is not None and not getattr(conv, "cached", True):
                return False
        return True

    def init_state(self, x: Tensor) -> S:
        """Zero state for features ``x`` of shape ``[*, F]``: ``[*, H]``."""
        # the one-tensor state (S = Tensor); a cell with another state overrides this (LSTMCell)
        return self._zero_hidden(x)  # type: ignore[return-value]

    def _zero_hidden(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[:-1] + (self.hidden_channels,))

    @staticmethod
    def output(state: State) -> Tensor:
        """The hidden output :math:`h_t` of a state."""
        return state[0] if isinstance(state, tuple) else state

    def check_state(self, state: S, x: Tensor) -> None:
        """A state passed in: one tensor (a tuple ``(h, s)`` for :class:`LSTMCell`) of shape
        ``[*, N, hidden_channels]`` matching ``x``, with ``x``'s dtype and device, finite."""
        if isinstance(state, tuple):
            raise TypeError(f"{type(self).__name__}'s state is one Tensor [*, N, hidden_channels], "
                            f"got a tuple of {len(state)}")
        self.check_state_tensors((state,), x)

    def check_state_tensors(self, states: Tuple[Tensor, ...], x: Tensor) -> None:
        expected = x.shape[:-1] + (self.hidden_channels,)
        for s in states:
            if not isinstance(s, Tensor):
                raise TypeError(f"state must be a Tensor (or a tuple for LSTMCell), got {type(s).__name__}")
            if s.shape != expected:
                raise ValueError(f"state has shape {tuple(s.shape)} but the input of shape "
                                 f"{tuple(x.shape)} needs {tuple(expected)} ([*, N, hidden_channels])")
            if s.dtype != x.dtype or s.device != x.device:
                raise TypeError(f"state is {s.dtype} on {s.device} but x is {x.dtype} on {x.device}; "
                                f"move the state with state.to(x)")
            check_finite("state", s)

    def check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point Tensor, got "
                            f"{x.dtype if isinstance(x, Tensor) else type(x).__name__}")
        if x.layout != torch.strided:
            raise TypeError(f"x must be a dense tensor: the recurrent cells take dense features, got a {x.layout} "
                            f"tensor (x.to_dense())")
        if self.uses_graph and x.dim() < 2:
            raise ValueError(f"x must have shape [*, N, F] (nodes, then features) for a cell with graph "
                             f"operators, got {tuple(x.shape)}")
        if x.dim() < 1 or x.size(-1) != self.in_channels:
            raise ValueError(f"x has {x.size(-1) if x.dim() else 0} features but the cell expects "
                             f"in_channels={self.in_channels} (shape {tuple(x.shape)})")
        check_dtype_matches(x, self)

    # ------------------------------------------------------------------ the step
    def project_input(self, x: Tensor, graphs: Optional[GraphSet]) -> Tuple[Tensor, ...]:
        """:math:`U x` for every gate, one call, split as :attr:`input_split`:
        ``[*, F] -> ([*, k_1 H], [*, k_2 H], ...)``."""
        return self.split_input(self.input_map(x, graphs))

    @property
    def input_sizes(self) -> Tuple[int, ...]:
        """The widths of the input map's parts (:attr:`input_split` times ``hidden_channels``)."""
        return tuple(k * self.hidden_channels for k in self.input_split)

    def split_input(self, ux: Tensor) -> Tuple[Tensor, ...]:
        """The input map's output split into the parts :meth:`step` takes (:attr:`input_split`)."""
        if len(self.input_split) == 1:
            return (ux,)
        return ux.split(self.input_sizes, dim=-1)

    def step(self, ux: Tuple[Tensor, ...], state: S, graphs: Optional[GraphSet], *,
             zero_state: bool = False) -> S:  # pragma: no cover
        """The recurrent part of one step, given this step's :meth:`project_input` parts.

        ``zero_state=True`` says that ``state`` is the zero state of :meth:`init_state` (the
        first step of a sequence started without one): the recurrent maps of a zero state are
        their biases, so gcnkit's operators skip their products."""
        raise NotImplementedError

    def step_from(self, ux: Tuple[Tensor, ...], state: S, graphs: Optional[GraphSet],
                  zero_state: bool) -> S:
        """:meth:`step`, telling it that ``state`` came from :meth:`init_state` only when that is
        gcnkit's zeros and :meth:`step` takes ``zero_state`` (a subclass may override either)."""
        if zero_state and self._step_takes_zero_state():
            return self.step(ux, state, graphs, zero_state=True)
        return self.step(ux, state, graphs)

    def _step_takes_zero_state(self) -> bool:
        cls = type(self)
        known = _ZERO_STATE_STEPS.get(cls)
        if known is None:  # once per class
            import inspect

            try:
                takes = "zero_state" in inspect.signature(cls.step).parameters
            except (TypeError, ValueError):  # pragma: no cover - a builtin or odd callable
                takes = False
            init = cls.init_state  # gcnkit's zeros, not a subclass's (e.g. a learned h0)
            ours = getattr(init, "__module__", "").startswith("gcnkit.nn.recurrent.") and getattr(
                init, "__qualname__", "").startswith(("RecurrentCellBase.", "LSTMCell."))
            known = _ZERO_STATE_STEPS[cls] = takes and ours
        return known

    def refuse_state_as_graph(self, edge_index, torch_call: str, remedy: str) -> None:
        """A graph-free cell ignores ``edge_index``: a state given there (a floating-point tensor, a
        tuple, or a list of floating-point tensors), as ``torch.nn``'s recurrent modules take it
        second, would be silently unused. A ``TypeError`` naming the call to make instead."""
        if self.uses_graph:
            return
        items = edge_index if isinstance(edge_index, list) else [edge_index]
        # (a torch.sparse adjacency is a graph, which a dense cell may be given in a common loop)
        if isinstance(edge_index, tuple) or any(isinstance(t, Tensor) and t.layout == torch.strided
                                                and t.is_floating_point() for t in items):
            raise TypeError(f"{type(self).__name__} got a state-like {type(edge_index).__name__} as edge_index, "
                            f"the argument after x: torch.nn takes the state there ({torch_call}); gcnkit's "
                            f"are (x, edge_index, edge_weight, state): pass {remedy}")

    def forward(self, x: Tensor, edge_index: Optional[GraphInput] = None,
                edge_weight: Optional[Tensor] = None, state: Optional[S] = None) -> S:
        """One step. ``x``: ``[*, F]`` (``[*, N, F]`` with a graph); returns the new state."""
        self.refuse_state_as_graph(edge_index, "cell(x, hx)", "cell(x, state=hx)")
        refuse_tracing()
        self.check_input(x)
        check_finite("x", x)  # (a sequence's x is checked once by run_sequence, not per step)
        graphs = self.graphs(edge_index, edge_weight, x)
        fresh = state is None
        if state is None:
            state = self.init_state(x)
        else:
            self.check_state(state, x)
        return self.step_from(self.project_input(x, graphs), state, graphs, zero_state=fresh)

    if TYPE_CHECKING:  # calls are checked against forward's parameters (torch types Module.__call__
        # as Any); *args/**kwargs take what a subclass's forward adds (tests/test_typing.py keeps
        # the two in step)
        def __call__(self, x: Tensor, edge_index: Optional[GraphInput] = None,
                     edge_weight: Optional[Tensor] = None, state: Optional[S] = None, *args: Any,
                     **kwargs: Any) -> S: ...

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.hidden_channels}, input_operator={self._op_names[0]}, "
                f"hidden_operator={self._op_names[1]}" + ("" if self.bias else ", bias=False")
                + ("" if self.recurrent_bias == self.bias else f", recurrent_bias={self.recurrent_bias}"))
