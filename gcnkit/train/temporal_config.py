"""Options of the forecasting runs (:class:`TemporalConfig`) and each dataset's defaults: the
papers' protocols, with the choices that differ explained beside them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Dict, Optional

import torch

from gcnkit.functional.validation import check_bool, check_choice, check_device, check_int, check_real, check_seed

TEMPORAL_MODELS = ("tgcn", "tgcn_pygt", "gconvgru", "gconvlstm")
PROTOCOLS = ("windows", "sequence")
SCALERS = ("max", "standard", "none")
SELF_LOOPS = ("keep", "add")
#: The options :func:`~gcnkit.train.temporal.prepare_data` reads (:meth:`TemporalConfig.resolved_data`).
DATA_OPTIONS = ("lags", "horizon", "train_ratio", "val_ratio", "protocol", "scaler", "self_loops",
                "self_loop_weight")

#: Defaults of a dataset without its own entry in :data:`DATASET_DEFAULTS`.
_FALLBACK = dict(lags=4, horizon=1, hidden=32, protocol="windows", scaler="standard", lr=0.01,
                 batch_size=32, train_ratio=0.8, val_ratio=0.1, epochs=100, self_loops="keep",
                 self_loop_weight=1.0, lr_schedule="none")
#: PyG Temporal's Chickenpox/PedalMe protocol: one sequence, the state carried, Adam 0.01, 200
#: epochs; the last 20% of the training part held out (10% of Chickenpox's is 10 weeks).
_PYGT_SEQUENCE = dict(_FALLBACK, protocol="sequence", scaler="none", val_ratio=0.2, epochs=200)

#: Per-dataset defaults for every option left at ``None`` (the papers' protocols).
DATASET_DEFAULTS: Dict[str, dict] = {
    # T-GCN's windows, horizon, width and batch; its graph is A + I on a los_adj.csv that already
    # has a unit diagonal (self_loops="add"), here with PyG's improved weight A + 2I; z-scored
    # inputs and a cosine schedule instead of max scaling and 5000 epochs at a fixed rate (see
    # the README's numbers)
    "losloop": dict(_FALLBACK, lags=12, horizon=3, hidden=64, epochs=40, self_loops="add",
                    self_loop_weight=2.0, lr_schedule="cosine"),
    "chickenpox": dict(_PYGT_SEQUENCE, train_ratio=0.2),
    "pedalme": dict(_PYGT_SEQUENCE),
}


def defaults_of(dataset: str) -> dict:
    """The defaults of ``dataset`` (a canonical name): its :data:`DATASET_DEFAULTS` entry, or those
    of a dataset without one (a user's own signal)."""
    return DATASET_DEFAULTS.get(dataset, _FALLBACK)


@dataclass
class TemporalConfig:
    """Options of :func:`train_temporal`; ``None`` means the dataset's default."""

    dataset: str = "chickenpox"
    model: str = "tgcn"
    lags: Optional[int] = None
    horizon: Optional[int] = None
    hidden: Optional[int] = None
    epochs: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: float = 0.0
    batch_size: Optional[int] = None
    train_ratio: Optional[float] = None
    val_ratio: Optional[float] = None
    protocol: Optional[str] = None
    scaler: Optional[str] = None
    K: int = 1
    tbptt: Optional[int] = None
    clip: Optional[float] = None
    patience: Optional[int] = None
    lr_schedule: Optional[str] = None
    self_loops: Optional[str] = None
    self_loop_weight: Optional[float] = None
    seed: int = 0
    root: Optional[str] = None
    device: str = "cpu"
    #: on CUDA: each training epoch and each validation pass replayed as one CUDA graph after 3
    #: eager ones (:mod:`gcnkit.train.temporal_epoch`); the eager numbers up to float32 rounding
    cuda_graph: bool = False
    progress: bool = True

    def resolved(self, signal_given: bool = False) -> "TemporalConfig":
        """A copy with the dataset defaults filled in, validated; ``signal_given`` as for
        :meth:`resolved_data` (the data of a user's signal, given to
        :func:`~gcnkit.train.temporal.train_temporal`)."""
        name = self._dataset_name(signal_given)
        defaults = defaults_of(name)
        return self._check_training(self._resolve_data(name, defaults), defaults)

    def resolved_data(self, signal_given: bool = False) -> "TemporalConfig":
        """A copy with the options of the data (:data:`DATA_OPTIONS`) filled in from the dataset's
        defaults and validated, the training options left as they are: what
        :func:`~gcnkit.train.temporal.prepare_data` needs. With ``signal_given`` (a user's
        :class:`~gcnkit.data.TemporalSignal`) a dataset name gcnkit does not know is kept, with
        the defaults of a dataset without its own entry."""
        name = self._dataset_name(signal_given)
        return self._resolve_data(name, defaults_of(name))

    def _dataset_name(self, signal_given: bool) -> str:
        from gcnkit.data.temporal import canonical_temporal_name

        try:
            return canonical_temporal_name(self.dataset)
        except ValueError:
            if not signal_given:
                raise
            return str(self.dataset)

    def _resolve_data(self, name: str, defaults: dict) -> "TemporalConfig":
        cfg = replace(self, dataset=name, **{k: defaults[k] for k in DATA_OPTIONS if getattr(self, k) is None})
        check_choice("protocol", cfg.protocol, PROTOCOLS)
        check_choice("scaler", cfg.scaler, SCALERS)
        check_choice("self_loops", cfg.self_loops, SELF_LOOPS)
        ints: Dict[str, Any] = {k: check_int(k, getattr(cfg, k), 1) for k in ("lags", "horizon")}
        reals: Dict[str, Any] = {}
        for k in ("train_ratio", "val_ratio", "self_loop_weight"):
            v = getattr(cfg, k)
            number = check_real(k, v)
            # Python ints stay ints: the run folder's hash depends on the values, as before
            reals[k] = v if type(v) in (int, float) else number
        cfg = replace(cfg, **ints, **reals)  # plain ints and floats (config.json, run folders)
        if cfg.self_loop_weight is None or cfg.train_ratio is None or cfg.val_ratio is None:  # pragma: no cover
            raise AssertionError("unreachable: check_real refused None above")
        if not (cfg.self_loop_weight >= 0 and cfg.self_loop_weight < float("inf")):
            raise ValueError(f"self_loop_weight must be a finite number >= 0, got {cfg.self_loop_weight}")
        if not 0 < cfg.train_ratio < 1:
            raise ValueError(f"train_ratio must be in (0, 1), got {cfg.train_ratio}")
        if not 0 <= cfg.val_ratio < 1:
            raise ValueError(f"val_ratio must be in [0, 1), got {cfg.val_ratio}")
        return cfg

    def _check_training(self, cfg: "TemporalConfig", defaults: dict) -> "TemporalConfig":
        """``cfg`` (``self`` with the data options resolved) with the training options filled in
        and validated; ``self`` tells the options given from those left to the defaults."""
        cfg = replace(cfg, **{k: v for k, v in defaults.items() if getattr(cfg, k) is None})
        check_choice("model", cfg.model, TEMPORAL_MODELS)
        check_choice("lr_schedule", cfg.lr_schedule, ("none", "cosine"))
        # one sequence has no batches: a batch size other than the default (which stays, so that
        # earlier runs' checkpoints and folders still match) would be ignored
        if cfg.protocol == "sequence" and self.batch_size not in (None, defaults["batch_size"]):
            raise ValueError(f"batch_size={self.batch_size} applies to the windows protocol; the "
                             f"sequence protocol trains on one sequence")
        ints: Dict[str, Any] = {k: check_int(k, getattr(cfg, k), 1) for k in ("hidden", "epochs", "batch_size")}
        # 0 or None: off, one spelling (None), so that a run's folder and checkpoint do not depend on it
        ints.update({k: check_int(k, getattr(cfg, k), 0) or None for k in ("tbptt", "patience")
                     if getattr(cfg, k) is not None})
        ints["seed"] = check_seed("seed", cfg.seed)
        ints["K"] = check_int("K", cfg.K, 0)  # the Chebyshev degree
        reals: Dict[str, Any] = {}
        for k in ("lr", "weight_decay", "clip"):
            v = getattr(cfg, k)
            if v is not None or k != "clip":
                number = check_real(k, v)
                reals[k] = v if type(v) in (int, float) else number
        cfg = replace(cfg, **ints, **reals)
        if cfg.lr is None:  # pragma: no cover
            raise AssertionError("unreachable: check_real refused None above")
        if not 0 < cfg.lr < float("inf"):
            raise ValueError(f"lr must be a positive finite number, got {cfg.lr}")
        if not 0 <= cfg.weight_decay < float("inf"):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {cfg.weight_decay}")
        if cfg.clip is not None and not 0 < cfg.clip < float("inf"):
            raise ValueError(f"clip must be a positive finite gradient norm, got {cfg.clip}")
        # options that would be ignored: refused, so that a run never silently differs from its flags
        if cfg.K != 1 and not cfg.model.startswith("gconv"):
            raise ValueError(f"K={cfg.K} applies to gconvgru and gconvlstm only, not {cfg.model}")
        # (values other than the dataset's defaults, which stay, as batch_size's above)
        loops = {k: getattr(self, k) for k in ("self_loops", "self_loop_weight")
                 if getattr(self, k) not in (None, defaults[k])}
        if loops and not cfg.model.startswith("tgcn"):
            raise ValueError(f"{', '.join(f'{k}={v}' for k, v in loops.items())} "
                             f"{'apply' if len(loops) > 1 else 'applies'} to tgcn and tgcn_pygt, "
                             f"not {cfg.model}: its Chebyshev operator builds the Laplacian of A without "
                             f"self-loops, so they would change nothing")
        if cfg.patience and cfg.val_ratio == 0:
            raise ValueError(f"patience={cfg.patience} needs a validation part (val_ratio > 0): without "
                             f"one every epoch is the last, and training runs all {cfg.epochs} epochs")
        if cfg.tbptt and cfg.protocol != "sequence":
            raise ValueError(f"tbptt={cfg.tbptt} applies to the sequence protocol, not {cfg.protocol!r} "
                             f"(windows are short sequences, back-propagated whole)")
        check_device("device", cfg.device)
        if torch.device(cfg.device).type == "cpu":  # "cpu:0" is the CPU too: one spelling, so a
            cfg = replace(cfg, device="cpu")  # resumed run or its folder does not depend on it
        cfg = replace(cfg, cuda_graph=check_bool("cuda_graph", cfg.cuda_graph))
        if cfg.cuda_graph and torch.device(cfg.device).type != "cuda":
            raise ValueError(f"cuda_graph needs a CUDA device, not device={cfg.device!r}")
        return cfg
