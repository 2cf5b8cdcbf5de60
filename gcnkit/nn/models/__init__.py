"""Models: the GCN of Kipf & Welling (and many stacked), and the recurrent T-GCN, GConvGRU, GConvLSTM."""
from gcnkit.nn.models.gconv import GConvGRU, GConvLSTM
from gcnkit.nn.models.gcn import GCN
from gcnkit.nn.models.recurrent_model import RecurrentGraphModel
from gcnkit.nn.models.stacked_gcn import StackedGCN
from gcnkit.nn.models.tgcn import TGCN

__all__ = ["GCN", "StackedGCN", "RecurrentGraphModel", "TGCN", "GConvGRU", "GConvLSTM"]
