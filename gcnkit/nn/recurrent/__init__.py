"""Recurrent cells written once with pluggable (dense or graph) operators, and the sequence runner."""
from gcnkit.nn.recurrent.base import RecurrentCellBase
from gcnkit.nn.recurrent.elman import ElmanCell
from gcnkit.nn.recurrent.gru import GRUCell
from gcnkit.nn.recurrent.lstm import LSTMCell
from gcnkit.nn.recurrent.operators import (OPERATOR_NAMES, DenseOperator, GraphOperator, GraphSet,
                                           make_operator)
from gcnkit.nn.recurrent.sequence import detach_state, run_sequence
from gcnkit.nn.recurrent.tbptt import clip_grad_norm, tbptt_backward

__all__ = [
    "RecurrentCellBase", "ElmanCell", "LSTMCell", "GRUCell", "DenseOperator", "GraphOperator",
    "GraphSet", "make_operator", "OPERATOR_NAMES", "run_sequence", "tbptt_backward",
    "detach_state", "clip_grad_norm",
]
