"""Sliding windows over time series and chronological splits.

Conventions: a series is :obj:`[T, N]` or :obj:`[T, N, F]`. Sample :obj:`s`
uses input steps :obj:`[s*stride, s*stride + lags)` and target steps
:obj:`[s*stride + lags, s*stride + lags + horizon)`.

Differences from reference code, on purpose:

* T-GCN's ``preprocess_data`` loops ``range(len - seq_len - pre_len)`` and so
  drops the last valid window; :func:`make_windows` keeps it
  (:obj:`S = (T - lags - horizon) // stride + 1`).
* T-GCN splits the *series* 80/20 and windows each part separately; PyG
  Temporal's ``temporal_signal_split`` splits the *snapshots*. Both are
  possible here: :func:`chronological_split` accepts a number of time steps
  or of samples.
"""
from __future__ import annotations

from typing import NamedTuple, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from gcnkit.functional.validation import check_int, check_real


class Split(NamedTuple):
    r"""Index ranges of a chronological split (in time order)."""
    train: range
    val: range
    test: range


def check_finite(series: Tensor, name: str = "series",
                 max_report: int = 5) -> None:
    r"""Raises :class:`ValueError` if :obj:`series` has NaN or inf values,
    naming how many there are and the first positions (time, node, ...).

    Args:
        series (Tensor): :obj:`[T, N]` or :obj:`[T, N, F]`.
        name (str): Its name in the message. (default: ``"series"``)
        max_report (int): Positions listed at most. (default: ``5``)

    Returns:
        None.
    """
    bad = ~torch.isfinite(series)
    count = int(bad.sum())
    if count:
        nan = int(torch.isnan(series).sum())
        where = [tuple(int(i) for i in idx)
                 for idx in bad.nonzero()[:max_report]]
        raise ValueError(
            f"{name} contains {count} non-finite values ({nan} NaN, "
            f"{count - nan} inf) out of {series.numel()}; first positions "
            f"(time, node{', feature' if series.dim() > 2 else ''}): {where}."
            f" Impute or drop them before windowing.")


def _check_positive(**values) -> None:
    for arg, val in values.items():
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise ValueError(f"{arg} must be a positive integer, got {val!r}.")


def num_windows(num_steps: int, lags: int, horizon: int,
                stride: int = 1) -> int:
    r"""Number of windows :func:`make_windows` produces (0 when the series is too short)."""
    _check_positive(lags=lags, horizon=horizon, stride=stride)
    span = num_steps - lags - horizon
    return span // stride + 1 if span >= 0 else 0


def make_windows(series: Tensor, lags: int, horizon: int,
                 stride: int = 1) -> Tuple[Tensor, Tensor]:
    r"""Cuts a series into (input, target) windows.

    Args:
        series (Tensor): :obj:`[T, N]` or :obj:`[T, N, F]`.
        lags (int): Input length.
        horizon (int): Number of future steps to predict.
        stride (int, optional): Step between window starts. (default: ``1``)

    Returns:
        :obj:`x` of shape :obj:`[S, lags, N, F]` (:obj:`F = 1` for a
        :obj:`[T, N]` series) and :obj:`y` of shape :obj:`[S, horizon, N]`
        (the first feature), with :obj:`S = (T - lags - horizon) // stride
        + 1`. Copies, not views.

    Raises:
        ValueError: If :obj:`lags + horizon > T`, arguments are not positive
            integers, or the series has NaN/inf values.
    """
    series = torch.as_tensor(series)
    _check_positive(lags=lags, horizon=horizon, stride=stride)
    if series.dim() not in (2, 3):
        raise ValueError(f"series must be [T, N] or [T, N, F], got shape "
                         f"{tuple(series.shape)}.")
    t = series.size(0)
    if lags + horizon > t:
        raise ValueError(f"lags={lags} + horizon={horizon} = "
                         f"{lags + horizon} exceeds the series length T={t}.")
    check_finite(series)
    if series.dim() == 2:
        series = series.unsqueeze(-1)
    win = series.unfold(0, lags + horizon, stride)  # [S, N, F, lags+horizon]
    win = win.permute(0, 3, 1, 2)  # [S, L, N, F]
    x = win[:, :lags].contiguous()
    y = win[:, lags:, :, 0].contiguous()
    return x, y


def chronological_split(n: Union[int, Tensor, np.ndarray],
                        train_ratio: float, val_ratio: float = 0.0,
                        gap: int = 0) -> Split:
    r"""Splits :obj:`range(n)` into consecutive train, val, test ranges.

    :obj:`n_train = int(train_ratio * n)` and :obj:`n_val = int(val_ratio *
    n)` (floors, like PyG Temporal's ``temporal_signal_split`` and T-GCN);
    the test part gets the rest. No shuffling.

    Args:
        n (int or array): Number of samples or time steps (an integer, a
            0-d integer tensor too), or an array / tensor / sequence whose
            first dimension is used.
        train_ratio (float): Fraction for training, in (0, 1].
        val_ratio (float, optional): Fraction for validation. (default: ``0.0``)
        gap (int, optional): Indices dropped before the val and test parts.
            With windows of :obj:`horizon > 1`, :obj:`gap = horizon - 1`
            keeps training targets out of validation/test targets.
            (default: ``0``)

    Returns:
        Split: :obj:`(train, val, test)`, three :obj:`range` objects in time order.
    """
    n = _split_length(n)
    if n < 1:
        raise ValueError(f"Nothing to split (n={n}).")
    train_ratio = check_real("train_ratio", train_ratio)
    val_ratio = check_real("val_ratio", val_ratio)
    if not (0 < train_ratio <= 1) or not (0 <= val_ratio < 1) or \
            train_ratio + val_ratio > 1 + 1e-12:  # NaN fails too
        raise ValueError(f"Need 0 < train_ratio <= 1, 0 <= val_ratio < 1 and "
                         f"train_ratio + val_ratio <= 1; got {train_ratio}, "
                         f"{val_ratio}.")
    gap = check_int("gap", gap, 0)
    n_train = int(train_ratio * n)
    n_val = int(val_ratio * n)
    if n_train < 1:
        raise ValueError(f"train_ratio={train_ratio} of n={n} leaves no "
                         f"training samples.")
    train = range(0, n_train)
    v0 = min(n, n_train + (gap if n_val else 0))
    val = range(v0, min(n, v0 + n_val))
    t0 = min(n, val.stop + gap)
    test = range(t0, n)
    where = f"n={n}, train_ratio={train_ratio}, val_ratio={val_ratio}, gap={gap}"
    if val_ratio > 0 and len(val) == 0:
        raise ValueError(f"val_ratio={val_ratio} leaves no validation samples ({where}); "
                         f"use a larger val_ratio or val_ratio=0.")
    if len(val) < n_val:
        raise ValueError(f"the gap before the validation part leaves {len(val)} of its {n_val} samples "
                         f"({where}); lower train_ratio or val_ratio.")
    if train_ratio + val_ratio < 1 - 1e-12 and len(test) == 0:
        raise ValueError(f"No test samples are left ({where}); lower train_ratio or val_ratio.")
    return Split(train, val, test)


def _split_length(n) -> int:
    """``chronological_split``'s ``n``: an integer, or the first dimension of an array / tensor
    (``len`` of a sequence); a 0-d tensor or array is the integer it holds."""
    if isinstance(n, (Tensor, np.ndarray)):
        if n.ndim == 0:
            return check_int("n", n if isinstance(n, Tensor) else n[()])
        return int(n.shape[0])
    if hasattr(n, "__len__") and not isinstance(n, (str, bytes)):
        return len(n)
    return check_int("n", n)


def samples_to_time_range(samples: range, lags: int, horizon: int,
                          stride: int = 1) -> range:
    r"""Time steps touched (inputs and targets) by a range of window samples;
    e.g. the part of the raw series a scaler may be fitted on.

    The result runs from the first input step of the first sample to the last
    target step of the last sample in :obj:`samples` (for a :obj:`samples`
    step > 1, steps between its windows are included: they lie between
    training windows).

    Args:
        samples (range): Sample (window) indices.
        lags, horizon (int): As for :func:`make_windows`.
        stride (int): As for :func:`make_windows`. (default: ``1``)

    Returns:
        range: The time steps, empty for empty :obj:`samples`.

    Raises:
        TypeError: If :obj:`samples` is not a :obj:`range`.
        ValueError: If :obj:`lags`, :obj:`horizon` or :obj:`stride` is not a
            positive integer, or :obj:`samples` has negative indices.
    """
    if not isinstance(samples, range):
        raise TypeError(f"samples must be a range of sample indices, got {type(samples).__name__}")
    _check_positive(lags=lags, horizon=horizon, stride=stride)
    if len(samples) == 0:
        return range(0, 0)
    first, last = min(samples[0], samples[-1]), max(samples[0], samples[-1])
    if first < 0:
        raise ValueError(f"samples must be sample indices >= 0, got {samples}")
    return range(first * stride, last * stride + lags + horizon)


def node_lag_features(series: Tensor, lags: int = 4) -> Tuple[Tensor, Tensor]:
    r"""PyG Temporal's snapshot protocol (``ChickenpoxDatasetLoader``,
    ``PedalMeDatasetLoader``): node features are the previous :obj:`lags`
    values, the target is the next value.

    Args:
        series (Tensor): :obj:`[T, N]`.
        lags (int): Input length. (default: ``4``)

    Returns:
        :obj:`x [S, N, lags]` and :obj:`y [S, N]` with :obj:`S = T - lags`.
        :obj:`x[s]` equals ``loader.get_dataset(lags)[s].x`` and :obj:`y[s]`
        its ``.y`` (PyG Temporal: ``features[i] = X[i:i+lags].T``,
        ``targets[i] = X[i+lags]``). Same as :obj:`make_windows(series, lags,
        horizon=1)` with :obj:`x[:, :, :, 0].permute(0, 2, 1)` and
        :obj:`y[:, 0]`.
    """
    series = torch.as_tensor(series)  # NumPy arrays and lists too, as make_windows
    if series.dim() != 2:
        raise ValueError(f"node_lag_features expects a [T, N] series, got "
                         f"{tuple(series.shape)}.")
    x, y = make_windows(series, lags=lags, horizon=1)
    return x[..., 0].permute(0, 2, 1).contiguous(), y[:, 0].contiguous()
