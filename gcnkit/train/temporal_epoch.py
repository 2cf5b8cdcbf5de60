r"""The steps of a forecasting run as closures: the optimizer and its schedule, a training epoch
and the predictions of a part, eager or, with ``cuda_graph``, each replayed as one CUDA graph
after three eager calls (:mod:`gcnkit.train.cuda_graph`).

A graphed epoch replays the kernels of the eager one: the same batches (the shuffled order is
drawn on the CPU each epoch and copied into the graph's static index before the replay), losses,
gradients and Adam updates. The numbers equal an eager run's up to float32 rounding (about 1e-5
relative): the capturable Adam computes its bias corrections on the device in float32 and reads
its learning rate from a float32 tensor. That tensor is what a replay sees of the schedule: the
schedule itself runs on floats, as in an eager run, and writes each value into it.
"""
from __future__ import annotations

import warnings
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from gcnkit.functional.validation import check_finite, finite_checked
from gcnkit.nn.models import RecurrentGraphModel
from gcnkit.nn.recurrent import clip_grad_norm, tbptt_backward


def _sequence_inputs(x: Tensor) -> Tensor:
    """Windows ``[S, lags, N, F]`` -> one sequence of snapshots ``[1, S, N, lags * F]``."""
    S, L, N, F_ = x.shape
    return x.permute(0, 2, 1, 3).reshape(1, S, N, L * F_)


def predict(model: RecurrentGraphModel, data, cfg, samples: range) -> Tensor:
    """Scaled predictions ``[len(samples), horizon, N]``; in the sequence protocol the state is
    carried from sample 0 (the start of the series) up to ``samples``."""
    model.eval()
    ei, ew = data.edge_index, data.edge_weight
    with torch.no_grad():
        if cfg.protocol == "sequence":
            out, _ = model(_sequence_inputs(data.x[:samples.stop]), ei, ew)
            return out[0, samples.start:].permute(0, 2, 1)
        check_finite("data.x", data.x[samples.start:samples.stop])
        step = max(cfg.batch_size, 64)
        with finite_checked("x"):  # (checked above: one host sync, not one per part)
            parts = [model(data.x[i:min(i + step, samples.stop)], ei, ew, return_sequence=False)[0]
                     for i in range(samples.start, samples.stop, step)]
        return torch.cat(parts).permute(0, 2, 1)


def make_predict(model: RecurrentGraphModel, data, cfg, samples: range) -> Callable[[], Tensor]:
    """:func:`predict` of ``samples`` as a closure; with ``cfg.cuda_graph`` replayed as one CUDA
    graph (the returned tensor is then overwritten by the next call: copy it first)."""
    fn = lambda: predict(model, data, cfg, samples)  # noqa: E731
    return _graphed(fn, cfg) if cfg.cuda_graph else fn


class _DeviceLR:
    """A schedule run on a float learning rate (a one-parameter stand-in optimizer), each value
    written into the optimizer's learning-rate tensors, which a captured step reads."""

    def __init__(self, opt: torch.optim.Optimizer, lr: float,
                 make: Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]):
        self.opt = opt
        self.shadow = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)  # the float, not the tensor's
        self.schedule = make(self.shadow)

    def step(self) -> None:
        self.shadow.step()  # a no-op (its parameter has no gradient), so the schedule sees a step
        self.schedule.step()
        self.sync()

    def get_last_lr(self) -> list:
        return self.schedule.get_last_lr()

    def sync(self) -> None:
        for group in self.opt.param_groups:
            group["lr"].fill_(self.shadow.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        return self.schedule.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.schedule.load_state_dict(state)
        self.shadow.param_groups[0]["lr"] = float(self.schedule.get_last_lr()[0])
        self.sync()


def make_optimizer(model: RecurrentGraphModel, cfg) -> torch.optim.Adam:
    """Adam; with ``cfg.cuda_graph`` capturable, its learning rate a tensor on the device."""
    if not cfg.cuda_graph:
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    lr = torch.tensor(float(cfg.lr), device=cfg.device)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay, capturable=True)


def make_schedule(opt: torch.optim.Optimizer, cfg):
    """The learning-rate schedule over ``cfg.epochs`` (``None`` without one): ``step()`` after
    every epoch, ``state_dict()`` / ``load_state_dict()`` for checkpoints."""
    if cfg.lr_schedule != "cosine":
        return None
    make = lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, cfg.epochs)  # noqa: E731
    return _DeviceLR(opt, float(cfg.lr), make) if cfg.cuda_graph else make(opt)


def restore_optimizer(opt: torch.optim.Optimizer, schedule, saved: dict, cfg) -> None:
    """Restores a checkpoint's optimizer and schedule (``saved["optimizer"]``,
    ``saved["schedule"]``), written by an eager or a graphed run, in the form this run needs: the
    learning rate a float, or a tensor on the device. Its value is the schedule's last float (or
    ``cfg.lr``), never a float32 tensor's rounding of it."""
    state = saved["optimizer"]
    # load_state_dict takes every hyperparameter from the checkpoint, capturable too: an eager
    # run's would make this run's Adam uncapturable (its capture then fails), a graphed run's
    # would keep an eager run on the capturable arithmetic; torch places the step counters by it
    state = {**state, "param_groups": [{**g, "capturable": bool(cfg.cuda_graph)} for g in state["param_groups"]]}
    opt.load_state_dict(state)
    for group in opt.param_groups:
        lr = float(group["lr"])
        group["lr"] = torch.tensor(lr, device=cfg.device) if cfg.cuda_graph else lr
    if schedule is not None:
        schedule.load_state_dict(saved["schedule"])  # a graphed run's fills its tensors
    if not cfg.cuda_graph:
        lrs = schedule.get_last_lr() if schedule is not None else [cfg.lr] * len(opt.param_groups)
        for group, lr in zip(opt.param_groups, lrs):
            group["lr"] = float(lr)


def make_train_epoch(model: RecurrentGraphModel, opt: torch.optim.Optimizer, data, cfg,
                     gen: torch.Generator) -> Callable[[], float]:
    """One training epoch as a closure returning the mean training loss: one step on the whole
    training sequence (``"sequence"``; truncated BPTT with ``cfg.tbptt``), or shuffled batches of
    windows (``"windows"``, the order drawn from ``gen``). One host synchronisation per epoch."""
    ei, ew = data.edge_index, data.edge_weight
    mse = F.mse_loss
    order: Optional[Tensor] = None
    opt_step = _quiet_step(opt) if cfg.cuda_graph else opt.step
    train = data.train
    if cfg.protocol == "sequence":
        if train.start != 0 or train.step != 1:  # the state is carried from the series' first step
            raise ValueError(f"the sequence protocol trains on the series from its start: data.train must be "
                             f"range(0, stop), got {train}")
        x = _sequence_inputs(data.x[: data.train.stop])                       # [1, S, N, lags * F]
        y = data.y[: data.train.stop].permute(0, 2, 1).unsqueeze(0)          # [1, S, N, horizon]
        check_finite("data.x", x)  # once, not per epoch

        def on_device() -> Tensor:
            model.train()
            opt.zero_grad(set_to_none=True)
            with finite_checked("x"):
                if cfg.tbptt:
                    loss, _ = tbptt_backward(model, x, y, ei, ew, k=cfg.tbptt, loss_fn=mse)
                else:
                    loss = mse(model(x, ei, ew)[0], y)
                    loss.backward()
            if cfg.clip is not None:
                clip_grad_norm(model, cfg.clip)
            opt_step()
            return loss.detach()
    else:
        n = len(data.train)
        order = torch.empty(n, dtype=torch.long, device=data.x.device)  # the epoch's shuffle, static
        check_finite("data.x", data.x[train.start:train.stop:train.step])  # once, not per batch

        def on_device() -> Tensor:
            model.train()
            total = data.x.new_zeros(())
            for i in range(0, n, cfg.batch_size):
                idx = order[i:i + cfg.batch_size]
                opt.zero_grad(set_to_none=True)
                with finite_checked("x"):  # windows of the checked training part
                    out, _ = model(data.x[idx], ei, ew, return_sequence=False)   # [B, N, horizon]
                loss = mse(out.permute(0, 2, 1), data.y[idx])
                loss.backward()
                if cfg.clip is not None:
                    clip_grad_norm(model, cfg.clip)
                opt_step()
                total = total + loss.detach() * idx.numel()
            return total

    step = _graphed(on_device, cfg) if cfg.cuda_graph else on_device

    def epoch() -> float:
        if order is None:
            return float(step())
        # the windows of data.train (range(0, n) from prepare_data: the shuffle itself)
        order.copy_(torch.randperm(len(order), generator=gen).mul_(train.step).add_(train.start))
        return float(step()) / len(order)

    return epoch


def _quiet_step(opt: torch.optim.Optimizer) -> Callable[[], None]:
    """``opt.step`` without torch's warning that a capturable optimizer steps outside a capture,
    which the eager warm-up calls before the capture always do."""
    def step() -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")
            opt.step()

    return step


def _graphed(fn: Callable[[], Tensor], cfg) -> Callable[[], Tensor]:
    from gcnkit.train.cuda_graph import graphed

    return graphed(fn, device=cfg.device)
