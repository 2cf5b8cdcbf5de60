"""Smoke tests of the benchmark scripts on tiny data: they build every contender, each step runs,
and bad options fail clearly (the timings themselves are not tested)."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_kipf  # noqa: E402
import bench_temporal  # noqa: E402


def test_kipf_contenders_train_on_a_tiny_graph(single_thread):
    from gcnkit.data import load_dataset

    fns, failed = bench_kipf.contenders(load_dataset("karate"))
    assert set(fns) == {"pyg_example", "pyg_fastest", "gcnkit", "gcnkit_whole"} and failed == {}
    for name, epoch in fns.items():
        losses = [epoch() for _ in range(3)]
        assert all(0 < v < 10 for v in losses), name  # validation losses as floats
    assert len(bench_kipf.time_epochs(fns["gcnkit"], 2)) == 2
    fns, _ = bench_kipf.contenders(load_dataset("karate"), stacked_seeds=3)
    losses = fns["gcnkit_stacked"]()  # three seeds' epoch: their validation losses
    assert len(losses) == 3 and all(0 < v < 10 for v in losses)


def test_temporal_steps_run_without_the_peer(single_thread):
    g = torch.Generator().manual_seed(0)
    n = 5
    ei = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    ew = torch.rand(n, generator=g)
    chick = (torch.randn(6, n, 4, generator=g), torch.randn(6, n, generator=g), ei, ew)
    los = (torch.randn(2, 3, n, 1, generator=g), torch.randn(2, n, 3, generator=g), ei, ew)
    steps = {**bench_temporal.chickenpox_steps(chick, None, hidden=4),
             **{"los/" + k: v for k, v in bench_temporal.losloop_steps(los, None, hidden=4).items()}}
    # each model's step, and on Los-loop also its GEMMs alone
    assert len(steps) == 3 * len(bench_temporal.MODELS)
    assert {k for k in steps if "floor/" in k} == {f"los/floor/{m}" for m in bench_temporal.MODELS}
    times = bench_temporal.timed_interleaved(steps, repeat=1)
    assert set(times) == set(steps) and all(t > 0 for t in times.values())
    mem = bench_temporal.tbptt_memory(20, 5, N=n, hidden=4)
    assert mem["saved_tensor_peak_mib"] > 0 and "cuda_peak_mib" not in mem


def test_the_gemm_floor_multiplies_each_recurrent_map_as_the_model_does():
    from gcnkit.nn.models import TGCN, GConvGRU, GConvLSTM

    # [M, K] x [K, N] per recurrent map: K the state's basis width ([h] or [h, L h, ...]), N the gates'
    assert bench_temporal.recurrent_gemms(TGCN(1, 8).cell) == [(8, 16), (8, 8)]
    assert bench_temporal.recurrent_gemms(TGCN(1, 8, variant="pygt").cell) == [(8, 16), (8, 8)]
    assert bench_temporal.recurrent_gemms(GConvGRU(1, 8, K=2).cell) == [(24, 16), (24, 8)]
    assert bench_temporal.recurrent_gemms(GConvLSTM(1, 8, K=1).cell) == [(16, 32)]
    calls = []
    real_mm = torch.mm

    def mm(a, b, *, out):
        calls.append((tuple(a.shape), tuple(b.shape)))
        return real_mm(a, b, out=out)
    floor = bench_temporal.gemm_floor(GConvGRU(1, 8, K=1).cell, rows=10, steps=3)
    torch.mm = mm
    try:
        floor()
    finally:
        torch.mm = real_mm
    per_step = [((10, 16), (16, 16)), ((10, 16), (16, 16)), ((16, 10), (10, 16)),  # gates: A W, G W^T, A^T G
                ((10, 16), (16, 8)), ((10, 8), (8, 16)), ((16, 10), (10, 8))]  # candidate
    assert calls == per_step * 3


def test_a_pygt_source_folder_that_does_not_load_is_an_error(tmp_path):
    classes, reason = bench_temporal.import_pygt(str(tmp_path))
    assert classes is None and "temporalgcn.py" in reason
    with pytest.raises(SystemExit, match="--pygt-src"):
        bench_temporal.main(["--pygt-src", str(tmp_path), "--out", str(tmp_path / "out.json")])


def test_cuda_graph_options_need_a_cuda_device(tmp_path):
    with pytest.raises(SystemExit):
        bench_kipf.main(["--cuda-graph", "--out", str(tmp_path / "k.json")])
    with pytest.raises(SystemExit):
        bench_temporal.main(["--cuda-graph", "--out", str(tmp_path / "t.json")])


@pytest.mark.gpu
def test_graphed_contenders_on_cuda():
    from gcnkit.data import load_dataset

    fns, failed = bench_kipf.contenders(load_dataset("karate"), "cuda", cuda_graph=True)
    assert "gcnkit+graph" in fns, failed
    assert all(0 < fns["gcnkit+graph"]() < 10 for _ in range(3))


def test_the_saved_tensor_peak_counts_each_storage_once_and_not_the_callers():
    # a tensor saved by several autograd nodes was counted at every save (the TBPTT numbers were
    # 1.65x too high), and a chunk of the input, a view of the whole sequence, not at all as held
    from temporal_memory import SavedTensorPeak

    x = torch.randn(1000, 64)  # 250 KiB, held by the caller
    w = torch.randn(64, 64, requires_grad=True)
    with SavedTensorPeak(held=[x, w]) as mem:
        h = torch.tanh(x[:10] @ w)  # saves a view of x (held), w (held) and h (10 x 64)
        out = (h * h).sum()  # saves h twice: one storage
        assert mem.current == h.untyped_storage().nbytes() == 10 * 64 * 4
        out.backward()
    assert mem.peak == 10 * 64 * 4 and mem.current == 0
    with SavedTensorPeak() as whole:
        (x[:10] @ w).sum().backward()
    assert whole.peak == x.untyped_storage().nbytes()  # not held: the whole storage of the view saved
