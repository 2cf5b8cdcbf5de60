r"""GConvGRU and GConvLSTM (Seo et al. 2018): GRU/LSTM with graph convolutions on input and state."""
from __future__ import annotations

from typing import Literal, Optional, Tuple

from torch import Tensor

from gcnkit.functional.validation import check_choice
from gcnkit.nn.conv.cheb import LambdaMax
from gcnkit.nn.models.recurrent_model import MODEL_SHAPES, RecurrentGraphModel
from gcnkit.nn.recurrent.base import Activation
from gcnkit.nn.recurrent.gru import GRUCell, Reset
from gcnkit.nn.recurrent.lstm import LSTMCell
from gcnkit.nn.shared_doc import shared_doc

GConvOperator = Literal["cheb", "gcn"]

#: Adds the arguments GConvGRU and GConvLSTM share, and the recurrent models' shapes.
_gconv_doc = shared_doc(args_head=r"""
in_channels (int): node features per step :math:`F`.
hidden_channels (int): :math:`H`.
out_channels (int, optional): width of the per-node linear read-out (``None``: the output is
    :math:`h_t`). (default: ``None``)
K (int, optional): Chebyshev polynomial degree (``operator="cheb"``). (default: ``1``)
operator (str, optional): ``"cheb"`` or ``"gcn"``. (default: ``"cheb"``)
lambda_max (float or str, optional): :math:`\lambda_{max}` for Chebyshev (2.0 as PyG for ``sym``, or
    ``"eig"``). (default: ``2.0``)
""", shapes=MODEL_SHAPES)


def _operator_kwargs(operator: str, K: int, lambda_max: LambdaMax) -> dict:
    check_choice("operator", operator, ("cheb", "gcn"))
    if operator == "gcn" and (K != 1 or lambda_max != 2.0):
        raise ValueError(f"K={K!r} and lambda_max={lambda_max!r} apply to operator='cheb'; the 'gcn' operator "
                         f"(KipfGCNConv) has neither")
    return {"K": K, "lambda_max": lambda_max} if operator == "cheb" else {}


def _extra_repr(model: RecurrentGraphModel, base: str) -> str:
    s = base + f", operator={model.operator}"
    return s + (f", K={model.K}" if model.operator == "cheb" else "")


@_gconv_doc
class GConvGRU(RecurrentGraphModel[Tensor]):
    r"""The graph convolutional GRU of Seo et al. (2018), "Structured Sequence Modeling with Graph
    Convolutional Recurrent Networks" (GCRN): :class:`GRUCell` with ``reset="before"`` whose
    :math:`U` and :math:`W` are graph convolutions ``*_G``:

    .. math::
        r_t, u_t &= \sigma(U^{r,u} *_G x_t + W^{r,u} *_G h_{t-1} + b^{r,u})\\
        n_t &= \tanh(U *_G x_t + W *_G (r_t \odot h_{t-1}) + b)\\
        h_t &= u_t \odot h_{t-1} + (1 - u_t) \odot n_t

    ``operator="cheb"`` (default, the paper and PyTorch Geometric Temporal): ``ChebyshevConv`` of
    polynomial degree ``K`` on :math:`L = I - D^{-1/2} A D^{-1/2}`; **PyG Temporal's**
    ``GConvGRU(K=k)`` counts terms, so it is ``GConvGRU(K=k - 1)`` here (equal on undirected
    graphs; on a directed graph :math:`D` holds in-degrees here, out-degrees in PyG's
    ``get_laplacian``, see :class:`~gcnkit.nn.conv.ChebyshevConv`). PyG Temporal's third positional
    argument is ``K``: here everything after ``hidden_channels`` is keyword-only, so a ported
    ``GConvGRU(F, 32, 2)`` is an error rather than a read-out of width 2. ``operator="gcn"``:
    ``KipfGCNConv``. All gates of a side come from one fused convolution, and the normalized
    graph is computed once per sequence. The biases sit on the input side only (PyG Temporal's
    second bias per gate, on the state side, is redundant), except with ``reset="after"``, where
    the state side keeps its biases as ``torch.nn.GRUCell`` does (only :math:`b_{hn}` there is not
    redundant).

    Args:
        reset (str, optional): ``"before"`` (the paper) or ``"after"`` (cuDNN style).
            (default: ``"before"``)
        bias (bool, optional): the biases on the input side (and, with ``reset="after"``, the
            state side's, see above). (default: ``True``)
    """

    def __init__(self, in_channels: int, hidden_channels: int, *, out_channels: Optional[int] = None,
                 K: int = 1, operator: GConvOperator = "cheb", lambda_max: LambdaMax = 2.0,
                 reset: Reset = "before", bias: bool = True):
        kw = _operator_kwargs(operator, K, lambda_max)
        cell = GRUCell(in_channels, hidden_channels, reset=reset, input_operator=operator,
                       hidden_operator=operator, bias=bias, recurrent_bias=bias and reset == "after",
                       input_kwargs=kw, hidden_kwargs=kw)
        super().__init__(cell, out_channels)
        self.operator, self.K = operator, K
        self.reset_parameters()

    def extra_repr(self) -> str:
        return _extra_repr(self, super().extra_repr())


@_gconv_doc
class GConvLSTM(RecurrentGraphModel[Tuple[Tensor, Tensor]]):
    r"""The graph convolutional LSTM of Seo et al. (2018): :class:`LSTMCell` with graph
    convolutions for :math:`U` and :math:`W` and, as in the paper and PyTorch Geometric
    Temporal, peephole connections (``peephole=True``):

    .. math::
        g_t, f_t &= \sigma(U^{g,f} *_G x_t + W^{g,f} *_G h_{t-1} + w^{g,f} \odot s_{t-1} + b^{g,f})\\
        s_t &= f_t \odot s_{t-1} + g_t \odot a(U *_G x_t + W *_G h_{t-1} + b)\\
        q_t &= \sigma(U^o *_G x_t + W^o *_G h_{t-1} + w^o \odot s_t + b^o), \quad
        h_t = q_t \odot \tanh(s_t)

    ``K`` is the Chebyshev degree (PyG Temporal's ``K`` minus one; equal on undirected graphs, see
    :class:`GConvGRU` for directed ones and keyword-only arguments); ``operator``, ``lambda_max``
    as :class:`GConvGRU`; ``cell_activation`` :math:`a` is ``"tanh"`` or ``"sigmoid"``.

    Args:
        peephole (bool, optional): the peephole weights :math:`w^{g,f,o}` (see :class:`LSTMCell`).
            (default: ``True``)
        cell_activation (str, optional): :math:`a`, ``"tanh"`` or ``"sigmoid"``. (default: ``"tanh"``)
        bias (bool, optional): the biases, on the input side only. (default: ``True``)
    """

    def __init__(self, in_channels: int, hidden_channels: int, *, out_channels: Optional[int] = None,
                 K: int = 1, operator: GConvOperator = "cheb", lambda_max: LambdaMax = 2.0,
                 peephole: bool = True, cell_activation: Activation = "tanh", bias: bool = True):
        kw = _operator_kwargs(operator, K, lambda_max)
        cell = LSTMCell(in_channels, hidden_channels, cell_activation=cell_activation, peephole=peephole,
                        input_operator=operator, hidden_operator=operator, bias=bias,
                        recurrent_bias=False, input_kwargs=kw, hidden_kwargs=kw)
        super().__init__(cell, out_channels)
        self.operator, self.K = operator, K
        self.reset_parameters()

    def extra_repr(self) -> str:
        return _extra_repr(self, super().extra_repr())
