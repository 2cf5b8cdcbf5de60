import pytest
import torch

from gcnkit.data.windows import (
    check_finite,
    chronological_split,
    make_windows,
    num_windows,
    samples_to_time_range,
)


def test_windows_2d():
    t, n = 20, 3
    series = torch.arange(t * n, dtype=torch.float32).view(t, n)
    x, y = make_windows(series, lags=4, horizon=2)
    assert x.shape == (15, 4, 3, 1) and y.shape == (15, 2, 3)
    assert num_windows(t, 4, 2) == 15
    for s in (0, 7, 14):
        assert torch.equal(x[s, :, :, 0], series[s:s + 4])
        assert torch.equal(y[s], series[s + 4:s + 6])


def test_windows_3d_and_stride():
    series = torch.randn(30, 5, 2, generator=torch.Generator().manual_seed(0))
    x, y = make_windows(series, lags=6, horizon=3, stride=4)
    assert x.shape == (6, 6, 5, 2) and y.shape == (6, 3, 5)
    assert num_windows(30, 6, 3, 4) == 6
    assert torch.equal(x[2], series[8:14])
    assert torch.equal(y[2], series[14:17, :, 0])  # first feature


def test_windows_exact_fit_and_too_long():
    series = torch.zeros(10, 2)
    x, y = make_windows(series, lags=7, horizon=3)
    assert x.shape[0] == 1
    with pytest.raises(ValueError, match="exceeds the series length T=10"):
        make_windows(series, lags=8, horizon=3)
    with pytest.raises(ValueError, match="horizon"):
        make_windows(series, lags=2, horizon=0)
    with pytest.raises(ValueError, match="lags"):
        make_windows(series, lags=2.5, horizon=1)
    with pytest.raises(ValueError, match=r"\[T, N\]"):
        make_windows(torch.zeros(10), lags=2, horizon=1)


def test_non_finite_values():
    series = torch.ones(12, 4)
    series[3, 1] = float("nan")
    series[7, 2] = float("inf")
    with pytest.raises(ValueError) as info:
        make_windows(series, lags=3, horizon=1)
    msg = str(info.value)
    assert "2 non-finite values (1 NaN, 1 inf)" in msg
    assert "(3, 1)" in msg and "(7, 2)" in msg
    check_finite(torch.ones(3))  # fine


def test_chronological_split():
    split = chronological_split(100, 0.7, 0.1)
    assert split.train == range(0, 70)
    assert split.val == range(70, 80)
    assert split.test == range(80, 100)
    # PyG Temporal's temporal_signal_split(train_ratio=0.8) on 517 snapshots
    split = chronological_split(torch.zeros(517, 20), 0.8)
    assert split.train == range(0, 413) and split.test == range(413, 517)
    assert len(split.val) == 0


def test_split_gap_and_errors():
    split = chronological_split(100, 0.6, 0.2, gap=2)
    assert split.train.stop == 60 and split.val == range(62, 82)
    assert split.test == range(84, 100)
    for bad in [(0.0, 0.1), (0.9, 0.2), (0.5, -0.1)]:
        with pytest.raises(ValueError, match="train_ratio"):
            chronological_split(100, *bad)
    with pytest.raises(ValueError, match="no training"):
        chronological_split(3, 0.2)
    # parts that the ratios ask for but that floor or the gap leave empty
    with pytest.raises(ValueError, match="val_ratio=0.1 leaves no validation"):
        chronological_split(8, 0.5, 0.1)
    with pytest.raises(ValueError, match=r"No test samples.*n=20, train_ratio=0.8, val_ratio=0.1, gap=1"):
        chronological_split(20, 0.8, 0.1, gap=1)
    with pytest.raises(TypeError, match="train_ratio must be a number, got True"):
        chronological_split(10, True)  # check_real's TypeError, as for "0.8"
    assert chronological_split(10, 1.0).test == range(10, 10)  # all for training: asked for
    with pytest.raises(ValueError, match=r"the gap before the validation part leaves 3 of its 5 samples"):
        chronological_split(10, 0.5, 0.5, gap=2)  # used to return 3 validation samples silently
    for stride in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="stride must be a positive integer"):
            num_windows(10, 2, 1, stride=stride)  # 0: ZeroDivisionError, -1: -6 windows
    with pytest.raises(ValueError, match="lags must be a positive integer"):
        num_windows(10, 0, 1)
    assert num_windows(2, 2, 1) == 0


def test_samples_to_time_range():
    # samples 0..9 of lags=4, horizon=2 windows touch steps 0..14
    assert samples_to_time_range(range(0, 10), 4, 2) == range(0, 15)
    # starts 6 and 8 with stride 2; the last window ends at 8 + 4 + 2
    assert samples_to_time_range(range(3, 5), 4, 2, stride=2) == range(6, 14)
    assert len(samples_to_time_range(range(0), 4, 2)) == 0


def test_node_lag_features_takes_arrays_and_lists_as_make_windows_does():
    import numpy as np

    from gcnkit.data.windows import node_lag_features

    series = np.arange(24, dtype=np.float32).reshape(8, 3)
    x, y = node_lag_features(series, lags=2)
    x2, y2 = node_lag_features(torch.from_numpy(series), lags=2)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    torch.testing.assert_close(node_lag_features(series.tolist(), lags=2)[1], y)
    assert torch.equal(x[0], torch.tensor(series[0:2].T))  # features[i] = X[i:i+lags].T


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n=10, train_ratio="0.8"), TypeError, "train_ratio must be a number, got '0.8'"),
    (dict(n=10, train_ratio=0.8, val_ratio=None), TypeError, "val_ratio must be a number, got None"),
    (dict(n=10, train_ratio=0.8, gap=1.5), TypeError, "gap must be an integer, got 1.5"),
    (dict(n=10, train_ratio=0.8, gap=True), TypeError, "gap must be an integer, got True"),  # was: gap=1
    (dict(n=10, train_ratio=0.8, gap=-1), ValueError, "gap must be >= 0, got -1"),
    (dict(n=10.0, train_ratio=0.8), TypeError, "n must be an integer, got 10.0"),
    (dict(n="10", train_ratio=0.8), TypeError, "n must be an integer, got '10'"),
    (dict(n=torch.tensor(10.0), train_ratio=0.8), TypeError, r"n must be an integer, got tensor\(10.\)"),
    (dict(n=10, train_ratio=float("nan")), ValueError, "train_ratio"),
])
def test_split_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        chronological_split(**kwargs)


def test_split_takes_integer_scalars_and_arrays():
    import numpy as np

    expected = chronological_split(10, 0.8)
    for n in (torch.tensor(10), np.array(10), np.int64(10), np.zeros((10, 3)), torch.zeros(10, 2)):
        assert chronological_split(n, 0.8) == expected  # torch.tensor(10): was "len() of a 0-d tensor"


def test_samples_to_time_range_ends_at_the_last_sample_in_the_range():
    # samples 0, 2, 4, 6, 8: the last one's target is step 8 + 4 = 12 (was range(0, 14))
    assert samples_to_time_range(range(0, 10, 2), 4, 1) == range(0, 13)
    assert samples_to_time_range(range(0, 9, 2), 4, 1) == range(0, 13)
    assert samples_to_time_range(range(8, -1, -2), 4, 1) == range(0, 13)
    for name, bad in (("lags", -1), ("lags", 0), ("horizon", 0), ("stride", 1.5)):  # lags=-1: accepted
        args = {"lags": 4, "horizon": 1, name: bad}
        with pytest.raises(ValueError, match=f"{name} must be a positive integer, got {bad}"):
            samples_to_time_range(range(0, 10), **args)
    with pytest.raises(ValueError, match="sample indices >= 0"):
        samples_to_time_range(range(-1, 3), 4, 1)
    with pytest.raises(TypeError, match="samples must be a range"):
        samples_to_time_range([0, 1, 2], 4, 1)
