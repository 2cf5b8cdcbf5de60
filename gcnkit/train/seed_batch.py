"""Many seeds of Kipf's protocol trained at once, as one :class:`~gcnkit.nn.models.StackedGCN`.

Each seed's model is initialized as :func:`~gcnkit.train.node_classification.train_once`
initializes it, and draws its dropout masks from a generator holding the random state its own
run would have, so it follows the same trajectory (to float rounding; the products are summed in
another order) and stops by the same rule. What is shared: one sparse product per propagation for
all seeds, one optimizer step, one host synchronisation per epoch. A seed that stops leaves the
stack (its weights and Adam moments are cut out), so the others do not pay for it.
"""
from __future__ import annotations

import time
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Generator

from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.validation import check_seed
from gcnkit.nn.models.stacked_gcn import StackedGCN
from gcnkit.train.node_classification import (PreparedData, RunResult, TrainConfig, _check_early_stopping,
                                              _check_val_loss, _fields, _optimizer_step, _score, build_model,
                                              make_optimizer, should_stop, train_once)


def _generator_after_init(seed: int, device: torch.device) -> torch.Generator:
    """A generator in the state torch's default one has after ``manual_seed(seed)`` and the model's
    initialization (on the CPU), i.e. the state from which a lone run draws its dropout masks."""
    if device.type == "cpu":
        g = torch.Generator()
        g.set_state(torch.get_rng_state())
    else:  # the model was initialized on the CPU: the device's generator is untouched since the seed
        g = torch.Generator(device=device)
        g.manual_seed(seed)
    return g


def train_seeds(prepared: PreparedData, config: TrainConfig, seeds: Sequence[int]) -> List[RunResult]:
    """One run per seed, as :func:`~gcnkit.train.node_classification.train_once` (same protocol,
    same initialization and dropout masks per seed, test accuracy at each seed's stopping epoch),
    all seeds trained together. ``ms_per_epoch`` is a seed's share: each epoch's time divided
    among the seeds still training. With ``config.cuda_graph``, or dense features
    (``sparse_features=False``), the seeds run one at a time."""
    seeds = [check_seed("seed", s) for s in seeds]  # (a repeated seed is trained again, as alone)
    if not seeds:
        return []
    if config.cuda_graph or not isinstance(prepared.x, CSRMatrix):
        # each run is its own captured graph; dense features (sparse_features=False) would be
        # dropped out and kept for the backward pass once per seed, [S, N, F] (CiteSeer: 0.5 GB)
        return [train_once(prepared, config, s) for s in seeds]
    _check_early_stopping(prepared, config)
    device = torch.device(config.device)
    models, generators = [], []
    for s in seeds:
        torch.manual_seed(s)
        models.append(build_model(prepared, config))
        generators.append(_generator_after_init(s, device))
    stacked = StackedGCN(models)
    del models
    opt = make_optimizer(stacked, config)
    epoch_fn = make_stacked_epoch(stacked, opt, prepared, config)
    active = list(range(len(seeds)))
    val_losses: List[List[float]] = [[] for _ in seeds]
    spent = [0.0] * len(seeds)
    results: List[Optional[RunResult]] = [None] * len(seeds)
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        n = len(active)
        val = epoch_fn([generators[i] for i in active])
        share = (time.perf_counter() - start) / n
        done = []
        for j, i in enumerate(active):
            spent[i] += share
            val_losses[i].append(val[j])
            _check_val_loss(val[j], epoch, seeds[i], prepared, config)
            if epoch == config.epochs or should_stop(val_losses[i], config.early_stopping):
                done.append(j)
        if done:  # the stopping models' logits on every node, for their scores
            with torch.no_grad():
                logits = stacked(prepared.x, prepared.graph_for(stacked.template))
            for j in done:
                i = active[j]
                results[i] = _score(logits[j], prepared, seeds[i], config, epoch, spent[i])
        if len(done) == n:
            break
        if done:
            keep = [j for j in range(n) if j not in done]
            stacked.select_(keep, opt)
            active = [active[j] for j in keep]
    _leave_default_generator(generators[-1], device)
    return results  # type: ignore[return-value]


def _leave_default_generator(last: Generator, device: torch.device) -> None:
    """Torch's default generator (of the device the masks came from) as the seeds run one after
    another leave it: in the state the last seed's masks left its generator in."""
    if device.type == "cpu":
        torch.set_rng_state(last.get_state())
    elif device.type == "cuda":
        torch.cuda.set_rng_state(last.get_state(), device)


def make_stacked_epoch(stacked: StackedGCN, opt: torch.optim.Optimizer, prepared: PreparedData,
                       config: TrainConfig) -> Callable[[Sequence[Optional[Generator]]], List[float]]:
    """One epoch of Kipf's protocol for every model of ``stacked`` (as
    :func:`~gcnkit.train.node_classification.make_epoch` for one): a training step on the sum of
    the models' mean training losses (so each model gets its own run's gradient), one optimizer
    step, and a validation pass (each pass on the receptive field of the nodes it scores, as
    ``make_epoch``). Called with the models' generators (one each, for their dropout masks), it
    returns each model's validation loss with its first layer's L2 term, read to the host at
    once: the epoch's one synchronisation. After :meth:`StackedGCN.select_` (given ``opt``) it
    trains the models kept."""
    step = _optimizer_step(opt)
    f_tr, f_va = _fields(prepared, stacked.template, config)
    y_tr, y_va = prepared.y[prepared.train_idx], prepared.y[prepared.val_idx]
    tr, va = f_tr.targets, f_va.targets
    half_decay = 0.5 * config.weight_decay

    def epoch(generators: Sequence[Optional[Generator]]) -> List[float]:
        n = len(generators)
        stacked.train()
        for p in stacked.parameters():
            p.grad = None
        logits = stacked(f_tr.x, f_tr.graph, generators=generators, field=f_tr)
        c = logits.size(-1)
        loss = F.cross_entropy(logits[:, tr].reshape(-1, c), y_tr.repeat(n), reduction="sum") / tr.numel()
        loss.backward()
        step()
        stacked.eval()
        with torch.no_grad():
            logits = stacked(f_va.x, f_va.graph, field=f_va)
            l2 = sum(torch.linalg.vector_norm(p.flatten(1), dim=1).square() for p in stacked.first_layer_parameters())
            val = F.cross_entropy(logits[:, va].reshape(-1, c), y_va.repeat(n), reduction="none")
            return (val.view(n, -1).mean(1) + l2 * half_decay).tolist()

    return epoch

