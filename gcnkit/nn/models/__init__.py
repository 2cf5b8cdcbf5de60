"""Models: the GCN of Kipf & Welling, and the recurrent graph models T-GCN, GConvGRU, GConvLSTM."""
from gcnkit.nn.models.gconv import GConvGRU, GConvLSTM
from gcnkit.nn.models.gcn import GCN
from gcnkit.nn.models.recurrent_model import RecurrentGraphModel
from gcnkit.nn.models.tgcn import TGCN

__all__ = ["GCN", "RecurrentGraphModel", "TGCN", "GConvGRU", "GConvLSTM"]
