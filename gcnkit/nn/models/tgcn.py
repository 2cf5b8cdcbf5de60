r"""T-GCN (Zhao et al. 2019): a GRU whose gate maps are graph convolutions."""
from __future__ import annotations

from typing import Literal, Optional

import torch
from torch import Tensor

from gcnkit.functional.validation import check_choice, check_self_loop_weight
from gcnkit.nn.models.recurrent_model import MODEL_SHAPES, RecurrentGraphModel
from gcnkit.nn.recurrent.gru import GRUCell
from gcnkit.nn.shared_doc import shared_doc

TGCNVariant = Literal["paper", "pygt"]


@shared_doc(shapes=MODEL_SHAPES)
class TGCN(RecurrentGraphModel[Tensor]):
    r"""The temporal graph convolutional network of Zhao et al. (2019), "T-GCN: A Temporal Graph
    Convolutional Network for Traffic Prediction", with :math:`\hat{A} = \tilde{D}^{-1/2}
    \tilde{A} \tilde{D}^{-1/2}`, :math:`\tilde{A} = A + I` (as PyG's ``gcn_norm``, the self-loop
    is added only to nodes that have none; a graph's own self-loops keep their weight):

    .. math::
        [r_t, u_t] &= \sigma(\hat{A}\,[x_t, h_{t-1}]\,W_g + b_g)\\
        c_t &= \tanh(\hat{A}\,[x_t, r_t \odot h_{t-1}]\,W_c + b_c)\\
        h_t &= u_t \odot h_{t-1} + (1 - u_t) \odot c_t

    ``variant="paper"`` (default) is the paper and its official code (``lehaifeng/T-GCN``): the
    graph convolution acts on the concatenation :math:`[x_t, h_{t-1}]`. Since
    :math:`\hat{A}[x, h]W = \hat{A} x W_x + \hat{A} h W_h`, this is :class:`GRUCell` with
    ``reset="before"`` and a ``KipfGCNConv`` on both sides sharing one :math:`\hat{A}`, computed
    once per sequence; the input side of all steps is one sparse matmul. One bias per gate (on
    the input map; a second one on the recurrent map would only duplicate it), the gate biases
    starting at 1.0 as in the official code.

    One quirk of the official code is not reproduced: it splits the gate output flattened as
    ``[B, N * 2H]`` into halves (``tf.split(value, 2, axis=1)``, ``torch.chunk(..., dim=1)`` in
    its PyTorch port), so :math:`r` and :math:`u` of node ``i`` come from the outputs of other
    nodes; here both gates are per node, as the paper's equations.

    In both variants a node's own input reaches the cell only through :math:`\hat{A} x_t`, so
    the weight of its self-loop matters: the official code normalizes :math:`A + I` although
    Los-loop's ``los_adj.csv`` already has a unit diagonal, so self-loops weigh 2 and a node's own
    weight in :math:`\hat{A}` averages 0.31 (0.20 with the diagonal as given). This model keeps
    the diagonal a graph has, so such a graph is built before it: ``gcnkit temporal`` adds
    :math:`wI` on top of the file's diagonal with ``self_loops="add"`` (its Los-loop default,
    :math:`w = 2`, gives a diagonal of 3; ``--self-loop-weight 1`` gives the official code's
    graph); see the README's Los-loop numbers.

    ``variant="pygt"`` is PyTorch Geometric Temporal's ``TGCN``: only :math:`x_t` is convolved and
    :math:`h_{t-1}` enters through a dense linear map,
    :math:`\sigma(\mathrm{Lin}([\hat{A} x_t W, h_{t-1}]))`, so the state never travels along
    edges: a node sees its neighbours' inputs only. It is the
    same GRU with a GCN input map and a dense recurrent map; PyG Temporal's product of a GCN
    weight and a linear weight is folded into one matrix (same function class: PyG Temporal's
    weights map onto these exactly, checked against its ``TGCN`` and ``TGCN2`` to 1e-14 in
    float64). The gate biases start at 1.0 in both variants (the official T-GCN code's choice),
    where PyG Temporal starts from ``Linear``'s default, so training from scratch takes another
    path.

    Args:
        in_channels (int): node features per step :math:`F`.
        hidden_channels (int): :math:`H` (the paper: 64 on Los-loop, 100 on SZ-taxi).
        out_channels (int, optional): width of the per-node linear read-out (e.g. the horizon;
            ``None``: the output is :math:`h_t`). (default: ``None``)
        variant (str, optional): ``"paper"`` or ``"pygt"``. (default: ``"paper"``)
        self_loop_weight (float, optional): weight of the self-loops added to nodes that have none
            (2.0 is PyG's ``improved``); no effect on a graph with a self-loop on every node.
            (default: ``1.0``)
        bias (bool, optional): the gate and candidate biases, on the input map only (the gate
            biases starting at 1.0). (default: ``True``)
    """

    def __init__(self, in_channels: int, hidden_channels: int, *, out_channels: Optional[int] = None,
                 variant: TGCNVariant = "paper", self_loop_weight: float = 1.0, bias: bool = True):
        check_choice("variant", variant, ("paper", "pygt"))
        gcn = {"self_loop_weight": check_self_loop_weight(self_loop_weight)}
        cell = GRUCell(in_channels, hidden_channels, reset="before", input_operator="gcn",
                       hidden_operator="gcn" if variant == "paper" else "linear", bias=bias,
                       recurrent_bias=False,
                       input_kwargs=gcn, hidden_kwargs=gcn if variant == "paper" else None)
        super().__init__(cell, out_channels)
        self.variant = variant
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        bias = self.cell.input_map.bias  # (a GraphOperator's: Optional[Tensor])
        if bias is not None:
            with torch.no_grad():
                bias[: 2 * self.hidden_channels].fill_(1.0)  # type: ignore[index]  # (Module.__getattr__)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", variant={self.variant}"
