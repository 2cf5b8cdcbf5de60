"""Semi-supervised node classification with Kipf & Welling's protocol, on a fast path.

Fast path: the graph is normalized once per dataset (one :class:`NormalizedGraph` shared by all
layers and epochs), features are row-normalized once and kept as a :class:`CSRMatrix` whose
transpose (for the backward pass) is built once, sparse dropout reuses that pattern, the training
/ validation indices live on the device, and nothing is copied to the host per epoch except the
validation loss the early-stopping rule needs. The training pass computes only the receptive field
of the training nodes and the validation pass that of the validation nodes
(:mod:`gcnkit.functional.receptive_field`: on Cora 1,664 and 2,335 of 2,708 nodes for the 2-layer
GCN, 140 and 500 for the MLP), with the whole graph's dropout masks, so the runs are the
whole-graph runs (``TrainConfig(receptive_field=False)`` computes every node).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from gcnkit.functional.receptive_field import ReceptiveField, whole_graph
from gcnkit.functional.validation import check_bool, check_device, check_int, check_real, check_seed
from gcnkit.nn.conv.registry import CONV_REGISTRY
from gcnkit.nn.models.gcn import GCN
from gcnkit.nn.models.stacked_gcn import StackedGCN
from gcnkit.train.prepared import PreparedData


@dataclass
class TrainConfig:
    """Hyperparameters; the defaults are Kipf & Welling's (2017) protocol."""

    model: str = "kipf"
    hidden: int = 16
    num_layers: int = 2
    dropout: float = 0.5
    lr: float = 0.01
    weight_decay: float = 5e-4  # L2 on the first layer only, as in Kipf's code
    epochs: int = 200
    early_stopping: int = 10  # window on validation loss; 0 disables
    feature_norm: str = "auto"  # "row" (Kipf), "none", or "auto": row when all features are >= 0
    sparse_features: bool = True
    bias: bool = False  # Kipf's layers have no bias
    device: str = "cpu"
    cuda_graph: bool = False  # on CUDA: each epoch replayed as one CUDA graph after 3 eager epochs
    # each pass computes the receptive field of the nodes it scores only (exact; False: every node)
    receptive_field: bool = True

    def __post_init__(self):
        check_device("device", self.device)
        for name in ("cuda_graph", "sparse_features", "bias", "receptive_field"):  # bool("no") would be True
            setattr(self, name, check_bool(name, getattr(self, name)))
        if self.cuda_graph and torch.device(self.device).type != "cuda":
            raise ValueError(f"cuda_graph needs a CUDA device, not device={self.device!r}")
        if self.feature_norm not in ("auto", "row", "none"):
            raise ValueError(f"unknown feature_norm={self.feature_norm!r}; choose one of 'auto', 'row', 'none'")
        if self.model not in CONV_REGISTRY:
            raise ValueError(f"unknown model={self.model!r}; choose one of {', '.join(CONV_REGISTRY)}")
        if self.early_stopping is None:
            self.early_stopping = 0
        for name in ("hidden", "num_layers", "epochs", "early_stopping"):  # plain ints (config.json)
            setattr(self, name, check_int(name, getattr(self, name), 0 if name == "early_stopping" else 1))
        for name in ("weight_decay", "lr", "dropout"):
            setattr(self, name, check_real(name, getattr(self, name)))
        if not 0 <= self.weight_decay < math.inf:  # NaN fails too
            raise ValueError(f"weight_decay must be finite and >= 0, got {self.weight_decay}")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be finite and > 0, got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass
class RunResult:
    seed: int
    test_acc: float
    val_acc: float
    epochs: int
    ms_per_epoch: float


def _accuracy(logp: Tensor, y: Tensor) -> float:
    """The percentage of correct predictions, exact (``100 * correct / n`` rounds once: 79.6, not
    a float32 mean's 79.60000238418579 or ``100 * 0.796``'s 79.60000000000001)."""
    if y.numel() == 0:  # an empty split: undefined, as a mean over nothing
        return float("nan")
    return 100.0 * int((logp.argmax(-1) == y).sum()) / y.numel()


def build_model(prepared: PreparedData, config: TrainConfig) -> GCN:
    return GCN(prepared.num_features, config.hidden, out_channels=prepared.num_classes, conv=config.model,
               num_layers=config.num_layers, dropout=config.dropout, bias=config.bias).to(config.device)


def make_optimizer(model: Union[GCN, StackedGCN], config: TrainConfig) -> torch.optim.Optimizer:
    """Adam with L2 (``weight_decay``) on the first layer only, as Kipf's code (of a :class:`GCN`
    or a :class:`~gcnkit.nn.models.StackedGCN`). Uses the fused
    implementation where the device supports it (2x faster per step on CPU); capturable in a CUDA
    graph with ``config.cuda_graph``."""
    first, rest = model.first_layer_parameters(), model.other_parameters()
    groups = [{"params": first, "weight_decay": config.weight_decay}]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    capturable: Dict[str, Any] = {"capturable": True} if config.cuda_graph else {}
    try:  # on copies: a refused fused Adam has already written fused=True into its groups
        return torch.optim.Adam([dict(g) for g in groups], lr=config.lr, fused=True, **capturable)
    except (RuntimeError, TypeError, ValueError):  # e.g. no fused CPU Adam before torch 2.4
        return torch.optim.Adam(groups, lr=config.lr, **capturable)


def make_epoch(model: GCN, opt: torch.optim.Optimizer, prepared: PreparedData,
               config: TrainConfig) -> Callable[[], float]:
    """One epoch of Kipf's protocol as a closure: a training step (forward, backward, Adam step)
    and a validation forward pass, each on the receptive field of the nodes it scores (with
    ``config.receptive_field``); returns the validation loss including the first layer's L2 term
    (Kipf's code stops on ``model.loss``, which includes it).

    Per-epoch bookkeeping skips generic overheads that are measurable at ~1 ms epochs: mode flags
    are set directly on the modules, grads are reset directly, and the optimizer step is called
    without the profiler/hook wrapper that ``torch.optim`` adds around it. With
    ``config.cuda_graph`` the epoch (training step and validation loss, all on the device) is
    replayed as one CUDA graph after three eager epochs (:mod:`gcnkit.train.cuda_graph`).
    """
    params = list(model.parameters())
    first = model.first_layer_parameters()
    modules = list(model.modules())
    step = _optimizer_step(opt)
    fields = _fields(prepared, model, config)
    (x_tr, g_tr, f_tr), (x_va, g_va, f_va) = [(f.x, f.graph, f) for f in fields]
    y_tr, y_va = prepared.y[prepared.train_idx], prepared.y[prepared.val_idx]
    tr, va = f_tr.targets, f_va.targets
    half_decay = 0.5 * config.weight_decay

    def set_training(flag: bool) -> None:
        for m in modules:
            object.__setattr__(m, "training", flag)

    def on_device() -> Tensor:  # the epoch without its one host synchronisation
        set_training(True)
        for p in params:
            p.grad = None
        F.cross_entropy(model(x_tr, g_tr, field=f_tr)[tr], y_tr).backward()
        step()
        set_training(False)
        with torch.no_grad():
            l2 = sum(p.pow(2).sum() for p in first) * half_decay
            return F.cross_entropy(model(x_va, g_va, field=f_va)[va], y_va) + l2

    if config.cuda_graph:
        from gcnkit.train.cuda_graph import graphed

        on_device = graphed(on_device, device=config.device)
    return lambda: float(on_device())


def _fields(prepared: PreparedData, model: GCN, config: TrainConfig) -> List[ReceptiveField]:
    """The training and validation passes' receptive fields (the whole graph for both with
    ``config.receptive_field=False``)."""
    if config.receptive_field:
        return [prepared.field_for(model, split) for split in ("train", "val")]
    graph = prepared.graph_for(model)
    return [whole_graph(graph, prepared.x, idx) for idx in (prepared.train_idx, prepared.val_idx)]


def should_stop(val_losses: List[float], window: int) -> bool:
    """Kipf's early-stopping rule after an epoch, ``val_losses`` holding every epoch's validation
    loss so far: stop when the last one exceeds the mean of the ``window`` before it. As in his
    code (``epoch > early_stopping`` with 0-based epochs), the rule first applies once
    ``window + 2`` losses are in. ``window=0`` never stops."""
    if not window or len(val_losses) < window + 2:
        return False
    return val_losses[-1] > sum(val_losses[-(window + 1):-1]) / window


def train_once(prepared: PreparedData, config: TrainConfig, seed: int) -> RunResult:
    """One run: seed, Glorot init, Adam, early stopping on validation loss (Kipf's rule: stop when
    the loss exceeds the mean of the previous ``early_stopping`` epochs); test accuracy at the
    stopping epoch."""
    seed = check_seed("seed", seed)
    _check_early_stopping(prepared, config)
    torch.manual_seed(seed)
    model = build_model(prepared, config)
    epoch_fn = make_epoch(model, make_optimizer(model, config), prepared, config)
    val_losses: List[float] = []
    start = time.perf_counter()
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        val_losses.append(epoch_fn())
        _check_val_loss(val_losses[-1], epoch, seed, prepared, config)
        if should_stop(val_losses, config.early_stopping):
            break
    elapsed = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        return _score(model(prepared.x, prepared.graph_for(model)), prepared, seed, config, epoch, elapsed)


def _optimizer_step(opt: torch.optim.Optimizer) -> Callable[[], object]:
    """``opt.step`` without the profiler/hook wrapper that ``torch.optim`` adds around it."""
    if hasattr(type(opt).step, "__wrapped__"):
        return type(opt).step.__wrapped__.__get__(opt)  # type: ignore[attr-defined]  # (hasattr above)
    return opt.step


def _check_early_stopping(prepared: PreparedData, config: TrainConfig) -> None:
    if config.early_stopping and prepared.val_idx.numel() == 0:
        raise ValueError(f"early_stopping={config.early_stopping} needs validation nodes and the validation "
                         f"mask selects none; pass early_stopping=0 to train all {config.epochs} epochs")


def _check_val_loss(value: float, epoch: int, seed: int, prepared: PreparedData, config: TrainConfig) -> None:
    if not math.isfinite(value) and prepared.val_idx.numel():  # (NaN over no node)
        raise RuntimeError(_diverged(f"the validation loss is {value} at epoch {epoch}", seed, config))


def _score(logits: Tensor, prepared: PreparedData, seed: int, config: TrainConfig, epoch: int,
           seconds: float) -> RunResult:
    """A run's result from its final logits (test accuracy at the stopping epoch)."""
    if not bool(torch.isfinite(logits).all()):  # NaN logits would score the share of class 0
        raise RuntimeError(_diverged(f"the model predicts NaN or inf after epoch {epoch}", seed, config))
    y = prepared.y
    test_acc = _accuracy(logits[prepared.test_idx], y[prepared.test_idx])
    val_acc = _accuracy(logits[prepared.val_idx], y[prepared.val_idx])
    return RunResult(seed, test_acc, val_acc, epoch, 1000.0 * seconds / epoch)


def _diverged(what: str, seed: int, config: TrainConfig) -> str:
    return (f"training diverged: {what} (seed {seed}, model={config.model}, num_layers={config.num_layers}, "
            f"lr={config.lr}); lower the learning rate or use fewer layers")


def summarize(results: List[RunResult]) -> Dict[str, float]:
    if not results:
        raise ValueError("summarize needs at least one run, got none")
    accs = torch.tensor([r.test_acc for r in results], dtype=torch.float64)
    return {
        "test_acc_mean": float(accs.mean()),
        "test_acc_std": float(accs.std(unbiased=True)) if len(results) > 1 else 0.0,
        "epochs_mean": float(sum(r.epochs for r in results) / len(results)),
        "ms_per_epoch": float(sum(r.ms_per_epoch for r in results) / len(results)),
    }
