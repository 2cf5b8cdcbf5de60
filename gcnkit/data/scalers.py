"""Scalers for time series, fitted on the training part only.

Fit on the raw series restricted to the training time steps (e.g.
``scaler.fit(series, steps=range(0, t_train))``), then transform the whole
series and window it, and map predictions back with
:meth:`inverse_transform`.

Statistics have the trailing shape of the series: for a :obj:`[T, N]`
series, :obj:`axis="node"` gives :obj:`[N]` statistics and
:obj:`axis="global"` a scalar; for :obj:`[T, N, F]`, :obj:`[N, F]` and
:obj:`[F]`. Inputs to :meth:`transform` must end in those dimensions (e.g.
:obj:`[T, N]`, or targets :obj:`[S, horizon, N]`). For a scaler fitted on a
:obj:`[T, N, F]` series, pass :obj:`feature=0` to scale first-feature
targets.

:meth:`transform` and :meth:`inverse_transform` move the statistics to the
input's device (scale CUDA predictions with a scaler fitted on CPU) and return
the input's dtype. float16 / bfloat16 inputs are computed in float32 and cast
back; a result outside the input dtype's range (e.g. float16 predictions
scaled back above 65504) is a :class:`ValueError`, not a silent inf (pass a
float32 input then). Integer inputs give float32 results.
"""
from __future__ import annotations

from typing import Callable, Literal, Optional, Union

import torch
from torch import Tensor

from gcnkit.data.windows import check_finite
from gcnkit.functional.validation import capturing, check_int

Steps = Optional[Union[range, slice]]


def _fit_steps(steps: Union[range, slice], num_steps: int) -> slice:
    """``steps`` as a slice, checked: contiguous and within the series' ``num_steps`` steps (no
    negative or clipped bounds, which would silently fit on other, e.g. test, steps)."""
    if not isinstance(steps, (range, slice)):
        raise TypeError(f"steps must be a range or a slice, got {type(steps).__name__}")
    start = 0 if steps.start is None else steps.start
    stop = num_steps if steps.stop is None else steps.stop
    step = 1 if steps.step is None else steps.step
    if step != 1 or not 0 <= start < stop <= num_steps:
        raise ValueError(f"steps must be a contiguous, non-empty range within the series' "
                         f"{num_steps} time steps [0, {num_steps}), got {steps}.")
    return slice(start, stop)
Axis = Literal["node", "global"]


class _Scaler:
    axis: Axis

    def __init__(self, axis: Axis) -> None:
        if axis not in ("node", "global"):
            raise ValueError(f"axis must be 'node' or 'global', got {axis!r}.")
        self.axis = axis
        self.fitted_dim: Optional[int] = None

    def _prepare(self, series: Tensor, steps: Steps) -> Tensor:
        series = torch.as_tensor(series)
        if series.dim() not in (2, 3):
            raise ValueError(f"fit expects a [T, N] or [T, N, F] series, got "
                             f"shape {tuple(series.shape)}.")
        if steps is not None:
            series = series[_fit_steps(steps, series.size(0))]
        if series.size(0) == 0:
            raise ValueError("Cannot fit a scaler on zero time steps.")
        check_finite(series, "training series")
        self.fitted_dim = series.dim()
        return series.double()

    def _dims(self) -> tuple:
        return (0, ) if self.axis == "node" else (0, 1)

    def _stat(self, stat: Optional[Tensor], x: Tensor,
              feature: Optional[int]) -> Tensor:
        if stat is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call "
                               f"fit() first.")
        if feature is not None:
            feature = check_int("feature", feature)
            if self.fitted_dim != 3:
                raise ValueError("feature= is only valid for a scaler fitted "
                                 "on a [T, N, F] series.")
            num_features = stat.size(-1)
            if not -num_features <= feature < num_features:  # -1: the last, as Python's indexing
                raise ValueError(f"feature={feature} is out of range: the scaler was fitted on "
                                 f"{num_features} features (valid: {-num_features} to {num_features - 1}).")
            stat = stat[..., feature]
        k = stat.dim()
        if k and tuple(x.shape[x.dim() - k:]) != tuple(stat.shape):
            raise ValueError(
                f"{type(self).__name__} (axis={self.axis!r}) has statistics "
                f"of shape {tuple(stat.shape)}; the input must end in those "
                f"dimensions, got shape {tuple(x.shape)}.")
        return stat.to(device=x.device, dtype=_compute_dtype(x))

    def _apply(self, method: str, x: Tensor, feature: Optional[int],
               fn: Callable[..., Tensor], *stats: Optional[Tensor]) -> Tensor:
        """``fn(x, *stats)`` with the statistics on ``x``'s device, in float32 for float16 /
        bfloat16 ``x`` and cast back (refusing values that the cast would make inf)."""
        x = torch.as_tensor(x)  # NumPy arrays too, as fit()
        out = fn(x.to(_compute_dtype(x)), *(self._stat(s, x, feature) for s in stats))
        if out.dtype == x.dtype or not x.is_floating_point():
            return out
        cast = out.to(x.dtype)
        if not capturing(x) and x.device.type != "meta":
            lost = torch.isfinite(out) & ~torch.isfinite(cast)
            if bool(lost.any()):
                raise ValueError(
                    f"{type(self).__name__}.{method}: {int(lost.sum())} of {out.numel()} results "
                    f"(largest magnitude {float(out[lost].abs().max()):g}) exceed the range of "
                    f"{x.dtype} (max {torch.finfo(x.dtype).max:g}); pass the input as float32.")
        return cast


def _compute_dtype(x: Tensor) -> torch.dtype:
    """float32 for low-precision floats and integers, else ``x``'s own float dtype."""
    if x.is_floating_point() and x.dtype not in (torch.float16, torch.bfloat16):
        return x.dtype
    return torch.float32


class MaxScaler(_Scaler):
    r"""Divides by the maximum of the training part.

    T-GCN (``generate_dataset(normalize=True)`` / ``np.max(data)``) divides by
    the maximum of the *whole* series, test part included, which leaks test
    information; this scaler only sees what :meth:`fit` is given.

    Args:
        axis (str, optional): :obj:`"global"` (one maximum, as T-GCN) or
            :obj:`"node"`. (default: :obj:`"global"`)
    """
    def __init__(self, axis: Axis = "global") -> None:
        super().__init__(axis)
        self.max_: Optional[Tensor] = None

    def fit(self, series: Tensor, steps: Steps = None) -> "MaxScaler":
        r"""Fits on :obj:`series[steps]` (all steps if :obj:`None`).

        Raises:
            ValueError: If a maximum is not positive.
        """
        s = self._prepare(series, steps)
        m = s.amax(dim=self._dims())
        if bool((m <= 0).any()):
            raise ValueError(
                f"MaxScaler needs positive maxima; {int((m <= 0).sum())} of "
                f"{m.numel()} are <= 0. Use StandardScaler for signed data.")
        self.max_ = m
        return self

    def transform(self, x: Tensor, feature: Optional[int] = None) -> Tensor:
        return self._apply("transform", x, feature, torch.div, self.max_)

    def inverse_transform(self, x: Tensor,
                          feature: Optional[int] = None) -> Tensor:
        return self._apply("inverse_transform", x, feature, torch.mul, self.max_)

    def fit_transform(self, series: Tensor, steps: Steps = None) -> Tensor:
        return self.fit(series, steps).transform(series)


class StandardScaler(_Scaler):
    r"""Z-scores with the mean and (population) standard deviation of the
    training part, per node (:obj:`axis="node"`, statistics over time) or
    global (:obj:`axis="global"`, over time and nodes). A zero standard
    deviation (a constant node) is replaced by 1.
    """
    def __init__(self, axis: Axis = "node") -> None:
        super().__init__(axis)
        self.mean_: Optional[Tensor] = None
        self.std_: Optional[Tensor] = None

    def fit(self, series: Tensor, steps: Steps = None) -> "StandardScaler":
        r"""Fits on :obj:`series[steps]` (all steps if :obj:`None`)."""
        s = self._prepare(series, steps)
        dims = self._dims()
        self.mean_ = s.mean(dim=dims)
        std = s.std(dim=dims, unbiased=False)
        self.std_ = torch.where(std > 0, std, torch.ones_like(std))
        return self

    def transform(self, x: Tensor, feature: Optional[int] = None) -> Tensor:
        return self._apply("transform", x, feature,
                           lambda v, mean, std: (v - mean) / std,
                           self.mean_, self.std_)

    def inverse_transform(self, x: Tensor,
                          feature: Optional[int] = None) -> Tensor:
        return self._apply("inverse_transform", x, feature,
                           lambda v, std, mean: v * std + mean,
                           self.std_, self.mean_)

    def fit_transform(self, series: Tensor, steps: Steps = None) -> Tensor:
        return self.fit(series, steps).transform(series)
