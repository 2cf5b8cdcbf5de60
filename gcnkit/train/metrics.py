r"""Regression metrics of traffic / epidemic forecasting (as in the T-GCN paper and code).

All are computed in float64 over every entry of ``y_true`` and ``y_pred`` (any equal shapes,
e.g. ``[S, horizon, N]``), on **unscaled** values:

- RMSE :math:`\sqrt{\mathrm{mean}((Y - \hat{Y})^2)}`, MSE, MAE :math:`\mathrm{mean}|Y - \hat{Y}|`;
- accuracy :math:`1 - \|Y - \hat{Y}\|_F / \|Y\|_F`;
- :math:`R^2 = 1 - \sum (Y - \hat{Y})^2 / \sum (Y - \bar{Y})^2`;
- explained variance ``var`` :math:`= 1 - \mathrm{Var}(Y - \hat{Y}) / \mathrm{Var}(Y)`.

Accuracy is NaN for an all-zero target, :math:`R^2` and ``var`` for a constant one (tested as
such, not by the size of the computed variance, which rounding leaves at about 1e-34 for some
constants).
"""
from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor

METRICS = ("rmse", "mae", "mse", "accuracy", "r2", "var")


def regression_metrics(y_true: Tensor, y_pred: Tensor) -> Dict[str, float]:
    """RMSE, MAE, MSE, accuracy, R² and explained variance (see the module docstring)."""
    y_true, y_pred = torch.as_tensor(y_true), torch.as_tensor(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)} differ in shape")
    if y_true.numel() == 0:
        raise ValueError("no values to evaluate")
    y, p = y_true.detach().double().reshape(-1), y_pred.detach().double().reshape(-1)
    err = y - p
    mse = err.pow(2).mean()
    var_y = y.var(unbiased=False)
    ss_tot = (y - y.mean()).pow(2).sum()
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    norm_y = torch.linalg.vector_norm(y)
    constant = bool((y == y[0]).all())
    return {
        "rmse": float(mse.sqrt()),
        "mae": float(err.abs().mean()),
        "mse": float(mse),
        "accuracy": float(1 - torch.linalg.vector_norm(err) / norm_y) if norm_y > 0 else float(nan),
        "r2": float(nan) if constant else float(1 - err.pow(2).sum() / ss_tot),
        "var": float(nan) if constant else float(1 - err.var(unbiased=False) / var_y),
    }
