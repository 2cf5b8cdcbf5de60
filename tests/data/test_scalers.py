import pytest
import torch

from gcnkit.data.scalers import MaxScaler, StandardScaler
from gcnkit.data.windows import chronological_split, make_windows


@pytest.fixture
def series():
    g = torch.Generator().manual_seed(0)
    return torch.rand(100, 6, generator=g) * 50 + 10


def test_standard_fit_on_train_only(series):
    split = chronological_split(series, 0.7)
    sc = StandardScaler().fit(series, steps=split.train)
    train = series[:70].double()
    assert torch.allclose(sc.mean_, train.mean(0))
    assert torch.allclose(sc.std_, train.std(0, unbiased=False))
    # changing the test part does not change the fit
    other = series.clone()
    other[70:] *= 100
    sc2 = StandardScaler().fit(other, steps=split.train)
    assert torch.equal(sc.mean_, sc2.mean_) and torch.equal(sc.std_, sc2.std_)
    z = sc.transform(series)
    assert torch.allclose(z[:70].mean(0), torch.zeros(6), atol=1e-5)
    assert torch.allclose(sc.inverse_transform(z), series, atol=1e-4)


def test_standard_global_and_constant_node(series):
    series = series.clone()
    series[:, 2] = 5.0
    sc = StandardScaler(axis="global").fit(series[:50])
    assert sc.mean_.shape == () and sc.std_.shape == ()
    node = StandardScaler().fit(series[:50])
    assert float(node.std_[2]) == 1.0  # constant node: no division by 0
    assert torch.isfinite(node.transform(series)).all()


def test_max_scaler(series):
    sc = MaxScaler().fit(series, steps=range(0, 80))
    assert float(sc.max_) == pytest.approx(float(series[:80].max()))
    scaled = sc.transform(series)
    assert float(scaled[:80].max()) == pytest.approx(1.0)
    assert torch.allclose(sc.inverse_transform(scaled), series)
    per_node = MaxScaler(axis="node").fit(series[:80])
    assert per_node.max_.shape == (6, )
    assert torch.allclose(per_node.transform(series[:80]).amax(0),
                          torch.ones(6))
    with pytest.raises(ValueError, match="positive"):
        MaxScaler().fit(-series)


def test_inverse_on_window_targets(series):
    sc = StandardScaler().fit(series[:70])
    _, y = make_windows(sc.transform(series), lags=5, horizon=3)
    _, y_raw = make_windows(series, lags=5, horizon=3)
    assert torch.allclose(sc.inverse_transform(y), y_raw, atol=1e-4)


def test_three_dim_series_and_feature():
    g = torch.Generator().manual_seed(1)
    series = torch.randn(40, 4, 3, generator=g) * 3 + 1
    sc = StandardScaler().fit(series[:30])
    assert sc.mean_.shape == (4, 3)
    x, y = make_windows(sc.transform(series), lags=4, horizon=2)
    back = sc.inverse_transform(y, feature=0)
    assert torch.allclose(back, make_windows(series, 4, 2)[1], atol=1e-4)
    assert StandardScaler("global").fit(series).mean_.shape == (3, )


def test_scaler_errors(series):
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(series)
    with pytest.raises(ValueError, match="axis"):
        StandardScaler(axis="time")
    sc = StandardScaler().fit(series)
    with pytest.raises(ValueError, match="must end in"):
        sc.transform(torch.zeros(10, 5))
    with pytest.raises(ValueError, match="feature="):
        sc.transform(series, feature=0)
    bad = series.clone()
    bad[5, 1] = float("nan")
    with pytest.raises(ValueError, match="1 NaN"):
        StandardScaler().fit(bad, steps=range(0, 50))
    StandardScaler().fit(bad, steps=range(10, 50))  # NaN outside: fine
    with pytest.raises(ValueError, match="zero time steps"):
        MaxScaler().fit(series[:0])
    T = series.size(0)
    # out-of-range or empty steps used to wrap or clip silently (range(-1, 3) fitted the last,
    # i.e. test, step only)
    for steps in (range(0, 0), range(-1, 3), range(0, T + 1), slice(0, T, 2), range(0, T, 2)):
        with pytest.raises(ValueError, match=f"within the series' {T} time steps"):
            StandardScaler().fit(series, steps=steps)
    with pytest.raises(TypeError, match="range or a slice"):
        MaxScaler().fit(series, steps=[0, 1])
    torch.testing.assert_close(MaxScaler().fit(series, steps=slice(None, 10)).transform(series),
                               MaxScaler().fit(series, steps=range(10)).transform(series))


@pytest.mark.parametrize("make", [lambda: StandardScaler(), lambda: StandardScaler("global"),
                                  lambda: MaxScaler("node"), lambda: MaxScaler()])
def test_statistics_follow_the_input_device(series, make):
    # the fitted (CPU) statistics are moved to the input's device; "meta" stands in for CUDA
    sc = make().fit(series)
    x = torch.empty(7, 6, device="meta")
    assert sc.transform(x).device.type == "meta"  # was: "Tensor on device cpu is not on ... meta"
    assert sc.inverse_transform(x).device.type == "meta"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_inputs_are_scaled_in_float32(dtype):
    s = torch.rand(30, 4, generator=torch.Generator().manual_seed(0))
    sc = MaxScaler().fit(s * 1e5)  # a maximum above float16's 65504
    x = (s * 6e4).to(dtype)
    out = sc.transform(x)
    assert out.dtype == dtype  # the input's dtype, not zeros / NaN from an inf maximum
    torch.testing.assert_close(out.float(), x.float() / float(sc.max_), atol=0, rtol=1e-2)
    torch.testing.assert_close(StandardScaler().fit(s * 1e5).transform(x).float(),
                               StandardScaler().fit(s * 1e5).transform(x.float()), atol=2e-2, rtol=1e-2)


def test_low_precision_results_out_of_range_are_an_error():
    sc = MaxScaler().fit(torch.full((4, 3), 1e5))
    with pytest.raises(ValueError, match=r"inverse_transform: 6 of 6 results .* exceed the range of "
                                         r"torch.float16 .*pass the input as float32"):
        sc.inverse_transform(torch.ones(2, 3, dtype=torch.float16))  # 1e5: was inf silently
    assert sc.inverse_transform(torch.ones(2, 3)).dtype == torch.float32  # float32: fine


def test_feature_is_checked():
    sc = StandardScaler().fit(torch.randn(20, 4, 3))
    y = torch.zeros(5, 4)
    with pytest.raises(ValueError, match=r"feature=5 is out of range: the scaler was fitted on 3 "
                                         r"features \(valid: -3 to 2\)"):
        sc.transform(y, feature=5)  # was: a raw IndexError
    with pytest.raises(ValueError, match="feature=-4 is out of range"):
        sc.inverse_transform(y, feature=-4)
    # -1 is the last feature, as Python's indexing (and as before the range check)
    torch.testing.assert_close(sc.inverse_transform(y, feature=-1), sc.inverse_transform(y, feature=2))
    for bad in (True, 1.0, "0"):  # True was taken as a mask: a misleading shape error
        with pytest.raises(TypeError, match=f"feature must be an integer, got {bad!r}"):
            sc.transform(y, feature=bad)
    torch.testing.assert_close(sc.transform(y, feature=torch.tensor(2)), sc.transform(y, feature=2))
