"""Speed of recurrent graph models: gcnkit against PyTorch Geometric Temporal, same process.

Same hidden size, same data, same training step (forward, MSE, backward, Adam step):

- **Chickenpox** (20 nodes, 4 lags as node features): one epoch = one long sequence of the first
  465 snapshots with the hidden state carried, hidden 32, a linear read-out per snapshot.
  PyG Temporal: a Python loop over snapshots, ``H = cell(x_t, edge_index, edge_weight, H)``
  (``TGCN``, ``GConvGRU(K=2)`` and ``GConvLSTM(K=2)``, which returns ``(H, C)``); ``TGCN`` as its
  examples use it (``cached=False``: the graph normalized at every snapshot) and at its fastest
  (``cached=True``). gcnkit: one
  call ``model(x, edge_index, edge_weight)`` over ``[1, 465, 20, 4]`` (``TGCN``, ``GConvGRU(K=1)``,
  ``GConvLSTM(K=1)`` with peepholes as PyG Temporal's: gcnkit's K is the polynomial degree).
- **Los-loop** (207 nodes): one training step on a batch of 32 windows of 12 steps, hidden 64,
  a linear read-out of the last state to the 3-step horizon. PyG Temporal: ``TGCN2(cached=True)``
  (its batched T-GCN), and ``GConvGRU(K=2)`` and ``GConvLSTM(K=2)`` as their snapshot API is
  used (over the 32 windows one by one) and batched (their ``ChebConv`` broadcasts over a batch
  axis when they are given ``[B, N, H]`` zero states; same outputs); gcnkit: one call over
  ``[32, 12, 207, 1]``. An epoch is 45 to 51 such batches (1439 to 1601 training windows).

Each row reports the peer's usual use (``pygt_s``, ``speedup``) and the peer at its fastest, the
faster of that and its fastest settings (``pygt_fastest_s``, ``speedup_fastest``).

TGCN is timed in two forms against the same PyG Temporal cell: ``tgcn_pygt`` is the model PyG
Temporal's ``TGCN``/``TGCN2`` compute (a GCN on x only, the state mixed in by linear maps;
gcnkit's ``TGCN(variant="pygt")``, where the GCN's weights and the gate's linear map on its output
are one product), the like-for-like comparison; ``tgcn`` is gcnkit's default, the paper's cell
(Â applied to ``[x, h]``), which does more work per step than the peer (two sparse products with
the state per step).

On Los-loop each gcnkit model's dense products are also timed alone (``floor/<model>``,
:func:`gemm_floor`): per recurrent map and per step with a state, its forward ``A W`` and the two
backward products, on preallocated tensors, nothing else. No implementation of the same
arithmetic does less, so the rows add ``gemm_floor_s``, ``gcnkit_over_floor`` (gcnkit's step over
its GEMMs) and ``speedup_bound`` / ``speedup_bound_fastest`` (the peer over the floor: the largest
speed-up any implementation could show on this machine without removing arithmetic).

Each is timed with 1 thread and with all threads (median of ``--repeat`` runs after a warm-up);
the script prints ratios and writes JSON. It also reports the peak memory of a truncated-BPTT
training step (k = 10) at T = 100 and T = 1000, against full BPTT: the peak bytes of tensors
saved for backward, each storage once and the inputs' and parameters' not at all (measured with
``torch.autograd.graph.saved_tensors_hooks``; on CUDA also
``torch.cuda.max_memory_allocated``).

With ``--cuda-graph`` (on a CUDA ``--device``) every contender but PyG Temporal's
window-by-window Los-loop loops is also timed with its training step replayed as one CUDA graph
(``gcnkit.train.cuda_graph.graphed``, Adam with ``capturable=True``): ``gcnkit_graph_s``,
``pygt_graph_s`` (the peer's fastest captured variant) and ``graph_speedup_vs_fastest`` (the
peer's fastest time of all, eager or captured, over gcnkit's captured step); a peer whose step
cannot be captured is listed under ``capture_failed`` with the reason.

PyG Temporal is imported lazily; when it (or its ``torch-sparse`` / ``torch-scatter``
dependencies) is missing, only gcnkit is timed and the output says so.

    python benchmarks/bench_temporal.py --root ../shared/datasets --out runs/bench_temporal.json
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
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pygt_loader import import_pygt, package_version, pygt_version, sources_digest  # noqa: E402
from temporal_memory import tbptt_memory  # noqa: E402,F401  (bench_temporal.tbptt_memory)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed_interleaved(steps: Dict[str, Callable[[], None]], repeat: int, device="cpu") -> Dict[str, float]:
    """Median seconds per call of each step; the contenders take turns within every round, so a
    machine that speeds up or slows down during the run does not favour either. On CUDA each
    step is timed up to the end of its last kernel."""
    for step in steps.values():
        step()  # warm-up (normalization caches, allocator)
    times: Dict[str, list] = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            _sync(device)
            t0 = time.perf_counter()
            step()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def train_step(params, loss_fn: Callable[[], torch.Tensor], cuda_graph: bool = False,
               device=None) -> Callable[[], None]:
    """A training step (forward, backward, Adam); with ``cuda_graph`` replayed as one CUDA graph
    after two eager calls."""
    opt = torch.optim.Adam(params, lr=0.01, **({"capturable": True} if cuda_graph else {}))

    def step():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss
    if not cuda_graph:
        return step
    from gcnkit.train.cuda_graph import graphed

    return graphed(step, warmup=2, device=device)


def _with_graphs(steps: Dict[str, tuple], cuda_graph: bool, device=None) -> Dict[str, Callable[[], None]]:
    """``name -> (params, loss_fn, module)`` as eager steps, and with ``cuda_graph`` also each as
    ``name+graph`` on its own copy of the module (the same initial weights)."""
    import copy

    out = {}
    for name, (module, loss_fn) in steps.items():
        if cuda_graph:
            twin = copy.deepcopy(module)
            out[name + "+graph"] = train_step(twin.parameters(), lambda m=twin, f=loss_fn: f(m), cuda_graph=True,
                                              device=device)
        out[name] = train_step(module.parameters(), lambda m=module, f=loss_fn: f(m))
    return out


# ---------------------------------------------------------------------------- contenders
MODELS = ("tgcn_pygt", "tgcn", "gconvgru", "gconvlstm")
#: gcnkit model -> the PyG Temporal contender it is compared with
PEER_OF = {"tgcn_pygt": "tgcn"}


def _pygt_step(cell, x, ei, ew, state):
    """One PyG Temporal cell call: ``H`` for the GRU cells, ``(H, C)`` for ``GConvLSTM``."""
    if state is None:
        return cell(x, ei, ew)
    return cell(x, ei, ew, *state) if isinstance(state, tuple) else cell(x, ei, ew, state)


def _hidden(state):
    return state[0] if isinstance(state, tuple) else state


def chickenpox_steps(data, pygt, hidden: int = 32, device="cpu", cuda_graph=False) -> Dict[str, Callable[[], None]]:
    from gcnkit.nn.models import TGCN, GConvGRU, GConvLSTM

    x, y, ei, ew = data  # x [T, N, lags], y [T, N]
    steps = {}
    f = x.size(-1)
    for name, model in (("tgcn_pygt", TGCN(f, hidden, out_channels=1, variant="pygt")),
                        ("tgcn", TGCN(f, hidden, out_channels=1)),
                        ("gconvgru", GConvGRU(f, hidden, out_channels=1, K=1)),
                        ("gconvlstm", GConvLSTM(f, hidden, out_channels=1, K=1))):
        steps[f"gcnkit/{name}"] = (model.to(device), lambda m: F.mse_loss(m(x[None], ei, ew)[0][0, ..., 0], y))
    if pygt is not None:
        # TGCN twice: as PyG Temporal's examples and the measurement use it (cached=False:
        # its three GCNConvs normalize the static graph at every snapshot), and at its fastest
        # (cached=True); GConvGRU/GConvLSTM have no cache (ChebConv normalizes per call)
        for name, cell in (("tgcn", pygt["TGCN"](f, hidden)), ("tgcn@fastest", pygt["TGCN"](f, hidden, cached=True)),
                           ("gconvgru", pygt["GConvGRU"](f, hidden, K=2)),
                           ("gconvlstm", pygt["GConvLSTM"](f, hidden, K=2))):
            pair = torch.nn.ModuleList([cell, torch.nn.Linear(hidden, 1)]).to(device)

            def loss(pair):
                cell, lin = pair
                state, cost = None, 0.0
                for t in range(x.size(0)):  # PyG Temporal's loop, the state carried
                    state = _pygt_step(cell, x[t], ei, ew, state)
                    cost = cost + F.mse_loss(lin(_hidden(state))[:, 0], y[t])
                return cost / x.size(0)
            steps[f"pygt/{name}"] = (pair, loss)
    return _with_graphs(steps, cuda_graph, device)


def losloop_steps(data, pygt, hidden: int = 64, device="cpu", cuda_graph=False) -> Dict[str, Callable[[], None]]:
    from gcnkit.nn.models import TGCN, GConvGRU, GConvLSTM

    x, y, ei, ew = data  # x [B, T, N, 1], y [B, N, horizon]
    horizon = y.size(-1)
    steps = {}
    for name, model in (("tgcn_pygt", TGCN(1, hidden, out_channels=horizon, variant="pygt")),
                        ("tgcn", TGCN(1, hidden, out_channels=horizon)),
                        ("gconvgru", GConvGRU(1, hidden, out_channels=horizon, K=1)),
                        ("gconvlstm", GConvLSTM(1, hidden, out_channels=horizon, K=1))):
        steps[f"gcnkit/{name}"] = (model.to(device), lambda m: F.mse_loss(m(x, ei, ew, return_sequence=False)[0], y))
    if pygt is not None:
        for name, cell in (("tgcn", pygt["TGCN2"](1, hidden, batch_size=x.size(0), cached=True)),
                           ("gconvgru", pygt["GConvGRU"](1, hidden, K=2)),
                           ("gconvgru@fastest", pygt["GConvGRU"](1, hidden, K=2)),
                           ("gconvlstm", pygt["GConvLSTM"](1, hidden, K=2)),
                           ("gconvlstm@fastest", pygt["GConvLSTM"](1, hidden, K=2))):
            pair = torch.nn.ModuleList([cell, torch.nn.Linear(hidden, horizon)]).to(device)

            def loss(pair, batched=name == "tgcn", states=name.endswith("@fastest"),
                     lstm=name.startswith("gconvlstm")):
                cell, lin = pair
                if batched:  # TGCN2 takes [B, N, F]
                    h = None
                    for t in range(x.size(1)):
                        h = cell(x[:, t], ei, ew, h)
                    return F.mse_loss(lin(h), y)
                if states:  # their ChebConv broadcasts over a batch axis; only the default zero
                    # state is 2-D, so pass [B, N, H] zero states (the same outputs as the loop)
                    zero = x.new_zeros(x.size(0), x.size(2), hidden)
                    state = (zero, zero.clone()) if lstm else zero
                    for t in range(x.size(1)):
                        state = _pygt_step(cell, x[:, t], ei, ew, state)
                    return F.mse_loss(lin(_hidden(state)), y)
                hs = []  # the usual use: one window at a time ([N, F] snapshots, 2-D default state)
                for b in range(x.size(0)):
                    state = None
                    for t in range(x.size(1)):
                        state = _pygt_step(cell, x[b, t], ei, ew, state)
                    hs.append(_hidden(state))
                return F.mse_loss(lin(torch.stack(hs)), y)
            steps[f"pygt/{name}"] = (pair, loss)
    # each model's dense products alone, timed beside the contenders (see gemm_floor)
    floors = {"floor/" + name.split("/", 1)[1]: gemm_floor(model.cell, rows=x.size(0) * x.size(2),
                                                           steps=x.size(1) - 1, device=device)
              for name, (model, _) in steps.items() if name.startswith("gcnkit/")}
    if cuda_graph:  # the peers' one-window-at-a-time loops are not worth capturing
        return {k: v for k, v in _with_graphs(steps, True, device).items()
                if not (k.startswith("pygt/gconv") and k.endswith("+graph") and "@fastest" not in k)} | floors
    return _with_graphs(steps, False) | floors


def recurrent_gemms(cell: torch.nn.Module):
    """``(K, N)`` of each recurrent map's dense product ``[M, K] x [K, N]``: its 2-D weights' input
    widths summed (a Chebyshev map multiplies the basis ``[h, L h, ...]``), by their output width."""
    shapes = []
    for name, child in cell.named_children():
        weights = [w for w in child.parameters() if w.dim() == 2]
        if name != "input_map" and weights:
            shapes.append((sum(w.size(1) for w in weights), weights[0].size(0)))
    return shapes


def gemm_floor(cell: torch.nn.Module, rows: int, steps: int, device="cpu") -> Callable[[], None]:
    """The dense products that any implementation of ``cell`` computes in one training step, and
    nothing else: per recurrent map and per step with a state (the first step's zero state needs
    none), the forward ``A W``, and backward ``G W^T`` and ``A^T G``, on preallocated tensors
    already in memory (no allocation, no sparse product, no gate arithmetic). Its time is a lower
    bound of a training step on this machine, so ``peer / floor`` bounds the speed-up any
    implementation of the same arithmetic could show against the peer."""
    g = torch.Generator(device=device).manual_seed(0)
    mats = []
    for k, n in recurrent_gemms(cell):
        a, w, grad = (torch.randn(*s, generator=g, device=device) for s in ((rows, k), (k, n), (rows, n)))
        mats.append((a, w, grad, torch.empty(rows, n, device=device), torch.empty(rows, k, device=device),
                     torch.empty(k, n, device=device)))

    def step():
        for _ in range(steps):
            for a, w, grad, out, grad_a, grad_w in mats:
                torch.mm(a, w, out=out)
                torch.mm(grad, w.t(), out=grad_a)
                torch.mm(a.t(), grad, out=grad_w)
    return step


# ---------------------------------------------------------------------------- main
def load(root: Optional[str], device="cpu"):
    from gcnkit.data import load_temporal, make_windows, node_lag_features

    cp = load_temporal("chickenpox", root)
    x, y = node_lag_features(cp.series, lags=4)
    chick = (x[:465], y[:465], cp.edge_index, cp.edge_weight)
    los = load_temporal("losloop", root)
    xw, yw = make_windows(los.series / los.series.max(), lags=12, horizon=3)
    losd = (xw[:32], yw[:32].permute(0, 2, 1).contiguous(), los.edge_index, los.edge_weight)
    return tuple(t.to(device) for t in chick), tuple(t.to(device) for t in losd)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None, help="data root (default $GCNKIT_DATA, else ./datasets)")
    p.add_argument("--out", default="runs/bench_temporal.json", help="JSON output")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per contender (median)")
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="thread counts to time (default: 1 and all)")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--device", default="cpu", help="torch device for every contender (default cpu)")
    p.add_argument("--pygt-src", default=None, help="a folder with copies of PyG Temporal's temporalgcn.py, "
                   "gconv_gru.py and gconv_lstm.py, where the package itself cannot be installed")
    p.add_argument("--cuda-graph", action="store_true", help="also time every contender with its training "
                   "step replayed as one CUDA graph (CUDA devices only)")
    args = p.parse_args(argv)
    if args.cuda_graph and not str(args.device).startswith("cuda"):
        p.error("--cuda-graph needs a CUDA --device")

    pygt, reason = import_pygt(args.pygt_src)
    if pygt is None and args.pygt_src is not None:  # asked for explicitly: no silent gcnkit-only run
        raise SystemExit(f"--pygt-src {args.pygt_src}: PyG Temporal's files could not be loaded ({reason})")
    if pygt is None:
        print(f"PyTorch Geometric Temporal is NOT available ({reason}); timing gcnkit only, no ratios.")
    elif reason:
        print(f"PyTorch Geometric Temporal: {reason}")
    all_threads = torch.get_num_threads()
    threads = args.threads or sorted({1, all_threads})
    chick, los = load(args.root, args.device)
    results = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                           "cpus": os.cpu_count(), "torch": torch.__version__, "device": args.device,
                           "gpu": torch.cuda.get_device_name(torch.device(args.device))
                           if args.device.startswith("cuda") else None,
                           "torch_geometric": package_version("torch_geometric"),
                           "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                           "pygt_src_sha256": None if args.pygt_src is None else sources_digest(args.pygt_src),
                           "pygt": None if pygt is None
                           else ("files from --pygt-src" if args.pygt_src else pygt_version()),
                           "pygt_note": reason},
               "timings": [], "memory": []}
    for n in threads:
        torch.set_num_threads(n)
        for dataset, data, make, unit in (("chickenpox", chick, chickenpox_steps, "epoch (465 snapshots)"),
                                          ("losloop", los, losloop_steps, "batch (32 windows x 12 steps)")):
            torch.manual_seed(0)
            steps = make(data, pygt, device=args.device, cuda_graph=args.cuda_graph)
            failed = {}
            for name in [k for k in steps if k.endswith("+graph")]:
                try:
                    for _ in range(3):  # two eager calls, then the capture and its first replay
                        steps[name]()
                except RuntimeError as e:
                    failed[name] = str(e).splitlines()[0][:300]
                    del steps[name]
                    print(f"{name}: the capture failed: {failed[name]}", flush=True)
            times = timed_interleaved(steps, args.repeat, args.device)
            for model in MODELS:
                peer_name = f"pygt/{PEER_OF.get(model, model)}"
                ours, peer = times[f"gcnkit/{model}"], times.get(peer_name)
                # the peer at its fastest: the faster of its usual use and its fastest settings
                fastest = min((t for t in (peer, times.get(peer_name + "@fastest")) if t is not None), default=None)
                row = {"dataset": dataset, "model": model, "device": args.device, "threads": n, "unit": unit,
                       "gcnkit_s": ours, "pygt_s": peer, "speedup": None if peer is None else peer / ours,
                       "pygt_fastest_s": fastest, "speedup_fastest": None if fastest is None else fastest / ours}
                floor = times.get(f"floor/{model}")
                if floor is not None:  # the GEMMs alone: what no implementation of the model avoids
                    row.update(gemm_floor_s=floor, gcnkit_over_floor=ours / floor,
                               speedup_bound=None if peer is None else peer / floor,
                               speedup_bound_fastest=None if fastest is None else fastest / floor)
                if args.cuda_graph:
                    peer_all = [t for k, t in times.items() if k.split("+")[0].split("@")[0] == peer_name]
                    peer_graph = [t for k, t in times.items()
                                  if k.endswith("+graph") and k.split("+")[0].split("@")[0] == peer_name]
                    ours_g = times.get(f"gcnkit/{model}+graph")
                    row.update(gcnkit_graph_s=ours_g, pygt_graph_s=min(peer_graph, default=None),
                               graph_speedup_vs_fastest=min(peer_all) / ours_g if peer_all and ours_g else None,
                               capture_failed={k: v for k, v in failed.items()
                                               if k.split("+")[0].split("@")[0] in (peer_name, f"gcnkit/{model}")})
                results["timings"].append(row)
                peer_txt = "n/a" if peer is None else (f"{peer * 1000:8.1f} ms  speed-up x{peer / ours:5.1f}; at its "
                                                       f"fastest {fastest * 1000:8.1f} ms  x{fastest / ours:5.1f}")
                print(f"[{args.device} {n} thr] {dataset:10s} {model:9s} per {unit}: gcnkit {ours * 1000:8.1f} ms, "
                      f"PyG Temporal {peer_txt}", flush=True)
                if floor is not None:
                    bound = "" if peer is None else (f"; no implementation of these products beats the peer by "
                                                     f"more than x{peer / floor:5.1f} (x{fastest / floor:5.1f} "
                                                     f"at its fastest)")
                    print(f"    its GEMMs alone {floor * 1000:8.1f} ms ({ours / floor:4.2f}x of them in gcnkit's "
                          f"step){bound}", flush=True)
                if args.cuda_graph and row["gcnkit_graph_s"]:
                    pg = row["pygt_graph_s"]
                    print(f"    CUDA graphs: gcnkit {row['gcnkit_graph_s'] * 1000:8.1f} ms, PyG Temporal "
                          f"{'not capturable' if pg is None else f'{pg * 1000:8.1f} ms'}"
                          + (f"; x{row['graph_speedup_vs_fastest']:5.1f} vs the peer's fastest of all"
                             if row["graph_speedup_vs_fastest"] else ""), flush=True)
    torch.set_num_threads(all_threads)
    if not args.skip_memory:
        for T in (100, 1000):
            for k in (10, None):
                r = tbptt_memory(T, k, device=args.device)
                results["memory"].append(r)
                cuda = f", device peak {r['cuda_peak_mib']:8.2f} MiB" if "cuda_peak_mib" in r else ""
                print(f"memory: T={T:5d} {'TBPTT k=10' if k else 'full BPTT '}: saved tensors peak "
                      f"{r['saved_tensor_peak_mib']:8.2f} MiB{cuda}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
