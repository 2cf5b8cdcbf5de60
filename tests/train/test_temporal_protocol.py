"""The datasets' documented defaults and Los-loop's split against T-GCN's (no training here)."""
import pytest
import torch

from gcnkit.train.temporal import TemporalConfig, prepare_data

# Each expected value comes from the README (its "Recurrent graph models" section), quoted
# beside it:
#   "gcnkit temporal --dataset losloop --model tgcn --horizon 3        # 12 in, 3 ahead, hidden 64"
#   "Defaults for Los-loop: T-GCN's windows, width, batch of 32 and an 80/20 split, the
#    last 10% of the training part for validation."
#   "the graph is `los_adj.csv` + 2I for the TGCNs"
#   "per-node z-scored speeds (fitted on the training part), Adam lr 0.01 with a cosine schedule
#    over 40 epochs"
# and the protocol is T-GCN's windows ("samples are windows of ``lags`` steps", the
# gcnkit/train/temporal.py docstring's "windows" protocol, "(T-GCN paper)").
LOSLOOP_DEFAULTS = dict(
    lags=12, horizon=3, hidden=64,  # "12 in, 3 ahead, hidden 64"
    batch_size=32, train_ratio=0.8, val_ratio=0.1,  # "batch of 32 and an 80/20 split, the last 10%"
    lr=0.01, epochs=40, lr_schedule="cosine",  # "Adam lr 0.01 with a cosine schedule over 40 epochs"
    self_loops="add", self_loop_weight=2.0,  # "`los_adj.csv` + 2I"
    scaler="standard",  # "per-node z-scored speeds"
    protocol="windows",
)
# Chickenpox, README:
#   "gcnkit temporal --dataset chickenpox --model gconvgru --json      # 4 lags, state carried"
#   "Chickenpox, PyG Temporal's split and schedule (train 0.2, 200 epochs, Adam 0.01; the epoch
#    chosen on the last 20% of the training part)"
#   "For Chickenpox and PedalMe the last 20% of the training part is held out"
# "state carried" is the "sequence" protocol (gcnkit/train/temporal.py's docstring: "the
# snapshots form *one* sequence and the hidden state is carried through it"). scaler "none" is
# not worded in the README; it comes from PyG Temporal's loader, whose features are used as
# given, and gcnkit/data/temporal.py: "``FX`` is already z-scored per county".
CHICKENPOX_DEFAULTS = dict(
    lags=4,  # "4 lags"
    protocol="sequence",  # "state carried"
    train_ratio=0.2, epochs=200, lr=0.01,  # "train 0.2, 200 epochs, Adam 0.01"
    val_ratio=0.2,  # "the last 20% of the training part"
    scaler="none",
)


@pytest.mark.parametrize("dataset, expected", [("losloop", LOSLOOP_DEFAULTS),
                                               ("chickenpox", CHICKENPOX_DEFAULTS)])
def test_resolved_defaults_are_the_documented_ones(dataset, expected):
    cfg = TemporalConfig(dataset=dataset).resolved()
    got = {k: getattr(cfg, k) for k in expected}
    assert got == expected
    # of the documented type too (a run folder's hash depends on it: 2 and 2.0 differ there)
    for k, v in expected.items():
        assert type(got[k]) is type(v), k
    # the same whatever model is asked for (the defaults are per dataset)
    for model in ("gconvgru", "tgcn_pygt"):
        other = TemporalConfig(dataset=dataset, model=model).resolved()
        assert {k: getattr(other, k) for k in expected} == expected


# --------------------------------------------------------------------------- Los-loop's split
# Los-loop: los_speed.csv has 2016 rows of 207 detectors (2017 lines with its header). Windows
# of lags 12 in and horizon 3 ahead: S = 2016 - 12 - 3 + 1 = 2002 windows, window s has inputs
# at steps s..s+11 and targets at s+12..s+14 (gcnkit/data/windows.py).
# gcnkit (gcnkit/train/temporal.py prepare_data): int(0.8 * 2002) = 1601 windows to fit, the last
# int(0.1 * 1601) = 160 of them validate (1441..1600), horizon - 1 = 2 windows are dropped before
# the validation part (training 0..1438) and 2 after the fit part (test 1603..2001: 399 windows).
T_STEPS, LAGS, HORIZON = 2016, 12, 3
EXPECTED_SPLIT = (range(0, 1439), range(1441, 1601), range(1603, 2002))


def tgcn_preprocess_starts(time_len, rate, seq_len, pre_len):
    """T-GCN's ``preprocess_data`` (its input_data.py), as window start steps of the whole series:

        train_size = int(time_len * rate)
        train_data = data[0:train_size]; test_data = data[train_size:time_len]
        for i in range(len(train_data) - seq_len - pre_len): a = train_data[i: i + seq_len + pre_len] ...
        for i in range(len(test_data) - seq_len - pre_len):  b = test_data[i: i + seq_len + pre_len] ...

    with ``trainX/testX = a/b[0:seq_len]`` and ``trainY/testY = a/b[seq_len:seq_len + pre_len]``;
    its main.py's Los-loop flags: seq_len 12, pre_len 3, train_rate 0.8, and
    ``time_len = data.shape[0]`` (2016)."""
    train_size = int(time_len * rate)
    train = range(0, train_size - seq_len - pre_len)
    test = range(train_size, train_size + (time_len - train_size) - seq_len - pre_len)
    return train_size, train, test


def test_tgcn_split_arithmetic():
    # T-GCN on Los-loop: int(2016 * 0.8) = 1612 (the series split at step 1612); 1612 - 15 = 1597
    # training windows (starts 0..1596); 404 test steps give 404 - 15 = 389 test windows, starting
    # at 1612..2000 (the last valid one, 2001, and the 14 that straddle step 1612 are dropped)
    train_size, train, test = tgcn_preprocess_starts(T_STEPS, 0.8, LAGS, HORIZON)
    assert train_size == 1612
    assert train == range(0, 1597) and test == range(1612, 2001) and len(test) == 389
    assert 2002 == len(train) + 1 + (LAGS + HORIZON - 1) + len(test) + 1  # README: "1597 to train, 389 to test"


def _los_signal_like(T=T_STEPS, N=3):
    """A Los-loop-length series on a tiny graph: the split depends only on T and the defaults."""
    from gcnkit.data import TemporalSignal

    series = 60 + torch.sin(torch.arange(T, dtype=torch.float32)[:, None] / 7 + torch.arange(N))
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    return TemporalSignal(series, ei, torch.ones(3), "los-like", N)


@pytest.fixture(scope="module")
def losloop(shared_data_root):
    from gcnkit.data import load_temporal

    signal = load_temporal("losloop", str(shared_data_root))
    return signal, prepare_data(TemporalConfig(dataset="losloop", root=str(shared_data_root)).resolved(),
                                signal=signal)


def test_losloop_default_split_on_the_shared_data(losloop):
    signal, data = losloop
    assert tuple(signal.series.shape) == (T_STEPS, 207)
    assert data.x.shape == (2002, LAGS, 207, 1) and data.y.shape == (2002, HORIZON, 207)
    assert (data.train, data.val, data.test) == EXPECTED_SPLIT
    # the windows are the series' (window s: inputs s..s+11, targets s+12..s+14)
    series = signal.series.float()
    for s in (0, 1438, 1441, 1603, 2001):
        torch.testing.assert_close(data.x_raw[s, :, :, 0], series[s:s + LAGS], rtol=0, atol=0)
        torch.testing.assert_close(data.y_raw[s], series[s + LAGS:s + LAGS + HORIZON], rtol=0, atol=0)


def test_losloop_default_split_depends_only_on_the_length():
    # the same ranges from any 2016-step series (also where the shared data are absent)
    data = prepare_data(TemporalConfig(dataset="losloop").resolved(), signal=_los_signal_like())
    assert (data.train, data.val, data.test) == EXPECTED_SPLIT


def _target_steps(windows):
    return {s + LAGS + h for s in windows for h in range(HORIZON)}


def _input_steps(windows):
    return {s + lag for s in windows for lag in range(LAGS)}


def test_losloop_no_training_or_validation_target_is_a_test_target(losloop):
    _, data = losloop
    test_targets = _target_steps(data.test)
    assert not _target_steps(data.train) & test_targets
    assert not _target_steps(data.val) & test_targets
    assert not _target_steps(data.train) & _target_steps(data.val)  # validation is held out too
    # the gaps are exactly horizon - 1 = 2 windows: the parts are as large as allowed
    assert data.val.start - data.train.stop == HORIZON - 1 == data.test.start - data.val.stop
    assert max(_target_steps(data.val)) + 1 == min(test_targets)  # adjacent, not overlapping
    assert max(_target_steps(data.train)) + 1 == min(_target_steps(data.val))


def test_losloop_test_part_holds_tgcns_test_windows(losloop):
    # T-GCN's 389 test windows (starts 1612..2000) are all among gcnkit's 399 test windows
    # (1603..2001), with the same inputs and targets
    signal, data = losloop
    train_size, tgcn_train, tgcn_test = tgcn_preprocess_starts(signal.series.size(0), 0.8, LAGS, HORIZON)
    assert tgcn_test == range(1612, 2001) and len(tgcn_test) == 389 and len(data.test) == 399
    assert set(tgcn_test) <= set(data.test)
    assert data.test.start <= tgcn_test.start and tgcn_test[-1] < data.test.stop
    series = signal.series.float().numpy()
    test_data = series[train_size:]  # T-GCN's windowing of its test part, by its own indexing
    for i in (0, 1, 194, 388):
        b = test_data[i:i + LAGS + HORIZON]
        s = train_size + i
        assert (data.x_raw[s, :, :, 0].numpy() == b[:LAGS]).all()
        assert (data.y_raw[s].numpy() == b[LAGS:LAGS + HORIZON]).all()
    # what gcnkit fits on (training and validation windows, inputs and targets) never reaches a
    # target of T-GCN's test windows (steps 1624..2015): it ends at step 1614, inside T-GCN's
    # first test inputs
    fitted = _input_steps(data.train) | _target_steps(data.train) | _input_steps(data.val) | _target_steps(data.val)
    assert max(fitted) == 1614 < min(_target_steps(tgcn_test)) == 1624
    # (gcnkit fits on 1439 + 160 = 1599 windows, T-GCN trains on 1597)
    assert len(data.train) + len(data.val) == 1599 > len(tgcn_train) == 1597
