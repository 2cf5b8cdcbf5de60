"""from_snapshots: PyG Temporal's snapshot signals (iterables of Data) as one gcnkit sequence.

PyG Temporal's signals yield ``torch_geometric.data.Data(x, edge_index, edge_attr, y)`` per
snapshot (checked against its 0.56.2 ``StaticGraphTemporalSignal`` and
``DynamicGraphTemporalSignal`` when this was written); these tests build the same snapshots
as plain ``Data`` lists, and the NumPy arrays its signals hold as a duck-typed object."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gcnkit.data import from_snapshots
from gcnkit.nn.models import TGCN, GConvGRU

T, N, F = 6, 7, 3


def _graph(seed):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, N, (2, 12), generator=g)
    return ei, torch.rand(12, generator=g) + 0.1


def _snapshots(dynamic=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei, ew = _graph(100)
    snaps = []
    for t in range(T):
        if dynamic:
            ei, ew = _graph(t)
        snaps.append(Data(x=torch.randn(N, F, generator=g), edge_index=ei.clone(), edge_attr=ew.clone(),
                          y=torch.randn(N, generator=g)))
    return snaps


def _loop(model, snaps):
    """PyTorch Geometric Temporal's loop: one call per snapshot, the state carried."""
    state, outs = None, []
    for s in snaps:
        out, state = model(s.x[None], s.edge_index, s.edge_attr, state)
        outs.append(out[0])
    return torch.stack(outs)


@pytest.mark.parametrize("dynamic", [False, True])
def test_one_call_equals_the_snapshot_loop(dynamic):
    snaps = _snapshots(dynamic)
    x, y, edge_index, edge_weight = from_snapshots(snaps)
    assert x.shape == (T, N, F) and y.shape == (T, N)
    assert torch.equal(x[2], snaps[2].x) and torch.equal(y[4], snaps[4].y)
    # a static graph comes back once (normalized once for the sequence), a changing one per step
    assert isinstance(edge_index, list) == dynamic
    if dynamic:
        assert len(edge_index) == T and torch.equal(edge_weight[3], snaps[3].edge_attr)
    else:
        assert torch.equal(edge_index, snaps[0].edge_index) and torch.equal(edge_weight, snaps[0].edge_attr)
    torch.manual_seed(0)
    for model in (GConvGRU(F, 5, out_channels=2), TGCN(F, 5, out_channels=2)):
        out, _ = model(x, edge_index, edge_weight)
        torch.testing.assert_close(out, _loop(model, snaps), rtol=1e-5, atol=1e-6)


class _NumpySignal:
    """What PyG Temporal's StaticGraphTemporalSignal iterates over: NumPy arrays, a new tensor of
    the same graph per snapshot, 1-D features of one channel."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.edge_index = np.array([[0, 1, 2, 3], [1, 2, 3, 0]])
        self.edge_weight = rng.random(4)
        self.features = [rng.random(4) for _ in range(5)]
        self.targets = [rng.random(4) for _ in range(5)]

    def __iter__(self):
        for x, y in zip(self.features, self.targets):
            yield Data(x=x, edge_index=self.edge_index.copy(), edge_attr=self.edge_weight[:, None], y=y)


def test_numpy_snapshots_one_feature_and_column_weights():
    sig = _NumpySignal()
    seq = from_snapshots(sig)
    assert seq.x.shape == (5, 4, 1) and seq.y.shape == (5, 4)
    assert seq.edge_index.dtype == torch.long and isinstance(seq.edge_index, torch.Tensor)  # one graph
    torch.testing.assert_close(seq.edge_weight, torch.as_tensor(sig.edge_weight))  # [E, 1] squeezed


def test_weights_that_change_on_a_fixed_graph_stay_per_step():
    """The same edges with other weights at each step (traffic on a fixed road network) are a
    changing graph: the weights come back per step, never snapshot 0's for all."""
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    snaps = [Data(x=torch.randn(3, 1), edge_index=ei.clone(), edge_attr=torch.full((3,), t + 1.0))
             for t in range(3)]
    seq = from_snapshots(snaps)
    assert isinstance(seq.edge_weight, list) and [w[0].item() for w in seq.edge_weight] == [1.0, 2.0, 3.0]
    assert all(torch.equal(g, ei) for g in seq.edge_index)
    torch.manual_seed(0)
    model = TGCN(1, 4)
    out, _ = model(seq.x, seq.edge_index, seq.edge_weight)
    torch.testing.assert_close(out, _loop(model, snaps))


def test_weights_in_pygs_edge_weight_field_are_read():
    """PyG's own field for edge weights (``Data(edge_weight=...)``, as ``GCNNorm`` writes it) is read
    as PyG Temporal's ``edge_attr`` is (it was dropped: the model ran on the unweighted graph)."""
    ref = _snapshots(dynamic=True)
    snaps = [Data(x=s.x, edge_index=s.edge_index, edge_weight=s.edge_attr, y=s.y) for s in ref]
    got, want = from_snapshots(snaps), from_snapshots(ref)
    assert isinstance(got.edge_weight, list) and len(got.edge_weight) == T
    assert all(torch.equal(a, b) for a, b in zip(got.edge_weight, want.edge_weight))
    both = [Data(x=s.x, edge_index=s.edge_index, edge_attr=s.edge_attr[:, None], edge_weight=s.edge_attr, y=s.y)
            for s in ref]  # the same weights in both fields: fine
    assert all(torch.equal(a, b) for a, b in zip(from_snapshots(both).edge_weight, want.edge_weight))
    both[2].edge_weight = both[2].edge_weight * 2
    with pytest.raises(ValueError, match="snapshot 2 has both edge_attr and edge_weight, with different values"):
        from_snapshots(both)


def test_targets_absent_everywhere_give_none():
    snaps = [Data(x=s.x, edge_index=s.edge_index) for s in _snapshots()]
    x, y, edge_index, edge_weight = from_snapshots(snaps)
    assert y is None and edge_weight is None and x.shape == (T, N, F)


@pytest.mark.parametrize("case, exc, match", [
    ("empty", ValueError, "got no snapshot"),
    ("tensor", TypeError, "takes a PyG Temporal signal or an iterable of Data snapshots, got Tensor"),
    ("no_x", ValueError, "snapshot 1 has no x"),
    ("nodes_change", ValueError, r"snapshot 2: x has shape \(6, 3\) but snapshot 0 had \(7, 3\)"),
    ("y_missing", ValueError, "snapshot 3 has no y but snapshot 0 has"),
    ("edge_features", ValueError, r"snapshot 0: edge_attr must hold one weight per edge .* got shape \(12, 2\)"),
])
def test_bad_snapshots_are_named(case, exc, match):
    snaps = _snapshots()
    if case == "empty":
        snaps = []
    elif case == "tensor":
        snaps = torch.zeros(3, 4, 2)
    elif case == "no_x":
        snaps[1].x = None
    elif case == "nodes_change":
        snaps[2].x = snaps[2].x[:6]
    elif case == "y_missing":
        snaps[3].y = None
    elif case == "edge_features":
        snaps[0].edge_attr = torch.rand(12, 2)
    with pytest.raises(exc, match=match):
        from_snapshots(snaps)
