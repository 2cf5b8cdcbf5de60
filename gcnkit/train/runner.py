"""Many seeds, many models, many datasets: runs that save as they go and resume."""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch

from gcnkit.data.lock import FolderBusy, folder_lock
from gcnkit.functional.validation import check_int, check_seed
from gcnkit.train.checkpoint import check_output_folder
from gcnkit.train.node_classification import PreparedData, RunResult, TrainConfig, _fields, build_model, train_once
from gcnkit.train.run_log import RunLog
from gcnkit.train.seed_batch import train_seeds
from gcnkit.train.workers import WorkerDied, run_in_workers, set_threads

#: TrainConfig fields added after run logs were written, with the value those runs had: a
#: config.json without them resumes.
_ADDED_FIELDS = {"cuda_graph": False, "dataset_options": {}}

#: Seeds trained together as one stacked model by default (``--seed-batch``).
DEFAULT_SEED_BATCH = 10

_PREPARED: Dict[tuple, PreparedData] = {}


def prepare(dataset: str, config: TrainConfig, root: Optional[str] = None, **dataset_kwargs) -> PreparedData:
    """Loads and prepares ``dataset`` once per process (normalized features, index tensors)."""
    key = (dataset.lower(), root, config.device, config.feature_norm, config.sparse_features,
           tuple(sorted(dataset_kwargs.items())))
    if key not in _PREPARED:
        from gcnkit.data import load_dataset

        _PREPARED[key] = PreparedData(load_dataset(dataset, root, **dataset_kwargs), config)
    return _PREPARED[key]


def run_seeds(dataset: str, config: TrainConfig, seeds: Iterable[int], root: Optional[str] = None,
              progress: bool = True, seed_batch: int = DEFAULT_SEED_BATCH, **dataset_kwargs) -> List[RunResult]:
    """Trains ``config`` on ``dataset`` once per seed, ``seed_batch`` seeds at a time as one stacked
    model (:func:`~gcnkit.train.seed_batch.train_seeds`; 1: one plain model after another,
    :func:`~gcnkit.train.node_classification.train_once`)."""
    from tqdm.auto import tqdm

    seed_batch = check_int("seed_batch", seed_batch, 1)
    prepared = prepare(dataset, config, root, **dataset_kwargs)
    seeds = list(seeds)
    results: List[RunResult] = []
    with tqdm(total=len(seeds), desc=f"{dataset}/{config.model}", disable=not progress, leave=False) as bar:
        for chunk in _chunks(seeds, seed_batch):
            results += _train(prepared, config, chunk)
            bar.update(len(chunk))
    return results


def _chunks(items: list, size: int) -> List[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _train(prepared: PreparedData, config: TrainConfig, seeds: List[int]) -> List[RunResult]:
    if len(seeds) == 1:
        return [train_once(prepared, config, seeds[0])]
    return train_seeds(prepared, config, seeds)


def _worker_run(task: Tuple[str, str, List[int], TrainConfig, Optional[str], dict]) -> List[dict]:
    dataset, model, seeds, config, root, options = task
    try:
        results = _train(prepare(dataset, config, root, **options), replace(config, model=model), seeds)
    except Exception as e:  # re-raised as a plain RuntimeError: any exception crosses processes
        raise RuntimeError(f"run {_describe(task)} failed: {type(e).__name__}: {e}") from None
    return [{"dataset": dataset, "model": model, **asdict(r)} for r in results]


def _describe(task: tuple) -> str:
    dataset, model, seeds = task[:3]
    return f"{dataset}/{model}/" + (f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}")


def _cost(task: tuple) -> float:
    """A rough cost of a task, to start the long ones first (so that no worker is left with one
    long task at the end): the stored feature entries its passes read (the receptive fields'
    rows) times the propagated terms of the first layer."""
    dataset, model, seeds, config, root, options = task
    prepared = prepare(dataset, config, root, **options)
    config = replace(config, model=model)
    with torch.random.fork_rng(devices=[]):  # a model to ask for its fields: its init draws leave no trace
        template = build_model(prepared, config)
    nnz = sum(x.nnz if hasattr(x, "nnz") else x.numel()
              for x in (f.x for f in _fields(prepared, template, config)))
    return float(nnz * _terms(model) * len(seeds))


@functools.lru_cache(maxsize=None)
def _terms(model: str) -> int:
    """Weight matrices per layer of a registered model (K + 1 for Chebyshev)."""
    from gcnkit.nn.conv.registry import make_conv

    return make_conv(model, 1, 1).fused_weight().size(0)


def unique(items: Iterable) -> list:
    """``items`` without repeats, in their first order."""
    return list(dict.fromkeys(items))


def ablate(datasets: Sequence[str], models: Sequence[str], seeds: Sequence[int], out_dir: Path,
           config: Optional[TrainConfig] = None, root: Optional[str] = None, workers: int = 1,
           threads: int = 1, progress: bool = True,
           on_result: Optional[Callable[[dict], None]] = None, seed_batch: int = DEFAULT_SEED_BATCH,
           dataset_options: Optional[Mapping[str, Any]] = None) -> List[dict]:
    """Runs every (dataset, model, seed) not yet in ``out_dir/runs.csv`` and returns the rows of
    the requested runs (those of this call and those found in the log; other runs the log holds
    are left out), in log order.

    The runs of a (dataset, model) go ``seed_batch`` seeds at a time, trained together as one
    stacked model (:func:`~gcnkit.train.seed_batch.train_seeds`; 1: one plain model per run), the
    groups of all pairs spread over ``workers`` processes, longest first. Each run is appended to
    ``runs.csv`` as its group finishes, so an interrupted ablation resumes where it stopped (an
    unfinished group is redone) when called again with the same ``out_dir``. ``config.json`` in ``out_dir`` records
    the training protocol and the ``dataset_options`` (keyword options of
    :func:`~gcnkit.data.load_dataset` for every dataset, e.g. a CSBM's ``homophily``); resuming
    with different ones is refused. Dataset names are keyed by
    their canonical spelling (``cora`` and ``Cora`` are one dataset); repeated names, models and
    seeds run once.

    Worker processes are forked, or spawned where an accelerator is present (on a machine with a
    GPU, a process that has run a backward pass cannot fork workers that train): spawned workers
    import the calling script again, so a script calls ``ablate(..., workers=n)`` under
    ``if __name__ == "__main__":``.
    """
    from gcnkit.data import dataset_name
    from gcnkit.data.registry import check_dataset_options

    config = config or TrainConfig()
    for name, value in (("datasets", datasets), ("models", models), ("seeds", seeds)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):  # "cora" would be c, o, r, a
            raise TypeError(f"{name} must be a list{' of names' if name != 'seeds' else ' (e.g. range(10))'}, "
                            f"got {value!r}")
    datasets = unique(dataset_name(d) for d in datasets)
    models = unique(replace(config, model=m).model for m in models)  # unknown names: refused now
    seeds = unique(check_seed("seed", s) for s in seeds)
    seed_batch = check_int("seed_batch", seed_batch, 1)
    out_dir = check_output_folder(out_dir)
    dataset_options = dict(dataset_options or {})
    for d in datasets:  # fail early (missing files, bad names) before writing or spawning anything
        check_dataset_options(d, dataset_options)  # (before they meet prepare's own arguments)
        prepare(d, config, root, **dataset_options)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:  # a second ablate on the same folder would run every missing run again and log it twice
        with folder_lock(out_dir, wait=False):
            return _ablate_locked(datasets, models, seeds, out_dir, config, root, workers, threads, progress,
                                  on_result, seed_batch, dataset_options)
    except FolderBusy:
        raise ValueError(f"{out_dir} is in use by another gcnkit ablate (it holds the folder's lock); wait for "
                         f"it to finish, or use another --out folder") from None


def _ablate_locked(datasets, models, seeds, out_dir: Path, config: TrainConfig, root, workers: int,
                   threads: int, progress: bool, on_result, seed_batch: int, dataset_options: dict) -> List[dict]:
    from tqdm.auto import tqdm

    cfg_path = out_dir / "config.json"
    # (receptive_field is how the runs are computed, not which runs: the same either way)
    cfg = {k: v for k, v in asdict(config).items() if k not in ("model", "receptive_field")}
    cfg["dataset_options"] = json.loads(json.dumps(dataset_options, default=repr))  # as config.json reads back
    log = RunLog(out_dir / "runs.csv")
    finished = log.read()
    if finished and not cfg_path.exists():
        raise ValueError(f"{out_dir} holds {len(finished)} finished runs but no config.json, so the protocol "
                         f"they were run with is unknown; use another output folder, or delete "
                         f"{log.path} to start over")
    if finished:
        try:
            old = json.loads(cfg_path.read_text())
            if not isinstance(old, dict):
                raise ValueError(f"a JSON {type(old).__name__}, not an object")
            old = {**_ADDED_FIELDS, **old}  # written before those fields existed
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{cfg_path} is not a readable protocol ({e}); restore it or use another "
                             f"output folder") from None
        if old != cfg:
            diff = ", ".join(f"{k}={old.get(k)!r} there, {cfg.get(k)!r} now"
                             for k in sorted(set(old) | set(cfg)) if old.get(k) != cfg.get(k))
            raise ValueError(f"{out_dir} holds runs of another protocol ({diff}); use another --out "
                             f"directory or delete it")
    else:  # nothing run yet: (re)write the protocol
        cfg_path.write_text(json.dumps(cfg, indent=2))
    done = {(r["dataset"], r["model"], r["seed"]) for r in finished}
    tasks = [(d, m, chunk, config, root, dataset_options) for d in datasets for m in models
             for chunk in _chunks([s for s in seeds if (d, m, s) not in done], seed_batch)]
    tasks.sort(key=_cost, reverse=True)  # (stable: equal costs keep their order)
    bar = tqdm(total=sum(len(t[2]) for t in tasks), desc="ablation runs", disable=not progress)

    def record(row: dict) -> None:
        log.append(row)
        bar.update(1)
        if on_result:
            on_result(row)

    # one process on an accelerator: a forked worker cannot use CUDA once the parent has
    # (prepare() put the data there), and the runs would share one device anyway
    if workers <= 1 or len(tasks) <= 1 or str(config.device) != "cpu":
        caller_threads = torch.get_num_threads()
        set_threads(threads)
        try:
            for t in tasks:
                for row in _worker_run(t):
                    record(row)
        finally:
            torch.set_num_threads(caller_threads)
    else:
        try:
            for rows in run_in_workers(_worker_run, tasks, workers, threads, describe=_describe):
                for row in rows:
                    record(row)
        except WorkerDied as e:
            raise RuntimeError(f"{e}; the finished runs are saved in {log.path}: run the same command to "
                               f"resume") from None
    bar.close()
    wanted = {(d, m, s) for d in datasets for m in models for s in seeds}
    return [r for r in log.read() if (r["dataset"], r["model"], r["seed"]) in wanted]
