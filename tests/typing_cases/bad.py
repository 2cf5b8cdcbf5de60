"""Mistakes gcnkit's type hints catch: each line marked ``# E: code`` is a mypy error of that code,
and no other line is (model and layer calls are checked against their ``forward``)."""
import torch

from gcnkit.data import load_dataset, make_windows
from gcnkit.functional import normalize_adjacency
from gcnkit.nn import GCN, TGCN, GConvLSTM, GRUCell, KipfGCNConv, LSTMCell

ei = torch.tensor([[0, 1], [1, 0]])
h = torch.zeros(1, 2, 4)
normalize_adjacency(ei, norm="bad")  # E: arg-type
TGCN(1, 4)(torch.randn(1, 3, 2, 1), ei, state=(h, h))  # E: arg-type
y, s = GConvLSTM(1, 4)(torch.randn(1, 3, 2, 1), ei)
s.relu()  # E: attr-defined
GCN(8, 16, out_channels=2)(torch.randn(3, 8), ei).append(1)  # E: attr-defined
LSTMCell(4, 8)(torch.randn(3, 4)).relu()  # E: attr-defined
GRUCell(4, 8)(torch.randn(3, 4), state=(h, h))  # E: arg-type
GRUCell(4, 8, reset="late")  # E: arg-type
load_dataset(3)  # E: arg-type
make_windows(torch.randn(10, 2), lags="4", horizon=1)  # E: arg-type
KipfGCNConv(3, 4).transform(torch.randn(2, 3), [2, 2], add=torch.randn(2, 4))  # E: call-overload
