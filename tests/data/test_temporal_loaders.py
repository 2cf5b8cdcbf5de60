import json

import numpy as np
import pytest
import torch

from gcnkit.data import TemporalSignal, list_temporal_datasets, load_temporal
from gcnkit.data.checksum import ChecksumError
from gcnkit.data.temporal_parsers import (
    parse_chickenpox,
    parse_pedalme,
    read_los_speed,
)
from gcnkit.data.windows import make_windows, node_lag_features


def test_list():
    assert list_temporal_datasets() == ["chickenpox", "losloop", "pedalme"]


def test_chickenpox(shared_data_root, no_network):
    s = load_temporal("Chickenpox", root=shared_data_root)
    assert isinstance(s, TemporalSignal)
    assert s.series.shape == (521, 20) and s.series.dtype == torch.float32
    assert s.num_nodes == 20 and s.num_timesteps == 521
    assert s.edge_index.shape == (2, 102) and s.edge_index.dtype == torch.long
    assert torch.equal(s.edge_weight, torch.ones(102))
    assert s.meta["node_names"][0] == "BACS"
    # FX is already z-scored per county over the whole period
    assert s.series.double().mean(0).abs().max() < 1e-6
    assert torch.allclose(s.series.double().std(0, unbiased=False),
                          torch.ones(20, dtype=torch.float64), atol=1e-5)
    assert no_network == []


def test_pedalme(shared_data_root):
    s = load_temporal("pedalme", root=shared_data_root)
    assert s.series.shape == (35, 15) and s.num_nodes == 15
    assert s.edge_index.shape == (2, 225)
    assert s.edge_weight.shape == (225, ) and float(s.edge_weight.max()) == 1
    import json

    raw = json.loads((shared_data_root / "temporal" / "pedalme_london.json").read_text())
    torch.testing.assert_close(s.series.double(), torch.tensor(raw["X"], dtype=torch.float64), atol=1e-6, rtol=0)
    assert s.edge_index.t().tolist() == raw["edges"]
    torch.testing.assert_close(s.edge_weight.double(), torch.tensor(raw["weights"], dtype=torch.float64))


def test_losloop(shared_data_root):
    s = load_temporal("LosLoop", root=shared_data_root)
    assert s.series.shape == (2016, 207) and s.num_nodes == 207
    ids = s.meta["sensor_ids"]
    assert len(ids) == len(set(ids)) == 207 and ids[0] == 773869
    assert 0 < float(s.series.min()) and float(s.series.max()) <= 100
    assert s.edge_index.shape == (2, 2833)
    assert int((s.edge_index[0] == s.edge_index[1]).sum()) == 207
    adj = torch.zeros(207, 207)
    adj[s.edge_index[0], s.edge_index[1]] = s.edge_weight
    assert torch.equal(adj, adj.t()) and bool((s.edge_weight > 0).all())


def test_pyg_temporal_chickenpox_protocol(shared_data_root):
    # ChickenpoxDatasetLoader().get_dataset(lags=4), re-stated in numpy
    with open(shared_data_root / "temporal/chickenpox.json") as f:
        raw = json.load(f)
    fx = np.array(raw["FX"])
    lags = 4
    features = [fx[i:i + lags, :].T for i in range(fx.shape[0] - lags)]
    targets = [fx[i + lags, :].T for i in range(fx.shape[0] - lags)]
    edges = np.array(raw["edges"]).T
    s = load_temporal("chickenpox", root=shared_data_root)
    x, y = node_lag_features(s.series, lags=lags)
    assert x.shape == (517, 20, 4) and y.shape == (517, 20)
    assert np.allclose(x.numpy(), np.stack(features), atol=1e-6)
    assert np.allclose(y.numpy(), np.stack(targets), atol=1e-6)
    assert np.array_equal(s.edge_index.numpy(), edges)
    xw, yw = make_windows(s.series, lags=4, horizon=1)
    assert torch.equal(xw[..., 0].permute(0, 2, 1), x)
    assert torch.equal(yw[:, 0], y)


def test_unknown_name():
    with pytest.raises(ValueError, match="chickenpox"):
        load_temporal("metr-la")


def test_offline_error(tmp_path, no_network):
    with pytest.raises(FileNotFoundError) as info:
        load_temporal("losloop", root=tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "temporal") in msg
    assert "los_speed.csv" in msg and "los_adj.csv" in msg
    assert "lehaifeng/T-GCN" in msg
    assert no_network  # it tried (offline) before failing


def test_truncated_file(writable_copy, no_network):
    p = writable_copy / "temporal/chickenpox.json"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(ChecksumError, match="chickenpox.json"):
        load_temporal("chickenpox", root=writable_copy)


def test_root_from_env(shared_data_root, monkeypatch):
    monkeypatch.setenv("GCNKIT_DATA", str(shared_data_root))
    assert load_temporal("pedalme").num_nodes == 15


# -- parsers on small hand-made files ---------------------------------------

def test_parse_chickenpox_small(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"edges": [[0, 1], [1, 0]],
                             "node_ids": {"A": 1, "B": 0},
                             "FX": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]}))
    s = parse_chickenpox(p)
    assert s.series.shape == (3, 2) and s.meta["node_names"] == ["B", "A"]  # in index order, not by name
    assert s.edge_index.tolist() == [[0, 1], [1, 0]]


def test_dense_to_edges_reads_rows_as_sources():
    """Entry (i, j) of a dense adjacency is the edge i -> j with weight A[i, j] (PyG's
    ``dense_to_sparse``): an asymmetric matrix keeps its orientation, self-loops stay."""
    from torch_geometric.utils import dense_to_sparse

    from gcnkit.data.temporal_parsers import dense_to_edges

    adj = np.array([[0.0, 2.0, 0.0], [3.0, 0.0, 0.0], [0.5, 0.0, 1.0]])
    ei, ew = dense_to_edges(adj)
    assert ei.tolist() == [[0, 1, 2, 2], [1, 0, 0, 2]] and ew.tolist() == [2.0, 3.0, 0.5, 1.0]
    ref_ei, ref_ew = dense_to_sparse(torch.from_numpy(adj).float())
    assert torch.equal(ei, ref_ei) and torch.equal(ew, ref_ew)


def test_parse_errors(tmp_path):
    p = tmp_path / "p.json"
    p.write_text('{"edges": [[0, 1]], "X": [[1.0, 2.0]]')  # truncated
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_pedalme(p)
    p.write_text(json.dumps({"edges": [[0, 1]], "X": [[1.0, 2.0]]}))
    with pytest.raises(ValueError, match="weights"):
        parse_pedalme(p)
    p.write_text(json.dumps({"edges": [[0, 5]], "weights": [1.0],
                             "X": [[1.0, 2.0]]}))
    with pytest.raises(ValueError, match="outside"):
        parse_pedalme(p)
    p.write_text(json.dumps({"edges": [[0, 1]], "weights": [1.0, 2.0],
                             "X": [[1.0, 2.0]]}))
    with pytest.raises(ValueError, match="2 weights for 1 edges"):
        parse_pedalme(p)


def test_los_speed_header_detection(tmp_path):
    with_header = tmp_path / "a.csv"
    with_header.write_text("773869,767541\n64.375,67.625\n60,61.5\n")
    speeds, ids = read_los_speed(with_header)
    assert ids == [773869, 767541] and speeds.shape == (2, 2)
    no_header = tmp_path / "b.csv"
    no_header.write_text("64,67\n60,61.5\n")
    speeds, ids = read_los_speed(no_header)
    assert ids is None and speeds.shape == (2, 2)
    broken = tmp_path / "c.csv"
    broken.write_text("1001,1002\n64,abc\n")
    with pytest.raises(ValueError, match="numeric"):
        read_los_speed(broken)


def test_a_root_that_is_a_file_is_named_as_one(tmp_path, no_network):
    (tmp_path / "temporal").write_text("not a folder")
    with pytest.raises(FileNotFoundError, match="temporal' is a file, not a folder") as e:
        load_temporal("chickenpox", root=tmp_path)
    assert "read-only" not in str(e.value) and no_network == []


# -- TemporalSignal's own checks and a folder in place of a file ---------------

def _signal_args(**changes):
    args = dict(series=torch.rand(5, 3), edge_index=torch.tensor([[0, 1], [1, 2]]),
                edge_weight=torch.ones(2), name="toy", num_nodes=3)
    return {**args, **changes}


@pytest.mark.parametrize("changes, error, match", [
    (dict(num_nodes=3.0), TypeError, "toy: num_nodes must be an integer, got 3.0"),  # was: accepted
    (dict(num_nodes=True), TypeError, "toy: num_nodes must be an integer, got True"),
    (dict(edge_weight=torch.tensor([1, 2])), TypeError,
     "toy: edge_weight must be a floating-point tensor, got torch.int64"),  # was: accepted
    (dict(edge_weight=torch.tensor([1.0, float("nan")])), ValueError,
     r"toy: edge_weight has 1 non-finite values \(1 NaN, 0 inf\)"),  # was: accepted
    (dict(series=[[1.0, 2.0, 3.0]]), TypeError, "toy: series must be a torch.Tensor or a NumPy array, got list"),
    (dict(edge_index=[[0, 1], [1, 2]]), TypeError, "toy: edge_index must be a torch.Tensor or a NumPy array"),
])
def test_temporal_signal_checks_its_fields(changes, error, match):
    with pytest.raises(error, match=match):
        TemporalSignal(**_signal_args(**changes))


def test_temporal_signal_converts_numpy_arrays():
    series = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    s = TemporalSignal(**_signal_args(series=series, edge_index=np.array([[0, 1], [1, 2]]),
                                      edge_weight=np.ones(2, dtype=np.float32), num_nodes=np.int64(3)))
    assert isinstance(s.series, torch.Tensor) and torch.equal(s.series, torch.from_numpy(series))
    assert s.edge_index.dtype == torch.long and s.edge_weight.dtype == torch.float32
    assert type(s.num_nodes) is int and s.num_timesteps == 5  # series.dim(): was an AttributeError


def test_a_folder_in_place_of_a_data_file_is_named_as_one(tmp_path, no_network):
    (tmp_path / "temporal" / "pedalme_london.json").mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=r"pedalme_london.json' is a directory, not a file") as e:
        load_temporal("pedalme", root=tmp_path)  # was: "raw files missing", after a download try
    assert "missing" not in str(e.value) and no_network == []
