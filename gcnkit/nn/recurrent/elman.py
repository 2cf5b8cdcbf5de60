r"""The Elman recurrent cell."""
from __future__ import annotations

from typing import Literal, Optional, Tuple

import torch
from torch import Tensor

from gcnkit.nn.recurrent.base import RecurrentCellBase, activation
from gcnkit.nn.recurrent import docs
from gcnkit.nn.recurrent.operators import GraphSet, OperatorSpec, apply_operator
from gcnkit.nn.shared_doc import shared_doc


@shared_doc(args_head=docs.CELL_CHANNELS, args=docs.CELL_OPTIONS, shapes=docs.HIDDEN_SHAPES)
class ElmanCell(RecurrentCellBase[Tensor]):
    r"""The Elman cell :math:`h_t = \sigma_h(U x_t + b_{ih} + W h_{t-1} + b_{hh})`.

    :math:`U` and :math:`W` are pluggable operators (dense: ``torch.nn.RNNCell``; a graph
    convolution: a graph RNN). The read-out :math:`y_t = \sigma_y(W_{yh} h_t + b_y)` of the
    Elman network is any module applied to the outputs (e.g. a ``torch.nn.Linear``).

    Args:
        nonlinearity (str, optional): :math:`\sigma_h`, ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
            (default: ``"tanh"``)
    """

    input_split = (1,)

    def __init__(self, in_channels: int, hidden_channels: int, *,
                 nonlinearity: Literal["tanh", "sigmoid", "relu"] = "tanh",
                 input_operator: OperatorSpec = "linear", hidden_operator: OperatorSpec = "linear",
                 bias: bool = True, recurrent_bias: Optional[bool] = None,
                 input_kwargs: Optional[dict] = None, hidden_kwargs: Optional[dict] = None):
        super().__init__(in_channels, hidden_channels, input_operator=input_operator,
                         hidden_operator=hidden_operator, bias=bias, recurrent_bias=recurrent_bias,
                         input_kwargs=input_kwargs, hidden_kwargs=hidden_kwargs)
        self._act = activation(nonlinearity, ("tanh", "sigmoid", "relu"))
        self.nonlinearity = nonlinearity
        self.hidden_map = self.hidden_operator(self.hidden_channels)
        self.reset_parameters()

    def step(self, ux: Tuple[Tensor, ...], state: Tensor, graphs: Optional[GraphSet], *,
             zero_state: bool = False) -> Tensor:
        h = self._act(apply_operator(self.hidden_map, state, graphs, ux[0], zero_input=zero_state))
        # autocast: the products (and so the gates) in low precision, the state in its own (as the
        # GRU's and LSTM's), so that it can be passed back in
        return h if h.dtype == state.dtype else h.to(torch.promote_types(h.dtype, state.dtype))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity}"
