r"""The LSTM cell."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from gcnkit.functional.validation import check_bool
from gcnkit.nn.recurrent.base import Activation, RecurrentCellBase, activation
from gcnkit.nn.recurrent.lstm_gates import lstm_gates
from gcnkit.nn.recurrent import docs
from gcnkit.nn.recurrent.operators import GraphSet, OperatorSpec, apply_operator
from gcnkit.nn.shared_doc import shared_doc


@shared_doc(args_head=docs.CELL_CHANNELS, args=docs.CELL_OPTIONS, shapes=docs.LSTM_SHAPES)
class LSTMCell(RecurrentCellBase[Tuple[Tensor, Tensor]]):
    r"""The LSTM cell, all four gates from one fused map on each side (order ``i, f, c, o`` as
    ``torch.nn.LSTMCell``):

    .. math::
        g_t &= \sigma(b^g + U^g x_t + W^g h_{t-1} \,[+\, w^g \odot s_{t-1}]) \quad\text{(input gate)}\\
        f_t &= \sigma(b^f + U^f x_t + W^f h_{t-1} \,[+\, w^f \odot s_{t-1}]) \quad\text{(forget gate)}\\
        s_t &= f_t \odot s_{t-1} + g_t \odot a(b + U x_t + W h_{t-1})\\
        q_t &= \sigma(b^o + U^o x_t + W^o h_{t-1} \,[+\, w^o \odot s_t]) \quad\text{(output gate)}\\
        h_t &= \tanh(s_t) \odot q_t

    The bracketed peephole terms (Gers & Schmidhuber 2000; used by Seo et al.'s GConvLSTM and
    PyG Temporal's) are on with ``peephole=True``. With dense operators and no peepholes this is
    ``torch.nn.LSTMCell``. The gate equations are computed by
    :mod:`gcnkit.nn.recurrent.lstm_gates` (a fused backward pass for large states).

    Args:
        cell_activation (str, optional): :math:`a`, ``"tanh"`` (as ``torch.nn.LSTMCell``) or
            ``"sigmoid"`` (the lecture notes' form). (default: ``"tanh"``)
        peephole (bool, optional): learn the diagonal peephole weights :math:`w^g, w^f, w^o`
            (shape ``[H]``; zero-initialised). (default: ``False``)
    """

    input_split = (4,)

    def __init__(self, in_channels: int, hidden_channels: int, *, cell_activation: Activation = "tanh",
                 peephole: bool = False, input_operator: OperatorSpec = "linear",
                 hidden_operator: OperatorSpec = "linear", bias: bool = True,
                 recurrent_bias: Optional[bool] = None, input_kwargs: Optional[dict] = None,
                 hidden_kwargs: Optional[dict] = None):
        super().__init__(in_channels, hidden_channels, input_operator=input_operator,
                         hidden_operator=hidden_operator, bias=bias, recurrent_bias=recurrent_bias,
                         input_kwargs=input_kwargs, hidden_kwargs=hidden_kwargs)
        activation(cell_activation)  # validates the name
        self.cell_activation = cell_activation
        self.peephole = check_bool("peephole", peephole)
        self.hidden_map = self.hidden_operator(4 * self.hidden_channels)
        if self.peephole:
            self.peephole_weight = torch.nn.Parameter(torch.empty(3, self.hidden_channels))
        else:
            self.register_parameter("peephole_weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.peephole_weight is not None:
            torch.nn.init.zeros_(self.peephole_weight)

    def init_state(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        h = self._zero_hidden(x)
        return h, torch.zeros_like(h)

    def check_state(self, state, x: Tensor) -> None:
        if not (isinstance(state, tuple) and len(state) == 2):
            raise TypeError("LSTMCell's state is a tuple (h, s) of two tensors")
        self.check_state_tensors(state, x)

    def step(self, ux: Tuple[Tensor, ...], state: Tuple[Tensor, Tensor],
             graphs: Optional[GraphSet], *, zero_state: bool = False) -> Tuple[Tensor, Tensor]:
        h, s = state
        z = apply_operator(self.hidden_map, h, graphs, ux[0], zero_input=zero_state)  # U x + W h, [*, 4H]
        return lstm_gates(z, s, self.cell_activation, self.peephole_weight)

    def extra_repr(self) -> str:
        s = super().extra_repr() + f", cell_activation={self.cell_activation}"
        return s + (", peephole=True" if self.peephole else "")
