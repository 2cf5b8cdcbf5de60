"""``gcnkit temporal``: forecasting with recurrent graph models (T-GCN, GConvGRU, GConvLSTM).

Only turns arguments into a :class:`~gcnkit.train.temporal.TemporalConfig` and calls
:func:`~gcnkit.train.temporal_run.run_temporal`, then prints its result.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from gcnkit.cli.flags import naming_flags

_MODELS = ("tgcn", "tgcn_pygt", "gconvgru", "gconvlstm")

_DESCRIPTION = """Train a recurrent graph model on a temporal dataset and report RMSE, MAE,
accuracy (1 - ||Y - Y^||_F / ||Y||_F), R^2 and explained variance on the test part (unscaled
values), the model chosen on validation, beside three baselines (zero, last value, linear AR).

Models: tgcn (Zhao et al. 2019, GCN on [x, h]), tgcn_pygt (PyG Temporal's TGCN: GCN on x, linear
on h), gconvgru / gconvlstm (Seo et al. 2018, Chebyshev of degree --K).
Datasets: losloop (defaults: 12 lags, 3 ahead, hidden 64, batches of 32 windows, train ratio 0.8,
the graph los_adj.csv + 2I for TGCN (T-GCN's code adds I to it; 2 is PyG's improved weight), per-node
z-scored speeds, Adam lr 0.01 with a cosine schedule over 40 epochs, the last 10% of the training
part for validation), chickenpox and pedalme (4 lags, 1 ahead, hidden 32, one sequence with the state
carried, lr 0.01, 200 epochs, the last 20% of the training part held out for validation;
chickenpox train ratio 0.2 as PyG Temporal).

  gcnkit temporal --dataset losloop --model tgcn --horizon 3
  gcnkit temporal --dataset chickenpox --model gconvgru --json"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the ``temporal`` subcommand to ``subparsers``."""
    p = subparsers.add_parser("temporal", help="forecasting with T-GCN / GConvGRU / GConvLSTM",
                              description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="chickenpox", help="losloop, chickenpox or pedalme (default chickenpox)")
    p.add_argument("--model", default="tgcn", choices=_MODELS, help="model (default tgcn)")
    g = p.add_argument_group("protocol (unset: the dataset's default)")
    g.add_argument("--lags", type=int, default=None, help="input steps per sample")
    g.add_argument("--horizon", type=int, default=None, help="steps ahead to predict")
    g.add_argument("--hidden", type=int, default=None, help="hidden units")
    g.add_argument("--epochs", type=int, default=None, help="epochs")
    g.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    g.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay (default 0)")
    g.add_argument("--batch-size", type=int, default=None, help="windows per batch (windows protocol)")
    g.add_argument("--train-ratio", type=float, default=None,
                   help="chronological share of the samples before the test part")
    g.add_argument("--val-ratio", type=float, default=None,
                   help="share of that part held out (last) for model selection (losloop 0.1; "
                        "chickenpox and pedalme 0.2: 0.1 of Chickenpox's 20%% is 10 weeks, too few to "
                        "choose an epoch on)")
    g.add_argument("--protocol", choices=("windows", "sequence"), default=None,
                   help="windows: batched independent windows; sequence: one sequence, state carried")
    g.add_argument("--scaler", choices=("max", "standard", "none"), default=None,
                   help="scaling fitted on the training steps")
    g.add_argument("--K", type=int, default=1, help="Chebyshev degree for gconv* (PyG Temporal's K - 1; default 1)")
    g.add_argument("--tbptt", type=int, default=None, help="truncated BPTT chunk length (sequence protocol)")
    g.add_argument("--clip", type=float, default=None, help="gradient-norm clipping")
    g.add_argument("--patience", type=int, default=None, help="stop after this many epochs without a better "
                                                             "validation RMSE (default: run all epochs)")
    g.add_argument("--lr-schedule", choices=("none", "cosine"), default=None,
                   help="learning-rate schedule over the epochs")
    g.add_argument("--self-loops", choices=("keep", "add"), default=None,
                   help="keep: the graph as given, self-loops of --self-loop-weight added where a node "
                        "has none; add: A + wI even where A has self-loops (T-GCN's code adds I to "
                        "los_adj.csv, whose diagonal is already 1); tgcn and tgcn_pygt only: the "
                        "Chebyshev models drop self-loops")
    g.add_argument("--self-loop-weight", type=float, default=None,
                   help="w of the self-loops (losloop default 2, PyG's improved; else 1); tgcn and "
                        "tgcn_pygt only; with keep it weights only the loops added to nodes without "
                        "one (none on the bundled datasets, whose every node has one: use add)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--root", default=None, help="data root (default $GCNKIT_DATA, else ./datasets)")
    p.add_argument("--out", default=None,
                   help="output folder (default runs/temporal/<dataset>-<model>-<hash of the settings>); "
                        "a checkpoint there after every epoch: rerun the same command to resume")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--cuda-graph", action="store_true",
                   help="with a CUDA --device: replay each training epoch and validation pass as one CUDA "
                        "graph after 3 eager ones (the numbers up to float32 rounding, far fewer kernel launches)")
    p.add_argument("--nodes", type=int, nargs="+", default=[0, 1, 2], help="nodes to plot (default 0 1 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run, interrupted="finished epochs are saved, run the same command to resume")
    return p


#: TemporalConfig's fields as the flags that set them, for its error messages.
_FLAGS = {name: "--" + name.replace("_", "-") for name in (
    "lags", "horizon", "hidden", "epochs", "lr", "weight_decay", "batch_size", "train_ratio", "val_ratio",
    "protocol", "scaler", "K", "tbptt", "clip", "patience", "lr_schedule", "self_loops", "self_loop_weight",
    "seed", "device", "cuda_graph", "model", "dataset")}


def config_from_args(args):
    from gcnkit.train.temporal import TemporalConfig

    with naming_flags(_FLAGS):
        return _make_config(TemporalConfig, args)


def _make_config(TemporalConfig, args):
    return TemporalConfig(
        dataset=args.dataset, model=args.model, lags=args.lags, horizon=args.horizon, hidden=args.hidden,
        epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, batch_size=args.batch_size,
        train_ratio=args.train_ratio, val_ratio=args.val_ratio, protocol=args.protocol, scaler=args.scaler,
        K=args.K, tbptt=args.tbptt, clip=args.clip, patience=args.patience, lr_schedule=args.lr_schedule,
        self_loops=args.self_loops, self_loop_weight=args.self_loop_weight, seed=args.seed, root=args.root,
        device=args.device, cuda_graph=args.cuda_graph, progress=not args.no_progress).resolved()


def run(args) -> int:
    """Runs ``gcnkit temporal``; returns the exit code."""
    import torch

    from gcnkit.train.temporal_report import results_frame, summary_json
    from gcnkit.train.temporal_run import run_temporal

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    config = config_from_args(args)
    with naming_flags(_FLAGS, errors=(ValueError,)):  # the data's checks (too few windows for --train-ratio)
        result, paths, out = run_temporal(config, args.out, args.nodes)
    if args.json:
        print(summary_json(result))
    else:
        s = result.summary()
        print(f"{s['dataset']} / {s['model']}: lags {s['lags']}, horizon {s['horizon']}, hidden {s['hidden']}, "
              f"{s['protocol']} protocol, train ratio {s['train_ratio']}; "
              + (f"best epoch {s['best_epoch']} of {s['epochs']} (validation RMSE)" if s["val_ratio"] else
                 f"last epoch {s['epochs']} (no validation part)")
              + f", {s['ms_per_epoch']:.1f} ms/epoch, "
              f"{s['num_parameters']} parameters")
        print(results_frame(s).to_string(float_format=lambda v: f"{v:.4f}"))
        print(f"saved: {', '.join(str(p) for p in paths.values())}, {out / 'history.csv'}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Stand-alone entry point: ``python -m gcnkit.cli.temporal ...``."""
    parser = argparse.ArgumentParser(prog="gcnkit")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["temporal", *(sys.argv[1:] if argv is None else argv)])
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
