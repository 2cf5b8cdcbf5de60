"""Speed of a training epoch of Kipf & Welling's 2-layer GCN: gcnkit against PyG, same process.

Three contenders train the same model (2 layers, 16 hidden, dropout 0.5 on every layer's input,
Adam lr 0.01, L2 5e-4 on the first layer, row-normalized features) on the same data. One epoch is
what Kipf's protocol does per epoch: a training step (forward, backward, optimizer step) and a
validation forward pass for early stopping.

- ``pyg_example``: ``torch_geometric.nn.GCNConv`` as PyG's ``examples/gcn.py`` uses it: dense
  features, ``edge_index``, the default ``cached=False``.
- ``pyg_fastest``: ``GCNConv(cached=True)`` with sparse CSR features (sparse dropout on values)
  and the fused Adam that gcnkit's training uses (where the device has one).
- ``gcnkit``: ``gcnkit.nn.models.GCN`` as ``gcnkit train --seed-batch 1`` runs it: each pass
  computes the receptive field of the nodes it scores (the training pass the 2-hop upstream
  nodes of the training nodes, the validation pass those of the validation nodes), exactly the
  whole-graph epoch's numbers.
- ``gcnkit_whole``: the same on every node (``--whole-graph``, ``TrainConfig(receptive_field=False)``):
  the work PyG's contenders do.
- ``gcnkit_stacked`` (``--stacked-seeds S``, default 10; 0 leaves it out): ``S`` seeds' models
  trained together as one ``StackedGCN``, as ``gcnkit train`` and ``gcnkit ablate`` run them
  (each seed its own weights, dropout masks and Adam moments); its time per epoch is reported
  per seed (the epoch of all ``S`` divided by ``S``), the cost of a seed's epoch in a multi-seed
  run, which PyG runs one seed after another.

With ``--cuda-graph`` (on a CUDA ``--device``) two more: ``pyg_fastest+graph`` and
``gcnkit+graph``, the same epochs replayed as one CUDA graph each (``gcnkit.train.cuda_graph``;
capturable fused Adam; for gcnkit, ``gcnkit train --cuda-graph``); a contender whose capture
fails is reported with the reason.

Prints ms per epoch and the ratios, for 1 thread and for all threads, and writes JSON.

    python benchmarks/bench_kipf.py --root ../shared/datasets --out runs/bench_kipf.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_geometric


def pyg_model(in_channels, out_channels, cached, device="cpu", fused=False, capturable=False):
    from torch_geometric.nn import GCNConv

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GCNConv(in_channels, 16, cached=cached)
            self.conv2 = GCNConv(16, out_channels, cached=cached)

        def forward(self, x, edge_index):
            if x.layout == torch.sparse_csr:  # sparse dropout on the stored values
                x = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(),
                                            F.dropout(x.values(), 0.5, self.training), x.shape)
            else:
                x = F.dropout(x, 0.5, self.training)
            x = self.conv1(x, edge_index).relu()
            x = F.dropout(x, 0.5, self.training)
            return self.conv2(x, edge_index)

    net = Net().to(device)
    groups = [dict(params=list(net.conv1.parameters()), weight_decay=5e-4),
              dict(params=list(net.conv2.parameters()), weight_decay=0)]
    extra = {"capturable": True} if capturable else {}
    try:
        opt = torch.optim.Adam([dict(g) for g in groups], lr=0.01, fused=fused or None, **extra)
    except (RuntimeError, ValueError):  # no fused Adam for this device in this torch (the copies:
        # a refused fused Adam has already written fused=True into its groups)
        opt = torch.optim.Adam(groups, lr=0.01, **extra)
    return net, opt


def pyg_epoch(net, opt, x, graph, y, train_idx, val_idx, cuda_graph=False):
    """The usual PyG training loop (train step, then a validation pass); with ``cuda_graph`` the
    epoch's device part replayed as one CUDA graph."""
    y_tr, y_va = y[train_idx], y[val_idx]

    def on_device():
        net.train()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x, graph)[train_idx], y_tr)
        loss.backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            return F.cross_entropy(net(x, graph)[val_idx], y_va)

    if cuda_graph:
        from gcnkit.train.cuda_graph import graphed

        on_device = graphed(on_device, device=y.device)
    return lambda: float(on_device())


def contenders(data, device="cpu", cuda_graph=False, stacked_seeds=0):
    from gcnkit.train.node_classification import (PreparedData, TrainConfig, build_model, make_epoch,
                                                  make_optimizer)

    x = data.x / data.x.sum(-1, keepdim=True).clamp(min=1)  # row-normalized, as NormalizedGraph
    y, tr, va = data.y, data.train_mask.nonzero().view(-1), data.val_mask.nonzero().view(-1)
    y, tr, va, ei = y.to(device), tr.to(device), va.to(device), data.edge_index.to(device)
    c = int(data.y.max()) + 1
    out = {}
    net, opt = pyg_model(x.size(1), c, cached=False, device=device)
    out["pyg_example"] = pyg_epoch(net, opt, x.to(device), ei, y, tr, va)
    net, opt = pyg_model(x.size(1), c, cached=True, device=device, fused=True)  # gcnkit's Adam too
    out["pyg_fastest"] = pyg_epoch(net, opt, x.to_sparse_csr().to(device), ei, y, tr, va)
    cfg = TrainConfig(device=device)
    prepared = PreparedData(data, cfg)
    model = build_model(prepared, cfg)
    out["gcnkit"] = make_epoch(model, make_optimizer(model, cfg), prepared, cfg)  # as `gcnkit train` runs it
    whole = TrainConfig(device=device, receptive_field=False)
    model = build_model(prepared, whole)
    out["gcnkit_whole"] = make_epoch(model, make_optimizer(model, whole), prepared, whole)
    if stacked_seeds:
        from gcnkit.nn.models import StackedGCN
        from gcnkit.train.seed_batch import make_stacked_epoch

        models = []
        for s in range(stacked_seeds):
            torch.manual_seed(s)
            models.append(build_model(prepared, cfg))
        stacked = StackedGCN(models)
        epoch = make_stacked_epoch(stacked, make_optimizer(stacked, cfg), prepared, cfg)
        gens = [torch.Generator(device=device).manual_seed(s) for s in range(stacked_seeds)]
        out["gcnkit_stacked"] = lambda: epoch(gens)
    failed = {}
    if cuda_graph:
        net, opt = pyg_model(x.size(1), c, cached=True, device=device, fused=True, capturable=True)
        out["pyg_fastest+graph"] = pyg_epoch(net, opt, x.to_sparse_csr().to(device), ei, y, tr, va, cuda_graph=True)
        cfg = TrainConfig(device=device, cuda_graph=True)
        model = build_model(prepared, cfg)
        out["gcnkit+graph"] = make_epoch(model, make_optimizer(model, cfg), prepared, cfg)
        for k in ("pyg_fastest+graph", "gcnkit+graph"):
            try:
                time_epochs(out[k], 5)  # the eager warm-up and the capture
            except RuntimeError as e:
                failed[k] = str(e).splitlines()[0][:300]
                del out[k]
                print(f"{k}: the capture failed: {failed[k]}", flush=True)
    return out, failed


def time_epochs(epoch, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t)
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None, help="data root (default $GCNKIT_DATA, else ./datasets)")
    p.add_argument("--datasets", nargs="+", default=["Cora", "CiteSeer"])
    p.add_argument("--epochs", type=int, default=100, help="timed epochs per round (default 100)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median is reported")
    p.add_argument("--threads", nargs="+", type=int, default=[1, os.cpu_count() or 1])
    p.add_argument("--device", default="cpu", help="torch device for all contenders (default cpu); each "
                   "epoch ends in a host read of the validation loss, so wall-clock times are complete")
    p.add_argument("--cuda-graph", action="store_true", help="also time PyG at its fastest and gcnkit with "
                   "each epoch replayed as one CUDA graph (CUDA devices only)")
    p.add_argument("--stacked-seeds", type=int, default=10, help="seeds of the gcnkit_stacked contender (default "
                   "10; 0 leaves it out)")
    p.add_argument("--out", default="runs/bench_kipf.json", help="JSON output (default runs/bench_kipf.json)")
    args = p.parse_args(argv)
    if args.cuda_graph and not str(args.device).startswith("cuda"):
        p.error("--cuda-graph needs a CUDA --device")
    from gcnkit.data import load_dataset

    results = []
    for name in args.datasets:
        data = load_dataset(name, args.root)
        for threads in args.threads:
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            fns, failed = contenders(data, args.device, args.cuda_graph, args.stacked_seeds)
            for fn in fns.values():  # warm-up (caches, allocator, PyG's cached normalization)
                time_epochs(fn, 10)
            per = {k: [] for k in fns}
            for _ in range(args.rounds):
                for k, fn in fns.items():
                    n = max(3, args.epochs // 10) if k in ("pyg_example", "gcnkit_stacked") else args.epochs
                    per[k].append(1000 * statistics.median(time_epochs(fn, n)))
            ms = {k: statistics.median(v) for k, v in per.items()}
            if "gcnkit_stacked" in ms:  # per seed
                ms["gcnkit_stacked"] /= args.stacked_seeds
            row = {"dataset": name, "device": args.device, "threads": threads, **{f"{k}_ms": v for k, v in ms.items()},
                   "speedup_vs_pyg_example": ms["pyg_example"] / ms["gcnkit"],
                   "speedup_vs_pyg_fastest": ms["pyg_fastest"] / ms["gcnkit"],
                   "whole_speedup_vs_pyg_example": ms["pyg_example"] / ms["gcnkit_whole"],
                   "whole_speedup_vs_pyg_fastest": ms["pyg_fastest"] / ms["gcnkit_whole"]}
            if "gcnkit_stacked" in ms:
                row["stacked_seeds"] = args.stacked_seeds
                row["stacked_speedup_vs_pyg_fastest"] = ms["pyg_fastest"] / ms["gcnkit_stacked"]
            if args.cuda_graph:
                best_peer = min(v for k, v in ms.items() if k.startswith("pyg_fastest"))
                row["capture_failed"] = failed
                row["graph_speedup_vs_pyg_fastest"] = (best_peer / ms["gcnkit+graph"]
                                                       if "gcnkit+graph" in ms else None)
                print(f"{name:9s} {args.device} CUDA graphs: " + ", ".join(
                    f"{k} {ms[k]:6.2f} ms" for k in ("pyg_fastest+graph", "gcnkit+graph") if k in ms)
                    + (f" | gcnkit+graph {row['graph_speedup_vs_pyg_fastest']:4.2f}x vs PyG's fastest of all"
                       if row["graph_speedup_vs_pyg_fastest"] else ""), flush=True)
            results.append(row)
            print(f"{name:9s} {args.device} threads={threads}: PyG example {ms['pyg_example']:8.2f} ms | PyG fastest "
                  f"{ms['pyg_fastest']:6.2f} ms | gcnkit {ms['gcnkit']:6.2f} ms | "
                  f"{row['speedup_vs_pyg_example']:6.1f}x vs example, {row['speedup_vs_pyg_fastest']:4.2f}x "
                  f"vs fastest | on every node {ms['gcnkit_whole']:6.2f} ms, "
                  f"{row['whole_speedup_vs_pyg_fastest']:4.2f}x vs fastest"
                  + (f" | gcnkit {args.stacked_seeds} seeds stacked {ms['gcnkit_stacked']:6.2f} ms per "
                                   f"seed, {row['stacked_speedup_vs_pyg_fastest']:4.2f}x vs fastest"
                                   if "gcnkit_stacked" in ms else ""), flush=True)
    meta = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "cpus": os.cpu_count(),
            "gpu": torch.cuda.get_device_name(torch.device(args.device)) if str(args.device).startswith("cuda")
            else None, "torch_geometric": torch_geometric.__version__,
            "torch": torch.__version__, "python": sys.version.split()[0],
            "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
