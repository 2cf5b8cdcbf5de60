"""One layer in a user's own training loop: ``gcnkit.nn.KipfGCNConv`` against
``torch_geometric.nn.GCNConv`` given the same input, same process.

Each step is forward + backward of one layer (Cora features -> 16 channels, sum of outputs as the
loss) with the SAME tensors every step, as a user's loop passes them: dense features and sparse CSR
features, PyG with its default ``cached=False`` and with ``cached=True``. Nothing gcnkit-specific is
precomputed by the caller; gcnkit's graph cache and feature cache do the work.

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


def timed(step, n):
    for _ in range(10):
        step()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t)
    return 1000 * statistics.median(ts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None)
    p.add_argument("--dataset", default="Cora")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/layer.json")
    args = p.parse_args(argv)
    from torch_geometric.nn import GCNConv

    from gcnkit.data import load_dataset
    from gcnkit.nn import KipfGCNConv

    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, args.root)
    x = data.x / data.x.sum(-1, keepdim=True).clamp(min=1)
    inputs = {"dense": x, "sparse_csr": x.to_sparse_csr()}
    rows = []
    for kind, feats in inputs.items():
        ms = {}
        for name, layer in [("pyg", GCNConv(x.size(1), 16)), ("pyg_cached", GCNConv(x.size(1), 16, cached=True)),
                            ("gcnkit", KipfGCNConv(x.size(1), 16))]:
            def step(layer=layer):
                layer.zero_grad(set_to_none=True)
                layer(feats, data.edge_index).sum().backward()
            ms[name] = timed(step, args.steps if kind == "sparse_csr" else max(5, args.steps // 5))
        row = {"features": kind, **{f"{k}_ms": v for k, v in ms.items()},
               "speedup_vs_pyg": ms["pyg"] / ms["gcnkit"], "speedup_vs_pyg_cached": ms["pyg_cached"] / ms["gcnkit"]}
        rows.append(row)
        print(f"{args.dataset} {kind:10s} threads={args.threads}: PyG {ms['pyg']:7.2f} ms | PyG cached "
              f"{ms['pyg_cached']:7.2f} ms | gcnkit {ms['gcnkit']:6.2f} ms | {row['speedup_vs_pyg']:5.1f}x, "
              f"{row['speedup_vs_pyg_cached']:4.1f}x vs cached", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
