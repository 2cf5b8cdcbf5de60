r"""A recurrent cell unrolled over a sequence, with an optional per-node linear read-out."""
from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any, Generic, Optional, Tuple

import torch
from torch import Tensor

from gcnkit.functional.cache import graph_cache
from gcnkit.functional.validation import check_int
from gcnkit.nn.recurrent.base import RecurrentCellBase, S
from gcnkit.nn.recurrent.sequence import run_sequence
from gcnkit.nn.shared_doc import shared_doc

#: The shapes of every recurrent model's ``forward``.
MODEL_SHAPES = r"""
- **input:** ``x`` :math:`(*, T, |\mathcal{V}|, F)`: :math:`(B, T, |\mathcal{V}|, F)` or
  :math:`(T, |\mathcal{V}|, F)`; a static graph (``edge_index`` :math:`(2, |\mathcal{E}|)`, sparse
  ``adj_t`` :math:`(|\mathcal{V}|, |\mathcal{V}|)` or ``NormalizedGraph``, ``edge_weight``
  :math:`(|\mathcal{E}|)`) or lists of ``T`` of them (ignored by a cell with dense operators);
  ``state`` from the previous call *(optional, zeros)*
- **output:** ``(y, state)``: ``y`` :math:`(*, T, |\mathcal{V}|, C)` (:math:`(*, |\mathcal{V}|, C)`
  with ``return_sequence=False``), :math:`C` = ``out_channels`` or ``hidden_channels``; ``state``
  :math:`(*, |\mathcal{V}|, H)`, a pair :math:`(h, s)` of them for an LSTM cell (GConvLSTM)"""


@shared_doc(shapes=MODEL_SHAPES)
class RecurrentGraphModel(torch.nn.Module, Generic[S]):
    r"""``cell`` run over the time axis by :func:`~gcnkit.nn.recurrent.run_sequence`, then
    :math:`y_t = h_t W_{out}^\top + b_{out}` when ``out_channels`` is given.

    Args:
        cell (RecurrentCellBase): the cell (:class:`~gcnkit.nn.recurrent.ElmanCell`,
            :class:`~gcnkit.nn.recurrent.GRUCell`, :class:`~gcnkit.nn.recurrent.LSTMCell`, any operators);
            the model's ``in_channels`` and ``hidden_channels`` are the cell's.
        out_channels (int, optional): width :math:`C` of the per-node linear read-out (``None``: none,
            the output is :math:`h_t`). (default: ``None``)
    """

    def __init__(self, cell: RecurrentCellBase[S], out_channels: Optional[int] = None):
        super().__init__()
        self.cell = cell
        self.in_channels, self.hidden_channels = cell.in_channels, cell.hidden_channels
        self.out_channels = None if out_channels is None else check_int("out_channels", out_channels, 1)
        self.readout = None if self.out_channels is None else torch.nn.Linear(cell.hidden_channels, self.out_channels)

    def reset_parameters(self) -> None:
        self.cell.reset_parameters()
        if self.readout is not None:
            self.readout.reset_parameters()

    def forward(self, x: Tensor, edge_index=None, edge_weight=None, state: Optional[S] = None, *,
                detach_every: Optional[int] = None, return_sequence: bool = True,
                cache=graph_cache) -> Tuple[Tensor, S]:
        h, state = run_sequence(self.cell, x, edge_index, edge_weight, state, detach_every=detach_every,
                                return_sequence=return_sequence, cache=cache)
        return (h if self.readout is None else self.readout(h)), state

    if TYPE_CHECKING:  # calls are checked against forward's parameters (torch types Module.__call__
        # as Any); *args/**kwargs take what a subclass's forward adds (tests/test_typing.py keeps
        # the two in step)
        def __call__(self, x: Tensor, edge_index=None, edge_weight=None, state: Optional[S] = None, *args: Any,
                     detach_every: Optional[int] = None, return_sequence: bool = True,
                     cache=graph_cache, **kwargs: Any) -> Tuple[Tensor, S]: ...

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.hidden_channels}"
        return s + (f", out_channels={self.out_channels}" if self.out_channels is not None else "")


def _forward_doc(runner_doc: Optional[str]) -> Optional[str]:
    """The models' ``forward`` docstring: :func:`run_sequence`'s arguments (but its ``cell``, the
    model's own), written there once, and what the read-out makes of its outputs."""
    if not runner_doc:  # python -OO
        return None
    args = re.search(r"^Args:\n(.*?)(?=^\S|\Z)", inspect.cleandoc(runner_doc), re.S | re.M)
    if args is None:  # pragma: no cover
        raise AssertionError("run_sequence's docstring has an Args section")
    items = re.sub(r"^    cell:.*\n", "", args.group(1), flags=re.M).rstrip()
    return f"""Runs the cell over the time axis of ``x`` (:func:`~gcnkit.nn.recurrent.run_sequence`), then
the read-out on every output.

Args:
{items}

Returns:
    ``(y, state)``: :math:`y_t = h_t W_{{out}}^\\top + b_{{out}}` (:math:`h_t` itself without ``out_channels``)
    for every step, ``[B, T, N, C]`` (``[T, N, C]``), or for the last one, ``[B, N, C]``, with
    ``return_sequence=False``; and the final state, to pass to the next call.
"""


RecurrentGraphModel.forward.__doc__ = _forward_doc(run_sequence.__doc__)
