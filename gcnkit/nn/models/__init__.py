"""Recurrent graph models: T-GCN, GConvGRU, GConvLSTM."""
from gcnkit.nn.models.base import RecurrentGraphModel
from gcnkit.nn.models.gconv import GConvGRU, GConvLSTM
from gcnkit.nn.models.tgcn import TGCN

__all__ = ["RecurrentGraphModel", "TGCN", "GConvGRU", "GConvLSTM"]
