"""What a user writes with gcnkit, as documented: it runs, and mypy accepts it as it stands."""
import torch
from torch import Tensor

from gcnkit.data import chronological_split, karate_club, load_dataset, make_windows
from gcnkit.functional import NormalizedGraph, normalize_adjacency
from gcnkit.nn import GCN, TGCN, ChebyshevConv, GConvGRU, GConvLSTM, GRUCell, KipfGCNConv, LSTMCell
from gcnkit.nn.recurrent import run_sequence, tbptt_backward

edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
edge_weight = torch.rand(4)
x = torch.randn(3, 8)

graph: NormalizedGraph = normalize_adjacency(edge_index, edge_weight, num_nodes=3, norm="sym")
conv = KipfGCNConv(8, 16)
out: Tensor = conv(x, edge_index, edge_weight)
out = conv(x, graph)
cheb = ChebyshevConv(8, 4, K=2)
out = cheb(x, edge_index, edge_weight, lambda_max=2.0)
gcn = GCN(8, 16, out_channels=2, conv="kipf", dropout=0.5)
logits: Tensor = gcn(x, edge_index)

xs = torch.randn(2, 5, 3, 1)  # [B, T, N, F]
tgcn = TGCN(1, 8, out_channels=3)
y, state = tgcn(xs, edge_index, edge_weight, return_sequence=False)
y, state = tgcn(xs, edge_index, edge_weight, state=state)
gru = GConvGRU(1, 8, out_channels=1, K=1)
y, h = gru(xs, edge_index)
lstm = GConvLSTM(1, 8, out_channels=1, K=1)
y, (h, c) = lstm(xs, edge_index)

cell = GRUCell(4, 8, reset="before", hidden_operator="gcn")
seq, last = run_sequence(cell, torch.randn(2, 5, 3, 4), edge_index, detach_every=2)
lcell = LSTMCell(4, 8)
h1, c1 = lcell(torch.randn(3, 4))
loss, _ = tbptt_backward(tgcn, xs, torch.randn(2, 5, 3, 3), edge_index, k=2,
                         loss_fn=torch.nn.functional.mse_loss)

data = karate_club()
cora = load_dataset("karate")
xw, yw = make_windows(torch.randn(20, 3), lags=4, horizon=2)
split = chronological_split(xw.size(0), 0.6, 0.2)


# subclasses whose forward takes more than the base's: their calls type-check
class ScaledGCN(GCN):
    def forward(self, x, edge_index, edge_weight=None, *args, field=None, scale: float = 1.0, **kwargs) -> Tensor:
        return super().forward(x, edge_index, edge_weight, field=field) * scale


class MaskedTGCN(TGCN):
    def forward(self, x, edge_index=None, edge_weight=None, state=None, *args, mask=None, **kwargs):
        y, state = super().forward(x, edge_index, edge_weight, state, **kwargs)
        return (y if mask is None else y * mask), state


class ZonedGRUCell(GRUCell):
    def forward(self, x, edge_index=None, edge_weight=None, state=None, *args, zone=None, **kwargs) -> Tensor:
        h = super().forward(x, edge_index, edge_weight, state)
        return h if zone is None else h * zone


scaled: Tensor = ScaledGCN(8, 16, out_channels=2)(x, edge_index, scale=2.0)
masked, masked_state = MaskedTGCN(1, 8, out_channels=3)(xs, edge_index, mask=torch.ones(3, 1))
zoned: Tensor = ZonedGRUCell(4, 8)(torch.randn(3, 4), zone=torch.ones(8))
