"""One layer in a user's own training loop: ``gcnkit.nn.KipfGCNConv`` against
``torch_geometric.nn.GCNConv`` given the same input, same process.

Each step is forward + backward of one layer (Cora features -> 16 channels, sum of outputs as the
loss), PyG with its default ``cached=False`` and with ``cached=True``, three ways of passing the
features:

- ``dense``: the SAME dense tensor every step (gcnkit converts it to CSR on its second use and
  keeps the conversion: that is where most of its lead comes from);
- ``dense_dropout``: a NEW dense tensor every step, ``F.dropout(x, 0.5)`` as PyG's GCN example
  feeds its first layer (no conversion is reused: dense ``X W`` on both sides);
- ``sparse_csr``: the same ``torch.sparse_csr`` tensor every step.

Nothing gcnkit-specific is precomputed by the caller; gcnkit's graph cache and feature cache do
the work. Contenders take turns in every round (median over rounds).

    python benchmarks/bench_layer.py --root ../shared/datasets
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch


def timed_interleaved(steps, n):
    """Median ms per call of each step; the contenders take turns in every round."""
    for step in steps.values():
        for _ in range(5):
            step()
    ts = {name: [] for name in steps}
    for _ in range(n):
        for name, step in steps.items():
            t = time.perf_counter()
            step()
            ts[name].append(time.perf_counter() - t)
    return {name: 1000 * statistics.median(v) for name, v in ts.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None)
    p.add_argument("--dataset", default="Cora")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/bench_layer.json", help="JSON output (default runs/bench_layer.json)")
    args = p.parse_args(argv)
    from torch_geometric.nn import GCNConv

    from gcnkit.data import load_dataset
    from gcnkit.nn import KipfGCNConv

    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, args.root)
    x = data.x / data.x.sum(-1, keepdim=True).clamp(min=1)
    xs = x.to_sparse_csr()
    inputs = {"dense": lambda: x, "dense_dropout": lambda: torch.nn.functional.dropout(x, 0.5),
              "sparse_csr": lambda: xs}
    rows = []
    for kind, feats in inputs.items():
        steps = {}
        for name, layer in [("pyg", GCNConv(x.size(1), 16)), ("pyg_cached", GCNConv(x.size(1), 16, cached=True)),
                            ("gcnkit", KipfGCNConv(x.size(1), 16))]:
            def step(layer=layer, feats=feats):
                layer.zero_grad(set_to_none=True)
                layer(feats(), data.edge_index).sum().backward()
            steps[name] = step
        ms = timed_interleaved(steps, args.steps if kind == "sparse_csr" else max(5, args.steps // 5))
        row = {"features": kind, **{f"{k}_ms": v for k, v in ms.items()},
               "speedup_vs_pyg": ms["pyg"] / ms["gcnkit"], "speedup_vs_pyg_cached": ms["pyg_cached"] / ms["gcnkit"]}
        rows.append(row)
        print(f"{args.dataset} {kind:13s} threads={args.threads}: PyG {ms['pyg']:7.2f} ms | PyG cached "
              f"{ms['pyg_cached']:7.2f} ms | gcnkit {ms['gcnkit']:6.2f} ms | {row['speedup_vs_pyg']:5.1f}x, "
              f"{row['speedup_vs_pyg_cached']:4.1f}x vs cached", flush=True)
    import platform
    from datetime import date

    out = {"machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                       "cpus": __import__("os").cpu_count(), "torch": torch.__version__},
           "date": date.today().isoformat(), "threads": args.threads, "steps": args.steps, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
