"""Kipf's protocol and the forecasting loop on CUDA: same results as on the CPU where the
arithmetic allows, data kept on the device, one host synchronisation per epoch (the validation
loss early stopping reads). Skipped without CUDA."""
import math

import pytest
import torch

from gcnkit.functional.sparse import CSRMatrix
from gcnkit.train.node_classification import (TrainConfig, build_model, make_epoch, make_optimizer, summarize,
                                              train_once)
from gcnkit.train.runner import prepare
from gcnkit.train.temporal import TemporalConfig, prepare_data, train_temporal

from test_temporal import _signal  # noqa: E402  (tests/train/test_temporal.py)

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cora_cuda(shared_data_root):
    return prepare("cora", TrainConfig(device="cuda"), str(shared_data_root))


def test_kipf_on_cuda_reaches_the_papers_accuracy(cora_cuda):
    assert isinstance(cora_cuda.x, CSRMatrix) and cora_cuda.x.value.device.type == "cuda"
    assert cora_cuda.train_idx.device.type == "cuda"
    cfg = TrainConfig(device="cuda")
    results = [train_once(cora_cuda, cfg, s) for s in range(5)]
    s = summarize(results)
    assert s["test_acc_mean"] >= 79.5, s
    assert all(1 <= r.epochs <= 200 for r in results)


@pytest.mark.parametrize("model", ["kipf", "cheb2"])
def test_seed_batched_runs_on_cuda_are_the_lone_runs(cora_cuda, model):
    # the stacked model's dropout masks come from per-seed CUDA generators seeded as torch.manual_seed
    # seeds the default one: the same masks, so the same runs (to float rounding)
    from gcnkit.train.seed_batch import train_seeds

    cfg = TrainConfig(device="cuda", model=model, epochs=60)
    batched = train_seeds(cora_cuda, cfg, [0, 1, 2])
    for a, b in zip((train_once(cora_cuda, cfg, s) for s in range(3)), batched):
        assert a.epochs == b.epochs and abs(a.test_acc - b.test_acc) <= 0.3, (a, b)


def test_kipf_on_cuda_syncs_once_per_epoch(cora_cuda, cuda_syncs):
    cfg = TrainConfig(device="cuda")
    torch.manual_seed(0)
    model = build_model(cora_cuda, cfg)
    epoch = make_epoch(model, make_optimizer(model, cfg), cora_cuda, cfg)
    for _ in range(3):
        epoch()  # warm-up
    losses = []
    syncs = cuda_syncs(lambda: losses.extend(epoch() for _ in range(10)))
    assert len(syncs) == 10, syncs  # the float() of each epoch's validation loss, nothing else
    assert all(math.isfinite(v) for v in losses)


@pytest.mark.parametrize("model, dataset", [("tgcn", "losloop"), ("gconvgru", "chickenpox")])
def test_forecasting_on_cuda_equals_cpu(model, dataset):
    # no dropout and the shuffling from a CPU generator: CUDA must give the CPU's numbers
    results = {}
    for device in ("cpu", "cuda"):
        cfg = TemporalConfig(dataset=dataset, model=model, lags=4, horizon=1, hidden=8, epochs=3, lr=0.01,
                             batch_size=8 if dataset == "losloop" else None, progress=False, val_ratio=0.2,
                             device=device)
        torch.manual_seed(0)
        results[device] = train_temporal(cfg, data=prepare_data(cfg.resolved(), signal=_signal()))
    cpu, cuda = results["cpu"], results["cuda"]
    assert cuda.best_epoch == cpu.best_epoch
    for key, value in cpu.metrics.items():
        assert cuda.metrics[key] == pytest.approx(value, rel=1e-3, abs=1e-4), key


_GRAPHED_CASES = [  # both protocols; schedule, clipping and truncated BPTT inside the replays
    dict(dataset="losloop", model="tgcn", batch_size=8, lr_schedule="cosine", clip=1.0),
    dict(dataset="chickenpox", model="gconvgru"),
    dict(dataset="chickenpox", model="tgcn", tbptt=5, clip=0.5, lr_schedule="cosine"),
]


def _forecast(cuda_graph, epochs=7, **kwargs):
    cfg = TemporalConfig(lags=4, horizon=1, hidden=8, epochs=epochs, lr=0.01, progress=False, val_ratio=0.2,
                         device="cuda", cuda_graph=cuda_graph, **kwargs)
    torch.manual_seed(0)
    return cfg, lambda **kw: train_temporal(cfg, data=prepare_data(cfg.resolved(), signal=_signal()), **kw)


@pytest.mark.parametrize("case", _GRAPHED_CASES, ids=lambda c: f"{c['dataset']}-{c['model']}")
def test_graphed_forecasting_equals_eager(case, recwarn):
    # 3 eager epochs, the capture, then replays: every epoch's training loss and validation RMSE
    # (its own graph) are the eager run's, and so are the chosen epoch and the test metrics
    eager = _forecast(False, **case)[1]()
    graphed = _forecast(True, **case)[1]()
    # the warm-ups step the capturable Adam outside a capture: torch's warning about it is not shown
    assert not [w for w in recwarn if "capturable=True" in str(w.message)]
    assert graphed.epochs == eager.epochs == 7
    for key in ("train_loss", "val_rmse"):
        assert [r[key] for r in graphed.history] == pytest.approx([r[key] for r in eager.history], rel=1e-4), key
    assert graphed.best_epoch == eager.best_epoch
    for key, value in eager.metrics.items():
        assert graphed.metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_graphed_forecasting_resumes_an_eager_checkpoint(tmp_path):
    case = _GRAPHED_CASES[0]
    whole = _forecast(True, epochs=10, **case)[1]()

    def stop_at_4(record):
        if record["epoch"] == 4:
            raise KeyboardInterrupt

    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        _forecast(False, epochs=10, **case)[1](checkpoint=ckpt, on_epoch=stop_at_4)  # eager epochs 1-4
    # graphed 5-10: 3 eager warm-ups, the capture (an eager checkpoint's Adam was not capturable:
    # the capture failed before restore_optimizer made it so), replays
    resumed = _forecast(True, epochs=10, **case)[1](checkpoint=ckpt)
    assert resumed.epochs == 10
    assert [r["train_loss"] for r in resumed.history] == pytest.approx(
        [r["train_loss"] for r in whole.history], rel=1e-4)
    assert resumed.best_epoch == whole.best_epoch
    assert resumed.metrics["rmse"] == pytest.approx(whole.metrics["rmse"], rel=1e-4)


def test_temporal_cli_with_cuda_graph(tmp_path, shared_data_root, capsys):
    import json

    from gcnkit.cli.main import main

    code = main(["temporal", "--dataset", "chickenpox", "--model", "gconvgru", "--device", "cuda", "--cuda-graph",
                 "--epochs", "6", "--hidden", "8", "--root", str(shared_data_root), "--out", str(tmp_path / "o"),
                 "--no-progress", "--json"])
    out = json.loads(capsys.readouterr().out.strip())
    assert code == 0 and out["epochs"] == 6 and math.isfinite(out["mse"])
    assert json.loads((tmp_path / "o" / "config.json").read_text())["cuda_graph"] is True
