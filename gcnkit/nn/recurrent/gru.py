r"""The GRU cell, with the reset gate applied before or after the recurrent map."""
from __future__ import annotations

from typing import Literal, Optional, Tuple

from torch import Tensor

from gcnkit.functional.validation import check_choice
from gcnkit.nn.recurrent.base import Activation, RecurrentCellBase
from gcnkit.nn.recurrent.base import activation as _activation
from gcnkit.nn.recurrent.gru_gates import gru_after, gru_gates_before, gru_update
from gcnkit.nn.recurrent import docs
from gcnkit.nn.recurrent.operators import GraphSet, OperatorSpec, apply_operator
from gcnkit.nn.shared_doc import shared_doc

Reset = Literal["after", "before"]


@shared_doc(args_head=docs.CELL_CHANNELS, args=docs.CELL_OPTIONS, shapes=docs.HIDDEN_SHAPES)
class GRUCell(RecurrentCellBase[Tensor]):
    r"""The GRU cell (gate order ``r, u, n`` as ``torch.nn.GRUCell``'s ``r, z, n``):

    .. math::
        r_t &= \sigma(b^r + U^r x_t + W^r h_{t-1}) \quad\text{(reset)}\\
        u_t &= \sigma(b^u + U^u x_t + W^u h_{t-1}) \quad\text{(update)}\\
        n_t &= a(b + U x_t + W (r_t \odot h_{t-1})) \quad\text{(reset="before": Cho et al. 2014)}\\
        n_t &= a(b_{in} + U x_t + r_t \odot (W h_{t-1} + b_{hn})) \quad\text{(reset="after")}\\
        h_t &= u_t \odot h_{t-1} + (1 - u_t) \odot n_t

    ``reset="after"`` (default) is ``torch.nn.GRUCell`` and cuDNN: one fused recurrent map of
    width :math:`3H` (``hidden_map``). ``reset="before"`` is the lecture notes' and the original
    form, used by T-GCN and GConvGRU: the gates come from one map of width :math:`2H`
    (``hidden_map``) and the candidate from a second map of :math:`r_t \odot h_{t-1}`
    (``candidate_map``), which cannot be fused with the first since it needs :math:`r_t`. The
    gate equations themselves are computed by :mod:`gcnkit.nn.recurrent.gru_gates` (a fused
    backward pass for large states).

    Args:
        reset (str, optional): ``"after"`` or ``"before"``. (default: ``"after"``)
        activation (str, optional): :math:`a`, ``"tanh"`` or ``"sigmoid"``. (default: ``"tanh"``)
    """

    input_split = (2, 1)  # gates [r, u], candidate

    def __init__(self, in_channels: int, hidden_channels: int, *, reset: Reset = "after",
                 activation: Activation = "tanh", input_operator: OperatorSpec = "linear",
                 hidden_operator: OperatorSpec = "linear", bias: bool = True,
                 recurrent_bias: Optional[bool] = None, input_kwargs: Optional[dict] = None,
                 hidden_kwargs: Optional[dict] = None):
        check_choice("reset", reset, ("after", "before"))
        super().__init__(in_channels, hidden_channels, input_operator=input_operator,
                         hidden_operator=hidden_operator, bias=bias, recurrent_bias=recurrent_bias,
                         input_kwargs=input_kwargs, hidden_kwargs=hidden_kwargs)
        self.reset = reset
        self.activation = activation
        _activation(activation)  # validates the name
        H = self.hidden_channels
        if reset == "after":
            self.hidden_map = self.hidden_operator(3 * H)
        else:
            self.hidden_map = self.hidden_operator(2 * H)
            self.candidate_map = self.hidden_operator(H)
        self.reset_parameters()

    def step(self, ux: Tuple[Tensor, ...], state: Tensor, graphs: Optional[GraphSet], *,
             zero_state: bool = False) -> Tensor:
        ux_gates, ux_cand = ux  # [*, 2H], [*, H]
        if self.reset == "after":
            wh = self.hidden_map(state, graphs)  # [*, 3H]
            return gru_after(ux_gates, ux_cand, wh, state, self.activation)
        # the maps' GEMMs accumulate into the input parts: z = U x + W h without a pass of its own;
        # from a zero state r * h is zero too, so neither map multiplies anything
        z_g = apply_operator(self.hidden_map, state, graphs, ux_gates, zero_input=zero_state)  # [*, 2H]
        u, rh = gru_gates_before(z_g, state)  # [*, H]
        z_c = apply_operator(self.candidate_map, rh, graphs, ux_cand, zero_input=zero_state)  # [*, H]
        return gru_update(z_c, u, state, self.activation)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset={self.reset}, activation={self.activation}"

