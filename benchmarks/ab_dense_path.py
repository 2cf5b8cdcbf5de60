"""A/B of the dense path for small products (``gcnkit.functional.spmm._DENSE_MAX_MACS``): gcnkit's
Chickenpox training epochs (465 snapshots, hidden 32, as in ``bench_temporal.py``) with the path
off (every product through the CSR kernel) and on, taking turns in every round, 1 thread.

    python benchmarks/ab_dense_path.py --root ../shared/datasets --out benchmarks/results/ab_dense_path.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    import bench_temporal

    import gcnkit.functional.spmm as spmm

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--out", default="runs/ab_dense_path.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    chick, _ = bench_temporal.load(args.root)
    on = spmm._DENSE_MAX_MACS
    steps = {}
    for mode, limit in (("csr", 0), ("dense", on)):
        spmm._DENSE_MAX_MACS = limit
        torch.manual_seed(0)
        for name, step in bench_temporal.chickenpox_steps(chick, None).items():
            steps[name, mode] = (limit, step)
    times = {key: [] for key in steps}
    for r in range(args.rounds + 1):  # round 0 warms up
        for key, (limit, step) in steps.items():
            spmm._DENSE_MAX_MACS = limit
            t0 = time.perf_counter()
            step()
            if r:
                times[key].append(1000 * (time.perf_counter() - t0))
    spmm._DENSE_MAX_MACS = on
    rows = []
    for name in dict.fromkeys(n for n, _ in steps):
        csr, dense = statistics.median(times[name, "csr"]), statistics.median(times[name, "dense"])
        rows.append({"model": name, "csr_ms": csr, "dense_ms": dense, "ratio": csr / dense,
                     "csr_all_ms": times[name, "csr"], "dense_all_ms": times[name, "dense"]})
        print(f"{name:20s} CSR {csr:7.1f} ms  dense {dense:7.1f} ms  x{csr / dense:4.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "threads": 1,
                                          "torch": torch.__version__, "rounds": args.rounds, "rows": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
