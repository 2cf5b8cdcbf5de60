"""Kipf & Welling's two-layer GCN model: input formats and dropout."""
import torch

import gcnkit.nn.models.gcn as gcn_module
from gcnkit.nn.models import GCN


def _data():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(50, 30, generator=g) < 0.1).float()
    return x, torch.randint(0, 50, (2, 200), generator=g)


def test_torch_sparse_input_gets_sparse_dropout_and_equals_dense_in_eval(monkeypatch):
    x, ei = _data()
    model = GCN(30, 8, 3)
    calls = []
    real = gcn_module.sparse_dropout
    monkeypatch.setattr(gcn_module, "sparse_dropout", lambda a, p, t: calls.append(a.nnz) or real(a, p, t))
    model.train()
    model(x.to_sparse(), ei).sum().backward()
    assert calls == [int(x.count_nonzero())]  # on the stored values, not a dense N x F mask
    model.eval()
    torch.testing.assert_close(model(x.to_sparse_csr(), ei), model(x, ei))
