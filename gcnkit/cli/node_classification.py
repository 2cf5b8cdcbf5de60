"""``gcnkit train`` and ``gcnkit ablate``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gcnkit.cli.flags import naming_flags
from gcnkit.functional.validation import MAX_SEED
from gcnkit.nn.conv.registry import CONV_REGISTRY

ABLATION_MODELS = ("cheb3", "cheb2", "first_order", "single_parameter", "kipf", "first_order_term", "mlp",
                   "naive", "row")


#: TrainConfig's fields as the flags that set them, for its error messages.
_FLAGS = {"num_layers": "--layers", "early_stopping": "--early-stopping", "weight_decay": "--weight-decay",
          "feature_norm": "--feature-norm", "hidden": "--hidden", "epochs": "--epochs", "lr": "--lr",
          "dropout": "--dropout", "device": "--device", "cuda_graph": "--cuda-graph"}


def _protocol_args(p: argparse.ArgumentParser, threads_help: str = "torch threads (default: torch's choice)") -> None:
    g = p.add_argument_group("training protocol (defaults: Kipf & Welling 2017)")
    g.add_argument("--hidden", type=int, default=16, help="hidden units (default 16)")
    g.add_argument("--layers", type=int, default=2, help="number of graph convolution layers (default 2)")
    g.add_argument("--dropout", type=float, default=0.5, help="dropout on every layer's input (default 0.5)")
    g.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    g.add_argument("--weight-decay", type=float, default=5e-4, help="L2 on the first layer (default 5e-4)")
    g.add_argument("--epochs", type=int, default=200, help="maximum epochs (default 200)")
    g.add_argument("--early-stopping", type=int, default=10,
                   help="window on validation loss, 0 disables (default 10)")
    g.add_argument("--bias", action="store_true", help="learn biases (Kipf's code has none)")
    g.add_argument("--feature-norm", choices=["auto", "row", "none"], default="auto",
                   help="row-normalize features (Kipf); auto: when all are non-negative (default auto)")
    g.add_argument("--dense-features", action="store_true", help="keep features dense")
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    g.add_argument("--cuda-graph", action="store_true",
                   help="with a CUDA --device: replay each epoch as one CUDA graph after 3 eager epochs "
                        "(fewer kernel launches; ms/epoch includes the eager epochs and the capture)")
    p.add_argument("--whole-graph", action="store_true",
                   help="compute every node in each pass (default: only the receptive field of the nodes a pass "
                        "scores, the training or validation nodes; the same runs)")
    p.add_argument("--seed-batch", type=int, default=10,
                   help="seeds trained together as one stacked model, each with its own weights, dropout "
                        "and early stopping, the same runs as alone up to float rounding (default 10; 1: one "
                        "model at a time, as are --dense-features and --cuda-graph runs)")
    p.add_argument("--root", default=None, help="data root (default $GCNKIT_DATA, else ./datasets)")
    p.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE", dest="dataset_option",
                   help="an option of the dataset's loader, repeatable: e.g. homophily=0.2, num_nodes=5000 or "
                        "snr=2 for csbm; split=full or split=random with split_seed=1 for Planetoid (every "
                        "dataset of the run takes it; values are read as numbers, true/false or text)")
    p.add_argument("--threads", type=int, default=None, help=threads_help)


def _config(args, model: str = "kipf"):
    from gcnkit.train.node_classification import TrainConfig

    with naming_flags(_FLAGS):  # name the flags, not the config's fields
        return _make_config(TrainConfig, args, model)


def _make_config(TrainConfig, args, model: str):
    return TrainConfig(model=model, hidden=args.hidden, num_layers=args.layers, dropout=args.dropout,
                       lr=args.lr, weight_decay=args.weight_decay, epochs=args.epochs,
                       early_stopping=args.early_stopping, bias=args.bias,
                       feature_norm=args.feature_norm, sparse_features=not args.dense_features,
                       device=args.device, cuda_graph=args.cuda_graph, receptive_field=not args.whole_graph)


def _seeds(n: int, first: int):
    if n < 1:
        raise ValueError(f"--seeds must be >= 1, got {n}")
    if first < 0:
        raise ValueError(f"--first-seed must be >= 0, got {first}")
    if first + n - 1 > MAX_SEED:
        raise ValueError(f"--first-seed + --seeds - 1 must be <= {MAX_SEED} (seeds are int64), got "
                         f"{first} + {n} - 1")
    return list(range(first, first + n))


def _dataset_options(items) -> dict:
    """``--dataset-option KEY=VALUE`` flags as keyword arguments (numbers, booleans, text)."""
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ValueError(f"--dataset-option takes KEY=VALUE (e.g. homophily=0.2), got {item!r}")
        if key in options:
            raise ValueError(f"--dataset-option {key} is given twice")
        options[key] = _option_value(text.strip())
    return options


def _option_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def _positive(name: str, value):
    if value is not None and value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def add_parsers(sub) -> None:
    models = ", ".join(CONV_REGISTRY)
    p = sub.add_parser("train", help="train one propagation model on one dataset over several seeds",
                       description="Train a GCN-type model (2 layers unless --layers) with Kipf & Welling's "
                                   "protocol and report mean +- std test accuracy over seeds, epochs run and ms per "
                                   "epoch. "
                                   f"Models: {models}. Datasets: cora, citeseer, pubmed, csbm, karate.")
    p.add_argument("--dataset", default="Cora", help="dataset name (default Cora)")
    p.add_argument("--model", default="kipf", type=str.lower, choices=list(CONV_REGISTRY), metavar="MODEL",
                   help=f"propagation model: {models} (default kipf)")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds (default 10)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    _protocol_args(p)
    p.set_defaults(run=run_train, interrupted="nothing was saved (gcnkit ablate --out DIR saves each run "
                                              "and resumes)")

    a = sub.add_parser("ablate", help="Kipf & Welling Table 3: propagation models x datasets",
                       description="Run every propagation model on every dataset for several seeds; print "
                                   "the table (mean +- std accuracy, paper value, ms per epoch) and write "
                                   "runs.csv, summary.csv, summary.json, summary.md and ablation.png to --out. "
                                   "Runs are saved as they finish: rerun the same command to resume.")
    a.add_argument("--datasets", nargs="+", default=["Cora", "CiteSeer"], help="datasets (default Cora CiteSeer)")
    a.add_argument("--models", nargs="+", default=list(ABLATION_MODELS), type=str.lower, choices=list(CONV_REGISTRY),
                   metavar="MODEL", help=f"models (default all: {', '.join(ABLATION_MODELS)})")
    a.add_argument("--seeds", type=int, default=10, help="seeds per model and dataset (default 10)")
    a.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    a.add_argument("--out", default="runs/ablation", help="output directory (default runs/ablation)")
    a.add_argument("--workers", type=int, default=None,
                   help="parallel worker processes on the CPU, --threads each (default: number of CPU "
                        "cores); with a CUDA --device the runs go one after another in one process")
    a.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _protocol_args(a, "torch threads per worker (default 1)")
    a.set_defaults(run=run_ablate)


def run_train(args) -> int:
    import torch

    from gcnkit.train.node_classification import summarize
    from gcnkit.train.paper import paper_value, protocol_changes
    from gcnkit.train.runner import run_seeds

    from gcnkit.data import dataset_name
    from gcnkit.data.registry import check_dataset_options

    if _positive("--threads", args.threads):
        torch.set_num_threads(args.threads)
    config = _config(args, args.model)
    dataset = dataset_name(args.dataset)  # as ablate's files spell it (cora -> Cora)
    options = _dataset_options(args.dataset_option)
    check_dataset_options(dataset, options)  # (before they meet run_seeds' own arguments)
    results = run_seeds(dataset, config, _seeds(args.seeds, args.first_seed), root=args.root,
                        progress=not args.json and sys.stderr.isatty(),
                        seed_batch=_positive("--seed-batch", args.seed_batch), **options)
    out = {"dataset": dataset, "model": args.model, "seeds": len(results), **summarize(results),
           "dataset_options": options,
           "paper": paper_value(args.model, dataset), "protocol_changes": protocol_changes(config, options),
           "threads": torch.get_num_threads(), "device": config.device, "cuda_graph": config.cuda_graph,
           "seed_batch": 1 if args.dense_features or args.cuda_graph else args.seed_batch,  # (as they ran)
           "receptive_field": config.receptive_field,
           "runs": [vars(r) for r in results]}
    if args.json:
        print(json.dumps(out))
    else:
        paper = ""
        if out["paper"] is not None:
            changes = out["protocol_changes"]
            paper = (f" (paper: {out['paper']:.1f}" + (f", with its protocol; here {', '.join(changes)})"
                                                        if changes else ")"))
        print(f"{dataset} / {args.model}: test accuracy {out['test_acc_mean']:.2f} ± "
              f"{out['test_acc_std']:.2f} %{paper} over {len(results)} seed{'s' * (len(results) != 1)}; "
              f"{out['epochs_mean']:.1f} epochs; {out['ms_per_epoch']:.2f} ms/epoch")
    return 0


def run_ablate(args) -> int:
    import os

    from gcnkit.data import dataset_name
    from gcnkit.train.paper import paper_value, protocol_note
    from gcnkit.train.report import ablation_table, summary_frame, write_reports
    from gcnkit.train.runner import ablate, unique

    workers = _positive("--workers", args.workers) or os.cpu_count() or 1
    threads = _positive("--threads", args.threads) or 1
    datasets, models = unique(dataset_name(d) for d in args.datasets), unique(args.models)
    config = _config(args)
    options = _dataset_options(args.dataset_option)
    out = Path(args.out)  # (ablate and write_reports expand a quoted "--out=~/x")
    rows = ablate(datasets, models, _seeds(args.seeds, args.first_seed), out,
                  config=config, root=args.root, workers=workers, threads=threads,
                  progress=not args.no_progress, seed_batch=_positive("--seed-batch", args.seed_batch),
                  dataset_options=options)
    has_paper = any(paper_value(m, d) is not None for m in models for d in datasets)
    note = protocol_note(config, options) if has_paper else ""  # (a CSBM has no paper values)
    paths = write_reports(rows, out, models, datasets, note=note)
    print(ablation_table(summary_frame(rows), models, datasets).to_string())
    if note:
        print(f"\nNote: {note}.")
    print("\nwritten: " + ", ".join(paths.values()))
    return 0
