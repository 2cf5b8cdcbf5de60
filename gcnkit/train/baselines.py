r"""Reference forecasters for lagged windows: predict zero, the last value, or a linear
autoregression on the lags.

Windows are ``x [S, lags, N, F]`` (the first feature is the forecast signal) and targets
``y [S, horizon, N]``, as made by :func:`gcnkit.data.make_windows`; every function returns
``[S, horizon, N]`` in the units of ``x``.
"""
from __future__ import annotations

from typing import Callable, Dict

import torch
from torch import Tensor


def zero_forecast(x: Tensor, horizon: int) -> Tensor:
    """Predicts 0 (the mean of a z-scored series such as Chickenpox's)."""
    return x.new_zeros(x.size(0), horizon, x.size(2))


def last_value_forecast(x: Tensor, horizon: int) -> Tensor:
    """Persistence: every future step equals the last observed value."""
    return x[:, -1:, :, 0].expand(-1, horizon, -1).clone()


class LinearAR:
    r"""A linear autoregression on the lags, shared by all nodes:
    :math:`\hat{y}_{t+h,i} = c_h + \sum_{l} a_{h,l}\, x_{t-l,i}`, one coefficient vector per
    horizon step, fitted by least squares (float64) on the training windows only."""

    def fit(self, x: Tensor, y: Tensor) -> "LinearAR":
        feats = self._features(x)  # [S*N, lags + 1]
        target = y.permute(0, 2, 1).reshape(-1, y.size(1)).double()  # [S*N, horizon]
        self.coef_ = torch.linalg.lstsq(feats, target).solution  # [lags + 1, horizon]
        return self

    @staticmethod
    def _features(x: Tensor) -> Tensor:
        lagged = x[..., 0].permute(0, 2, 1).reshape(-1, x.size(1)).double()  # [S*N, lags]
        return torch.cat([lagged, lagged.new_ones(lagged.size(0), 1)], 1)

    def predict(self, x: Tensor) -> Tensor:
        out = self._features(x) @ self.coef_  # [S*N, horizon]
        return out.reshape(x.size(0), x.size(2), -1).permute(0, 2, 1).to(x.dtype)


def baseline_forecasts(x_train: Tensor, y_train: Tensor, x_eval: Tensor) -> Dict[str, Tensor]:
    """The three baselines' predictions for ``x_eval`` (the AR fitted on the training windows)."""
    horizon = y_train.size(1)
    makers: Dict[str, Callable[[], Tensor]] = {
        "zero": lambda: zero_forecast(x_eval, horizon),
        "last_value": lambda: last_value_forecast(x_eval, horizon),
        "linear_ar": lambda: LinearAR().fit(x_train, y_train).predict(x_eval),
    }
    return {name: make() for name, make in makers.items()}
