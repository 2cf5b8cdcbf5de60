"""Forecast metrics (RMSE, MAE, accuracy, R², explained variance) and the baselines."""
import math

import pytest
import torch

from gcnkit.train.baselines import LinearAR, baseline_forecasts, last_value_forecast
from gcnkit.train.metrics import regression_metrics


def test_metrics_values():
    y = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    m = regression_metrics(y, y)
    assert m["rmse"] == 0 and m["mae"] == 0 and m["accuracy"] == 1 and m["r2"] == 1 and m["var"] == 1
    p = y + torch.tensor([[1.0, -1.0], [1.0, -1.0]])
    m = regression_metrics(y, p)
    assert m["rmse"] == pytest.approx(1.0) and m["mae"] == pytest.approx(1.0) and m["mse"] == pytest.approx(1.0)
    assert m["accuracy"] == pytest.approx(1 - 2 / math.sqrt(30))
    assert m["r2"] == pytest.approx(1 - 4 / 5)
    assert m["var"] == pytest.approx(1 - 1 / 1.25)
    with pytest.raises(ValueError, match="differ in shape"):
        regression_metrics(y, y[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("value", [0.1, 0.3, 7.0, 0.0])
def test_r2_and_explained_variance_are_undefined_for_a_constant_target(dtype, value):
    # float64 0.1s used to leave Var(Y) at ~1e-34 by rounding: R² of -2.4e30 instead of NaN
    y = torch.full((3,), value, dtype=dtype)
    for p in (y, y + torch.tensor([0.01, 0.02, 0.03], dtype=dtype)):
        m = regression_metrics(y, p)
        assert math.isnan(m["r2"]) and math.isnan(m["var"])
        assert math.isnan(m["accuracy"]) == (value == 0) and math.isfinite(m["rmse"])
    m = regression_metrics(torch.tensor([0.1, 0.2], dtype=dtype), torch.tensor([0.1, 0.2], dtype=dtype))
    assert m["r2"] == 1 and m["var"] == 1  # two values: defined


def _explained_variance_reference(y, p):
    """sklearn's ``explained_variance_score`` (uniform weights, one output) written out in numpy:
    1 - mean((e - mean(e))²) / mean((y - mean(y))²) with e = y - p."""
    import numpy as np

    y, p = np.asarray(y, dtype=np.float64).ravel(), np.asarray(p, dtype=np.float64).ravel()
    e = y - p
    return 1 - np.mean((e - e.mean()) ** 2) / np.mean((y - y.mean()) ** 2)


def test_explained_variance_ignores_a_constant_bias_r2_does_not():
    import numpy as np

    g = torch.Generator().manual_seed(0)
    y = 50 + 10 * torch.randn(40, 3, 5, generator=g, dtype=torch.float64)
    biased = y + 4.0  # every prediction 4 too high: all of Y's variance explained, but not R²
    m = regression_metrics(y, biased)
    yn = y.numpy()
    assert m["var"] == pytest.approx(1.0, abs=1e-12)
    assert m["var"] == pytest.approx(_explained_variance_reference(yn, biased.numpy()), abs=1e-12)
    r2 = 1 - 16 * yn.size / np.sum((yn - yn.mean()) ** 2)
    assert m["r2"] == pytest.approx(r2, rel=1e-12) and m["r2"] < 0.9
    # bias plus noise: Var(e) excludes the bias, the mean of squares would not
    noisy = (y + 3.0 + 2 * torch.randn(y.shape, generator=g, dtype=torch.float64)).float()
    m = regression_metrics(y.float(), noisy)
    ref = _explained_variance_reference(y.float().numpy(), noisy.numpy())
    assert m["var"] == pytest.approx(ref, rel=1e-9)
    e = (y.float() - noisy).double().numpy()
    assert abs(m["var"] - (1 - np.mean(e ** 2) / np.var(y.float().numpy().astype(np.float64)))) > 0.05


def test_baselines():
    torch.manual_seed(0)
    S, L, N = 200, 3, 4
    x = torch.randn(S, L, N, 1)
    coef = torch.tensor([0.2, -0.5, 0.9])
    y = ((x[..., 0] * coef[None, :, None]).sum(1) + 0.3)[:, None]  # exact AR(3), horizon 1
    pred = LinearAR().fit(x, y).predict(x)
    torch.testing.assert_close(pred, y, atol=1e-4, rtol=0)
    assert torch.equal(last_value_forecast(x, 2), x[:, -1:, :, 0].expand(-1, 2, -1))
    out = baseline_forecasts(x, y, x[:5])
    assert set(out) == {"zero", "last_value", "linear_ar"} and out["zero"].abs().sum() == 0
