r"""Truncated BPTT over a long sequence (:func:`tbptt_backward`: ``backward`` per chunk of ``k``
steps, so memory is flat in ``T``) and gradient-norm clipping (:func:`clip_grad_norm`)."""
from __future__ import annotations

from typing import Callable, Iterable, List, Optional, Tuple, Union

import torch
from torch import Tensor

from gcnkit.functional.validation import check_finite, check_real, finite_checked
from gcnkit.nn.recurrent.base import S
from gcnkit.nn.recurrent.sequence import (_is_sequence, check_sequence_shape, check_step_graphs, detach_state,
                                         positive_int)


def _chunk_graph(obj, start: int, stop: int):
    """Per-step graph lists are sliced with the chunk; a static graph is passed as is."""
    return obj[start:stop] if _is_sequence(obj) else obj


def tbptt_backward(model: Callable[..., Tuple[Tensor, S]], x: Tensor, target: Tensor,
                   edge_index=None, edge_weight=None, *, k: int,
                   loss_fn: Callable[[Tensor, Tensor], Tensor], state: Optional[S] = None,
                   ) -> Tuple[Tensor, S]:
    r"""Truncated BPTT over a long sequence: forward ``k`` steps, ``backward``, detach, repeat.

    Gradients accumulate into the parameters' ``.grad`` (call ``optimizer.zero_grad()`` before
    and ``optimizer.step()`` after); each chunk's loss is weighted by its share of the ``T``
    steps, so the accumulated gradient is that of the mean loss when ``loss_fn`` is a mean. Only
    one chunk's activations are alive at a time: memory is flat in ``T``.

    Args:
        model: called as ``model(x_chunk, edge_index, edge_weight, state=state)`` and returning
            ``(output, state)`` (every gcnkit recurrent model and :func:`run_sequence` via a lambda).
        x: ``[B, T, N, F]`` or ``[T, N, F]``; ``target`` has its time axis at the same position
            (axis ``x.dim() - 3``), e.g. ``[B, T, N]``.
        target: the targets, as above.
        edge_index, edge_weight: a static graph, or lists of ``T`` (sliced with the chunks).
            (default: ``None``)
        k (int): chunk length.
        loss_fn: ``loss_fn(output, target_chunk)``, a scalar.
        state: the state to start from, as for :func:`run_sequence`. (default: ``None``)

    Returns:
        ``(loss, state)``: the mean loss (detached) and the final state (detached).

    ``x``'s shape and values (NaN, inf) and the per-step graphs' count are checked before the
    first chunk. An error in a later chunk (e.g. a per-step graph with a node out of range) or an
    interrupt leaves no partial gradient behind when ``model`` is an ``nn.Module``: its
    parameters' ``.grad`` are restored to what they were before the call.
    """
    k = positive_int("k", k)
    check_sequence_shape(x)
    if not isinstance(target, Tensor):
        raise TypeError(f"target must be a Tensor, got {type(target).__name__}")
    axis = x.dim() - 3
    T = x.size(axis)
    if T == 0:
        raise ValueError("x has T=0 time steps")
    if target.dim() <= axis or target.size(axis) != T:
        got = f"shape {tuple(target.shape)}" if target.dim() <= axis else f"{target.size(axis)} time steps"
        raise ValueError(f"target must have x's T={T} time steps on axis {axis} (x: {tuple(x.shape)}), "
                         f"got {got}")
    check_step_graphs(edge_index, edge_weight, T)  # before any chunk adds to the gradients
    check_finite("x", x)
    saved = _saved_grads(model)
    total = x.new_zeros(())
    try:
        for start in range(0, T, k):
            stop = min(start + k, T)
            # x was checked above, and from the second chunk on the state is the one carried here:
            # no host sync per chunk for them (a state given by the caller is checked in the first)
            with finite_checked("x", *(("state",) if start else ())):
                out, state = model(x.narrow(axis, start, stop - start), _chunk_graph(edge_index, start, stop),
                                   _chunk_graph(edge_weight, start, stop), state=state)
            loss = loss_fn(out, target.narrow(axis, start, stop - start)) * ((stop - start) / T)
            loss.backward()
            total = total + loss.detach()
            state = detach_state(state)
    except BaseException:
        for p, grad in saved:
            p.grad = grad
        raise
    return total, state  # type: ignore[return-value]  # (T >= 1: state is the last chunk's, not None)


def _saved_grads(model) -> List[Tuple[Tensor, Optional[Tensor]]]:
    """``(parameter, copy of its .grad)`` for a module's parameters (``[]`` for other callables)."""
    if not isinstance(model, torch.nn.Module):
        return []
    return [(p, None if p.grad is None else p.grad.clone()) for p in model.parameters()]


def clip_grad_norm(parameters: Union[torch.nn.Module, Tensor, Iterable[Tensor]], max_norm: Optional[float]) -> Tensor:
    """Clips the global gradient norm to ``max_norm`` (no-op for ``None``); returns the norm
    before clipping (a tensor, no host sync). ``max_norm`` must be positive: torch's clipping
    would flip the gradients' sign for a negative one and zero them for 0.

    Args:
        parameters (Module, Tensor or Iterable[Tensor]): what to clip.
        max_norm (float, optional): the largest norm; ``None`` only measures.

    Returns:
        Tensor: the total norm, a scalar ``[]`` (zero without gradients).
    """
    if max_norm is not None and not 0 < check_real("max_norm", max_norm) < float("inf"):
        raise ValueError(f"max_norm must be a positive finite gradient norm, got {max_norm}")
    if isinstance(parameters, torch.nn.Module):
        parameters = parameters.parameters()
    elif isinstance(parameters, Tensor):  # one tensor, as torch.nn.utils.clip_grad_norm_ takes it
        parameters = [parameters]
    params = [p for p in parameters if p.grad is not None]
    if max_norm is None:
        if not params:
            return torch.zeros(())  # no gradients: no device to put it on either
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    return torch.nn.utils.clip_grad_norm_(params, max_norm)
