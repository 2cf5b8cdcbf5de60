r"""Running a cell over a sequence (full BPTT, or truncated inside one call).

:func:`run_sequence` unrolls a cell over ``x`` of shape ``[B, T, N, F]`` (``B`` independent
sequences, time on the third axis from the end; ``[T, N, F]`` for one sequence) on

- a **static graph** (one ``edge_index``/``edge_weight``): the graph is normalized once for the
  whole sequence (once per normalization the cell's operators use) and the input-side map of
  all ``T`` steps is *one* operator call on ``x`` with ``B*T`` folded into the columns of a
  single sparse matmul; only the recurrent map runs step by step;
- **per-step graphs** (a list of ``T`` ``edge_index`` and optionally of ``T`` ``edge_weight``):
  each step's graph is normalized once, shared by all gates of that step.

The state is carried across steps and returned, so the next call continues from it (PyG
Temporal's examples reset it at every snapshot). Nothing moves between host and device per step.

Truncated BPTT: ``detach_every=k`` cuts the gradient every ``k`` steps inside one call;
:func:`~gcnkit.nn.recurrent.tbptt.tbptt_backward` also frees the activations after every chunk of
``k`` steps (it calls ``backward`` per chunk), so the memory of a training step does not grow with
``T``.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple, Union, overload

import torch
from torch import Tensor
from torch.nn.utils import parametrize

from gcnkit.functional.cache import graph_cache
from gcnkit.functional.graph_input import refuse_tracing
from gcnkit.functional.linear import shared_weights
from gcnkit.functional.spmm import finite_operands
from gcnkit.functional.validation import check_bool, check_finite, check_int, finite_checked
from gcnkit.nn.recurrent.base import RecurrentCellBase, S, State
from gcnkit.nn.recurrent.operators import DenseOperator, GraphOperator, _called_through_hooks, splits

EdgeIndexes = Union[Tensor, object, Sequence[Tensor]]

#: The input side's weights are applied per step (not to all T steps at once) when the input is
#: narrower than the gates and the all-steps pre-activations would have at least this many
#: entries (Los-loop batches: 15M; there the big intermediate and its backward cost more than T
#: small GEMMs; on one long sequence of a small graph, the per-step calls cost more).
_PER_STEP_INPUT_NUMEL = 1 << 22


@overload
def detach_state(state: None) -> None: ...
@overload
def detach_state(state: S) -> S: ...
def detach_state(state: Optional[State]) -> Optional[State]:
    """The state cut from the autograd graph (tuples of tensors for LSTM).

    Args:
        state (State, optional): a tensor, an LSTM's ``(h, c)``, or ``None``.

    Returns:
        State, optional: detached, of the same structure (``None`` for ``None``).
    """
    return None if state is None else _map_state(state, Tensor.detach)


def _map_state(state: S, fn: Callable[[Tensor], Tensor]) -> S:
    # (each tensor mapped: a tuple stays a tuple of as many tensors, which mypy cannot follow)
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)  # type: ignore[return-value]


def _is_sequence(obj) -> bool:
    return isinstance(obj, (list, tuple))


def check_sequence_input(x: Tensor, cell: RecurrentCellBase, edge_index, edge_weight) -> int:
    """Validates a sequence input and returns ``T``; raises a clear error otherwise."""
    refuse_tracing()  # (before the NaN check, where export would stop unexplained)
    check_sequence_shape(x)
    cell.check_input(x)
    check_finite("x", x)
    T = x.size(-3)
    if T == 0:
        raise ValueError("x has T=0 time steps")
    cell.refuse_state_as_graph(edge_index, "rnn(x, h0)", "run_sequence(cell, x, state=h0) / model(x, state=h0)")
    check_step_graphs(edge_index, edge_weight, T)
    return T


def positive_int(name: str, value) -> int:
    """``value`` as a plain ``int`` >= 1 (NumPy's integers and 0-d integer tensors too, as
    :func:`~gcnkit.functional.validation.check_int`); otherwise a ``ValueError`` naming it."""
    try:
        return check_int(name, value, 1)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from None


def check_sequence_shape(x: Tensor) -> None:
    """``x`` is a tensor ``[B, T, N, F]`` or ``[T, N, F]`` (time the third axis from the end)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a Tensor of shape [B, T, N, F] or [T, N, F], got {type(x).__name__}")
    if x.dim() < 3:
        hint = ("; for one snapshot [N, F] (PyTorch Geometric Temporal's loop) pass x[None], a sequence "
                "of T=1, and the returned state to the next call") if x.dim() == 2 else ""
        raise ValueError(f"x must have shape [B, T, N, F] or [T, N, F] (time is the third axis from "
                         f"the end), got {tuple(x.shape)}{hint}")


def check_step_graphs(edge_index, edge_weight, T: int) -> None:
    """Per-step graphs (lists) must number ``T``, and per-step weights need per-step graphs."""
    if _is_sequence(edge_index):
        if len(edge_index) != T:
            raise ValueError(f"got {len(edge_index)} per-step graphs (edge_index list) for T={T} time steps")
        if edge_weight is not None and (not _is_sequence(edge_weight) or len(edge_weight) != T):
            n = len(edge_weight) if _is_sequence(edge_weight) else "one tensor"
            raise ValueError(f"with per-step graphs edge_weight must be None or a list of T={T} tensors, got {n}")
    elif _is_sequence(edge_weight):
        raise ValueError("edge_weight is a list (per-step weights) but edge_index is a single graph: "
                         "pass a list of T edge_index tensors too")


def run_sequence(cell: RecurrentCellBase[S], x: Tensor, edge_index: Optional[EdgeIndexes] = None,
                 edge_weight: Optional[Union[Tensor, Sequence[Optional[Tensor]]]] = None,
                 state: Optional[S] = None, *, detach_every: Optional[int] = None,
                 return_sequence: bool = True, cache=graph_cache) -> Tuple[Tensor, S]:
    r"""Unrolls ``cell`` over the time axis of ``x``.

    Args:
        cell: an :class:`ElmanCell`, :class:`LSTMCell` or :class:`GRUCell` (any operators).
        x (Tensor): ``[B, T, N, F]`` or ``[T, N, F]``.
        edge_index: a static graph (``[2, E]``, sparse adjacency, ``NormalizedGraph``) or a list
            of ``T`` of them. Ignored (may be ``None``) for graph-free cells. (default: ``None``)
        edge_weight: ``[E]``, or a list of ``T`` (with a list of graphs). (default: ``None``)
        state: the state to start from (``[B, N, H]``; ``(h, s)`` for LSTM); zeros if ``None``. (default: ``None``)
        detach_every (int, optional): truncated BPTT, detach the state every ``k`` steps. (default: ``None``)
        return_sequence (bool): return :math:`h_t` of every step or only the last. (default: ``True``)
        cache: the graph-keyed normalization cache (``None``: normalize once per call).
            (default: ``graph_cache``)

    Returns:
        ``(outputs, state)``: :math:`h_t` for every step, ``[B, T, N, H]`` (``[T, N, H]``), or the
        last one ``[B, N, H]`` with ``return_sequence=False``; and the final state, to pass to
        the next call.
    """
    return_sequence = check_bool("return_sequence", return_sequence)
    T = check_sequence_input(x, cell, edge_index, edge_weight)
    if detach_every is not None:
        detach_every = positive_int("detach_every", detach_every)
    lead = x.shape[:-3]
    if len(lead) and all(d == 1 for d in lead):  # one sequence: run the cheaper unbatched path
        if state is not None:
            cell.check_state(state, x.select(-3, 0))
            state = _map_state(state, lambda s: s.reshape(s.shape[len(lead):]))
        with finite_checked("x", "state"):  # (checked above: one host sync per call, not two)
            out, state = run_sequence(cell, x.reshape(x.shape[-3:]), edge_index, edge_weight, state,
                                      detach_every=detach_every, return_sequence=return_sequence, cache=cache)
        return out.reshape(lead + out.shape), _map_state(state, lambda s: s.reshape(lead + s.shape))
    with finite_operands():  # x and the state were checked (the NaN check of the dense path)
        return _run_checked(cell, x, edge_index, edge_weight, state, detach_every, return_sequence, cache, T)


def _run_checked(cell: RecurrentCellBase[S], x: Tensor, edge_index, edge_weight, state: Optional[S],
                 detach_every: Optional[int], return_sequence: bool, cache, T: int) -> Tuple[Tensor, S]:
    x0 = x.select(-3, 0)
    fresh = state is None  # the first step's recurrent maps then see zeros: only their biases
    if state is None:
        state = cell.init_state(x0)
    else:
        cell.check_state(state, x0)
    dynamic = _is_sequence(edge_index)
    static_graphs = None if dynamic else cell.graphs(edge_index, edge_weight, x, cache)
    steps = prepared = None
    imap = cell.input_map
    width = sum(cell.input_sizes)  # the input map's output width
    if not dynamic or getattr(imap, "graph_options", None) is None:
        if splits(imap) and cell.in_channels <= width and not _has_hooks(imap):
            # the graph part of the input side of all T steps: one sparse matmul (B*T folded)
            z = imap.prepare(x, static_graphs)  # type: ignore[operator]  # (Module.__getattr__: Tensor | Module)
            rows = z.numel() // max(z.size(-1), 1)
            if z.size(-1) < width and rows * width >= _PER_STEP_INPUT_NUMEL:
                # narrower than the gates and large: weights per step, no [B, T, N, gates*H]
                # intermediate; time-major so each step's slice is contiguous
                prepared = z.movedim(-3, 0).contiguous().unbind(0)
            else:
                steps = list(zip(*(part.unbind(-3) for part in _apply_parts(cell, z))))
        else:  # wider input than gates (the conv picks its cheaper order) or an operator
            # without the prepare/transform split: the whole map in one call, then one unbind per part
            steps = list(zip(*(part.unbind(-3) for part in cell.project_input(x, static_graphs))))
    outputs: List[Tensor] = []
    # each weight's transpose made once for the T steps, and each parametrized weight
    # (torch.nn.utils.parametrize) computed once, not at every step
    with shared_weights(), parametrize.cached():
        for t in range(T):
            graphs = static_graphs
            if dynamic:
                ew = None if edge_weight is None else edge_weight[t]
                graphs = cell.graphs(edge_index[t], ew, x0, cache)
            if prepared is not None:
                ux_t = _apply_parts(cell, prepared[t])
            elif steps is not None:
                ux_t = steps[t]
            else:
                ux_t = cell.project_input(x.select(-3, t), graphs)
            state = cell.step_from(ux_t, state, graphs, zero_state=fresh and t == 0)
            if return_sequence:
                outputs.append(cell.output(state))
            if detach_every is not None and (t + 1) % detach_every == 0 and t + 1 < T:
                state = detach_state(state)
    # the last output apart from the state (as torch.nn.GRU's output and h_n): writing to one
    # must not change the other
    out = torch.stack(outputs, dim=-3) if return_sequence else cell.output(state).clone()
    return out, state


def _has_hooks(op: torch.nn.Module) -> bool:
    """Whether calling ``op`` runs hooks (its own or its conv's), which the split into
    ``prepare``/``transform`` would skip: then the map is called as a module."""
    return _called_through_hooks(op) or (isinstance(op, GraphOperator) and _called_through_hooks(op.conv))


def _apply_parts(cell: RecurrentCellBase, z: Tensor) -> Tuple[Tensor, ...]:
    """The input map's weights applied to its prepared graph part, as the parts :meth:`step`
    takes; gcnkit's operators compute the parts apart (no concatenation in the backward pass)."""
    imap = cell.input_map
    if isinstance(imap, (DenseOperator, GraphOperator)):
        return imap.transform(z, split=cell.input_sizes)
    return cell.split_input(imap.transform(z))  # type: ignore[operator]  # (Module.__getattr__: Tensor | Module)


def __getattr__(name: str):
    # tbptt_backward and clip_grad_norm lived here before gcnkit.nn.recurrent.tbptt (which imports
    # this module): imported from there on first access
    if name in ("tbptt_backward", "clip_grad_norm"):
        from gcnkit.nn.recurrent import tbptt

        return getattr(tbptt, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
