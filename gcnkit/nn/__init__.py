"""Neural network modules: graph convolutions, recurrent cells, models."""
from gcnkit.nn.conv import *  # noqa: F401,F403
from gcnkit.nn.conv import __all__ as _conv_all
from gcnkit.nn.models import GCN, TGCN, GConvGRU, GConvLSTM, RecurrentGraphModel
from gcnkit.nn.recurrent import ElmanCell, GRUCell, LSTMCell, run_sequence

__all__ = list(_conv_all) + ["GCN", "TGCN", "GConvGRU", "GConvLSTM", "RecurrentGraphModel", "ElmanCell",
                             "GRUCell", "LSTMCell", "run_sequence"]
