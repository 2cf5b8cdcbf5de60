r"""Training and evaluation of recurrent graph models for forecasting.

Two protocols:

- ``"windows"`` (T-GCN paper): samples are windows of ``lags`` steps, the model runs over them
  as ``B`` independent sequences (one batched call) and a linear read-out of the last hidden
  state predicts the next ``horizon`` steps. Mini-batches of shuffled training windows.
- ``"sequence"`` (PyTorch Geometric Temporal's Chickenpox/PedalMe split and schedule, with the
  state carried): snapshot ``s`` has the ``lags`` previous values as node features and the next
  value(s) as target; the snapshots form *one* sequence and the hidden state is carried through
  it (training part from a zero state, then on into validation and test). PyG Temporal's
  examples instead start every snapshot from a zero state (they call the cell without ``H``).
  One optimizer step per epoch on the mean loss over the training snapshots (full BPTT, or
  truncated with ``tbptt=k``), as PyG Temporal's example.

Splits are chronological over the samples: the first ``train_ratio`` (PyG Temporal's
``temporal_signal_split``; T-GCN's 0.8) is for fitting, its last ``val_ratio`` share is held out
for validation, the rest is the test part; with ``horizon > 1`` ``horizon - 1`` samples are
dropped at each boundary so no target is shared. Scalers are fitted on the training time steps
only (T-GCN divides by the maximum of the whole series, test included). The model is chosen
on the validation RMSE (T-GCN's code picks the epoch with the best *test* score; not here);
all metrics are on unscaled values.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from gcnkit.functional.validation import check_choice
from gcnkit.nn.models import TGCN, GConvGRU, GConvLSTM, RecurrentGraphModel
from gcnkit.train.baselines import baseline_forecasts
from gcnkit.train.checkpoint import PathLike, load_checkpoint, save_checkpoint
from gcnkit.train.metrics import regression_metrics
from gcnkit.train.temporal_config import (  # re-exported (see __all__)
    DATASET_DEFAULTS,
    PROTOCOLS,
    SCALERS,
    SELF_LOOPS,
    TEMPORAL_MODELS,
    TemporalConfig,
    defaults_of,
)
from gcnkit.train.temporal_epoch import (
    make_optimizer,
    make_predict,
    make_schedule,
    make_train_epoch,
    predict,
    restore_optimizer,
)


@dataclass
class TemporalData:
    """Windows (scaled for the model, raw for the metrics) and the chronological split."""

    x: Tensor            # [S, lags, N, F] scaled
    y: Tensor            # [S, horizon, N] scaled
    x_raw: Tensor
    y_raw: Tensor
    train: range
    val: range
    test: range
    edge_index: Tensor
    edge_weight: Optional[Tensor]
    inverse: Callable[[Tensor], Tensor]

    @property
    def num_nodes(self) -> int:
        return self.x.size(2)


@dataclass
class TemporalResult:
    config: dict
    metrics: Dict[str, float]
    val_metrics: Dict[str, float]
    baselines: Dict[str, Dict[str, float]]
    history: List[dict]
    best_epoch: int
    epochs: int
    ms_per_epoch: float
    num_parameters: int
    y_true: Tensor = field(repr=False)
    y_pred: Tensor = field(repr=False)

    def summary(self) -> dict:
        """One flat JSON-able record: dataset, model, test metrics, epochs, timing, baselines."""
        out = {"dataset": self.config["dataset"], "model": self.config["model"], **self.metrics,
               "epochs": self.epochs, "best_epoch": self.best_epoch,
               "ms_per_epoch": self.ms_per_epoch, "num_parameters": self.num_parameters,
               "val": self.val_metrics, "baselines": self.baselines}
        for key in ("lags", "horizon", "hidden", "protocol", "train_ratio", "val_ratio", "seed"):
            out[key] = self.config[key]
        return out


def build_model(name: str, in_channels: int, hidden: int, out_channels: int, K: int = 1,
                self_loop_weight: float = 1.0) -> RecurrentGraphModel:
    """``tgcn`` (paper), ``tgcn_pygt`` (PyG Temporal's variant), ``gconvgru``, ``gconvlstm``
    (Chebyshev of degree ``K``) with a linear read-out to ``out_channels``. ``self_loop_weight``
    is the weight of the self-loops TGCN's GCN adds to nodes without one."""
    check_choice("model", name, TEMPORAL_MODELS)
    if name in ("tgcn", "tgcn_pygt"):
        return TGCN(in_channels, hidden, out_channels=out_channels, variant="paper" if name == "tgcn" else "pygt",
                    self_loop_weight=self_loop_weight)
    cls = GConvGRU if name == "gconvgru" else GConvLSTM
    return cls(in_channels, hidden, out_channels=out_channels, K=K)


def prepare_data(cfg: TemporalConfig, signal=None) -> TemporalData:
    """Loads the dataset (or takes ``signal``, a :class:`~gcnkit.data.TemporalSignal`), splits the
    windows chronologically and scales them (scaler fitted on the training steps only); the
    options of the data that ``cfg`` leaves at ``None`` take the dataset's defaults, and only they
    are checked (``cfg.resolved_data()``: a user's signal may carry a name gcnkit does not know;
    the model, device and training options are :func:`train_temporal`'s)."""
    from gcnkit.data import MaxScaler, StandardScaler, chronological_split, load_temporal, make_windows
    from gcnkit.data.windows import samples_to_time_range

    cfg = cfg.resolved_data(signal_given=signal is not None)
    if cfg.lags is None or cfg.horizon is None or cfg.train_ratio is None or cfg.val_ratio is None \
            or cfg.self_loop_weight is None:  # pragma: no cover
        raise AssertionError("unreachable: resolved_data() fills in the dataset defaults")
    signal = load_temporal(cfg.dataset, cfg.root) if signal is None else signal
    _check_loop_weight_used(cfg, signal)
    series = signal.series.float()
    x_raw, y_raw = make_windows(series, cfg.lags, cfg.horizon)  # checks the horizon and NaNs
    S, gap = x_raw.size(0), cfg.horizon - 1

    def too_few(at: str) -> ValueError:
        return ValueError(f"{cfg.dataset}: its {series.size(0)} time steps give {S} window{'s' * (S != 1)} of "
                          f"lags={cfg.lags} in and horizon={cfg.horizon} ahead"
                          + (f", and {gap} windows (horizon - 1) are dropped between the parts so that no "
                             f"target is shared" if gap else "")
                          + f": too few for a training and a test part {at}; use a shorter horizon or "
                            f"fewer lags")
    if S < gap + 2:  # one window to train, the gap, one to test: no train_ratio helps
        raise too_few("at any train_ratio")
    try:
        fit, _, test = chronological_split(S, cfg.train_ratio, 0.0, gap=gap)
    except ValueError as e:
        if gap == 0 or "No test samples" not in str(e):
            raise
        raise too_few(f"at train_ratio={cfg.train_ratio}") from e
    n_val = int(cfg.val_ratio * len(fit))
    # as chronological_split: never drop validation silently
    if cfg.val_ratio > 0 and n_val == 0:
        raise ValueError(f"{cfg.dataset}: val_ratio={cfg.val_ratio} of the {len(fit)} training windows "
                         f"(train_ratio={cfg.train_ratio}) is less than one window; raise it, or pass 0 "
                         f"to train without validation (the last epoch is kept)")
    train, val = range(0, len(fit) - n_val - (gap if n_val else 0)), range(len(fit) - n_val, len(fit))
    if len(train) < 1 or len(test) < 1:
        raise ValueError(f"{cfg.dataset}: {S} windows leave {len(train)} for training and {len(test)} "
                         f"for testing with train_ratio={cfg.train_ratio}, val_ratio={cfg.val_ratio}")
    if cfg.scaler == "none":
        x, y, inverse = x_raw, y_raw, (lambda t: t)
    else:
        scaler = MaxScaler() if cfg.scaler == "max" else StandardScaler()
        scaler.fit(series, steps=samples_to_time_range(train, cfg.lags, cfg.horizon))
        f0 = 0 if series.dim() == 3 else None
        scaled = scaler.transform(series)
        x, y = make_windows(scaled, cfg.lags, cfg.horizon)
        inverse = lambda t: scaler.inverse_transform(t, feature=f0)  # noqa: E731
    edge_index, edge_weight = signal.edge_index, signal.edge_weight
    if cfg.self_loops == "add":  # A + wI even where A has self-loops (duplicates are summed)
        loops = torch.arange(signal.num_nodes, device=edge_index.device).expand(2, -1)
        w = torch.ones(edge_index.size(1), device=edge_index.device) if edge_weight is None else edge_weight
        edge_index = torch.cat([edge_index, loops], dim=1)
        loop_weight = float(cfg.self_loop_weight)
        edge_weight = torch.cat([w, w.new_full((signal.num_nodes,), loop_weight)])
    return TemporalData(x, y, x_raw, y_raw, train, val, test, edge_index, edge_weight, inverse)


def _check_loop_weight_used(cfg: TemporalConfig, signal) -> None:
    """With ``self_loops="keep"`` the self-loop weight is that of the loops added to nodes that
    have none: on a graph with a loop at every node (Chickenpox's, PedalMe's, Los-loop's) a weight
    other than the dataset's default would change nothing, and a run never silently differs from
    its options."""
    default = defaults_of(cfg.dataset)["self_loop_weight"]
    if cfg.self_loops != "keep" or cfg.self_loop_weight == default:
        return
    row, col = signal.edge_index
    looped = torch.zeros(signal.num_nodes, dtype=torch.bool, device=row.device)
    looped[row[row == col]] = True
    if bool(looped.all()):
        raise ValueError(f"self_loop_weight={cfg.self_loop_weight} would change nothing: with self_loops='keep' "
                         f"it weights the self-loops added to nodes that have none, and every node of "
                         f"{cfg.dataset}'s graph has one; use self_loops='add' (A + wI) to add w to them")


def train_temporal(config: TemporalConfig, *, on_epoch: Optional[Callable[[dict], None]] = None,
                   data: Optional[TemporalData] = None, checkpoint: Optional[PathLike] = None) -> TemporalResult:
    """Trains ``config.model`` on ``config.dataset``, picks the epoch with the best validation RMSE
    and returns its test metrics beside the baselines'. ``on_epoch(record)`` is called after
    every epoch (e.g. to append to a CSV as results come).

    ``checkpoint``: a file written after every epoch; when it exists the run resumes after its
    last epoch (a finished run only evaluates), giving the numbers of an uninterrupted run, and
    the restored epochs' records are passed to ``on_epoch`` first. A checkpoint of another
    configuration is refused (``ValueError``)."""
    cfg = config.resolved(signal_given=data is not None)
    if cfg.lags is None or cfg.hidden is None or cfg.horizon is None or cfg.epochs is None \
            or cfg.self_loop_weight is None:  # pragma: no cover
        raise AssertionError("unreachable: resolved() fills in the dataset defaults")
    torch.manual_seed(cfg.seed)
    data = prepare_data(cfg) if data is None else data
    device = torch.device(cfg.device)
    for name in ("x", "y", "edge_index"):
        setattr(data, name, getattr(data, name).to(device))
    if data.edge_weight is not None:
        data.edge_weight = data.edge_weight.to(device)
    in_channels = data.x.size(-1) * (cfg.lags if cfg.protocol == "sequence" else 1)
    model = build_model(cfg.model, in_channels, cfg.hidden, cfg.horizon, cfg.K,
                        self_loop_weight=cfg.self_loop_weight).to(device)
    opt = make_optimizer(model, cfg)
    sched = make_schedule(opt, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    y_val = data.y_raw[data.val]
    # (validation score, epoch, the model's state_dict then, its validation metrics)
    best: Tuple[float, int, Optional[Dict[str, Tensor]], Dict[str, float]] = (float("inf"), 0, None, {})
    history, train_seconds, epoch, done = [], 0.0, 0, False
    saved = None if checkpoint is None else load_checkpoint(checkpoint, asdict(cfg))
    if saved is not None:
        model.load_state_dict(saved["model"])
        restore_optimizer(opt, sched, saved, cfg)
        gen.set_state(saved["generator"])
        best, history, train_seconds = saved["best"], saved["history"], saved["train_seconds"]
        epoch, done = saved["epoch"], saved["done"]
        if on_epoch is not None:
            for record in history:
                on_epoch(record)
    train_epoch = make_train_epoch(model, opt, data, cfg, gen)
    validate = make_predict(model, data, cfg, data.val) if len(data.val) else None
    from tqdm.auto import tqdm

    bar = tqdm(range(epoch + 1, cfg.epochs + 1 if not done else epoch + 1), initial=epoch, total=cfg.epochs,
               desc=f"{cfg.dataset}/{cfg.model}", disable=not cfg.progress, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        loss = train_epoch()
        if sched is not None:
            sched.step()
        train_seconds += time.perf_counter() - t0
        record = {"epoch": epoch, "train_loss": loss, "ms": 1000 * (time.perf_counter() - t0)}
        if validate is not None:
            pred = data.inverse(validate().cpu())
            val = regression_metrics(y_val, pred)
            record.update({f"val_{k}": v for k, v in val.items()})
            score = val["rmse"]
        else:
            val, score = {}, -epoch  # no validation part: keep the last epoch
        if score < best[0]:
            best = (score, epoch, copy.deepcopy(model.state_dict()), val)
        history.append(record)
        stop = bool(cfg.patience) and epoch - best[1] >= cfg.patience
        if checkpoint is not None:  # before on_epoch: a record written is a record saved
            save_checkpoint(checkpoint, asdict(cfg), {
                "epoch": epoch, "done": stop or epoch == cfg.epochs, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "schedule": None if sched is None else sched.state_dict(),
                "generator": gen.get_state(), "best": best, "history": history, "train_seconds": train_seconds})
        if on_epoch is not None:
            on_epoch(record)
        bar.set_postfix(loss=f"{loss:.4f}", val_rmse=f"{record.get('val_rmse', float('nan')):.4f}")
        if stop:
            break
    bar.close()
    advice = (f"(lr={cfg.lr}, weight_decay={cfg.weight_decay}); lower the learning rate"
              + (f", and delete {checkpoint} to start over" if checkpoint is not None else ""))
    if best[2] is None:  # every validation RMSE was NaN or inf
        raise RuntimeError(f"training diverged: no epoch of {epoch} had a finite validation RMSE {advice}")
    model.load_state_dict(best[2])
    y_pred = data.inverse(predict(model, data, cfg, data.test).cpu())
    if not bool(torch.isfinite(y_pred).all()):  # without a validation part nothing caught it before
        raise RuntimeError(f"training diverged: the model of epoch {best[1]} predicts NaN or inf on the "
                           f"test part {advice}")
    y_true = data.y_raw[data.test]
    baselines = {name: regression_metrics(y_true, p) for name, p in baseline_forecasts(
        data.x_raw[data.train], data.y_raw[data.train], data.x_raw[data.test]).items()}
    return TemporalResult(
        config=asdict(cfg), metrics=regression_metrics(y_true, y_pred), val_metrics=best[3],
        baselines=baselines, history=history, best_epoch=best[1], epochs=epoch,
        ms_per_epoch=1000 * train_seconds / max(epoch, 1),
        num_parameters=sum(p.numel() for p in model.parameters()), y_true=y_true, y_pred=y_pred)


__all__ = ["TemporalConfig", "TemporalData", "TemporalResult", "TEMPORAL_MODELS", "DATASET_DEFAULTS",
           "PROTOCOLS", "SCALERS", "SELF_LOOPS", "build_model", "prepare_data", "predict", "train_temporal"]
