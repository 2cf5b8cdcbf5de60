"""The steps of a forecasting run: the learning rate a CUDA graph reads follows the eager
schedule, and checkpoints pass between eager and graphed runs (the GPU side is in
test_cuda_training.py)."""
import math
from types import SimpleNamespace

import pytest
import torch

from gcnkit.train.temporal_epoch import make_schedule, restore_optimizer

# the optimizers here never step: only their learning rates are looked at
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")


def _cfg(cuda_graph, epochs=7):
    return SimpleNamespace(cuda_graph=cuda_graph, device="cpu", lr_schedule="cosine", epochs=epochs, lr=0.01)


def _adam(lr, capturable=False):
    return torch.optim.Adam([torch.nn.Parameter(torch.ones(3))], lr=lr, capturable=capturable)


def _stepped(opt):
    opt.param_groups[0]["params"][0].grad = torch.ones(3)
    opt.step()
    return opt


def test_the_device_learning_rate_follows_the_eager_schedule():
    eager_opt, graph_opt = _adam(0.01), _adam(torch.tensor(0.01))
    eager, graphed = make_schedule(eager_opt, _cfg(False)), make_schedule(graph_opt, _cfg(True))
    lr_tensor = graph_opt.param_groups[0]["lr"]
    for _ in range(7):
        eager.step()
        graphed.step()
        # the same tensor (a captured step keeps its address), holding the eager float
        assert graph_opt.param_groups[0]["lr"] is lr_tensor
        assert lr_tensor.item() == pytest.approx(eager_opt.param_groups[0]["lr"], rel=1e-7, abs=1e-12)
    assert lr_tensor.item() < 1e-6  # the cosine reached its end


def test_schedule_state_restores_into_either_kind():
    eager_opt = _adam(0.01)
    eager = make_schedule(eager_opt, _cfg(False))
    for _ in range(3):
        eager.step()
    graph_opt = _adam(torch.tensor(0.01))
    graphed = make_schedule(graph_opt, _cfg(True))
    graphed.load_state_dict(eager.state_dict())
    assert graph_opt.param_groups[0]["lr"].item() == pytest.approx(eager_opt.param_groups[0]["lr"], rel=1e-7)
    eager.step()
    graphed.step()
    assert graph_opt.param_groups[0]["lr"].item() == pytest.approx(eager_opt.param_groups[0]["lr"], rel=1e-7)
    assert make_schedule(eager_opt, SimpleNamespace(cuda_graph=False, lr_schedule="none")) is None


@pytest.mark.parametrize("schedule", ["cosine", "none"])
def test_checkpoints_pass_between_eager_and_graphed_runs(schedule):
    cfg = {kind: SimpleNamespace(cuda_graph=kind == "graph", device="cpu", lr_schedule=schedule, epochs=7,
                                 lr=0.01) for kind in ("eager", "graph")}
    graph_opt = _adam(torch.tensor(0.01), capturable=True)
    graph_sched = make_schedule(graph_opt, cfg["graph"])
    for _ in range(3 if schedule == "cosine" else 0):
        graph_sched.step()
    saved = {"optimizer": graph_opt.state_dict(), "schedule": graph_sched and graph_sched.state_dict()}
    assert saved["optimizer"]["param_groups"][0]["capturable"] is True
    # a graphed run's checkpoint resumed eagerly: the exact float, not the float32 tensor's
    # rounding (the cosine's next values are computed from it)
    eager_opt = _adam(0.01)
    eager_sched = make_schedule(eager_opt, cfg["eager"])
    restore_optimizer(eager_opt, eager_sched, saved, cfg["eager"])
    expected = [0.01 * (1 + math.cos(math.pi * 3 / 7)) / 2] if schedule == "cosine" else [0.01]
    assert [g["lr"] for g in eager_opt.param_groups] == pytest.approx(expected, rel=1e-12)
    assert type(eager_opt.param_groups[0]["lr"]) is float
    assert eager_opt.param_groups[0]["capturable"] is False  # not the graphed run's arithmetic
    # and back: an eager run's checkpoint resumed graphed, into a device tensor and a capturable
    # Adam (torch's load_state_dict would restore capturable=False, and the capture then fails)
    _stepped(eager_opt)
    saved = {"optimizer": eager_opt.state_dict(), "schedule": eager_sched and eager_sched.state_dict()}
    graph_opt = _adam(torch.tensor(0.01), capturable=True)
    graph_sched = make_schedule(graph_opt, cfg["graph"])
    restore_optimizer(graph_opt, graph_sched, saved, cfg["graph"])
    lr = graph_opt.param_groups[0]["lr"]
    assert isinstance(lr, torch.Tensor) and lr.item() == pytest.approx(expected[0], rel=1e-7)
    assert graph_opt.param_groups[0]["capturable"] is True
    step = next(iter(graph_opt.state.values()))["step"]
    assert step.dtype == torch.float32 and step.item() == 1  # placed as a capturable Adam keeps it
    if schedule == "cosine":
        eager_sched.step()
        graph_sched.step()
        assert lr.item() == pytest.approx(eager_opt.param_groups[0]["lr"], rel=1e-7)


def _synthetic_data(cfg):
    """60 steps of noisy sines on a 6-node ring, prepared as cfg asks."""
    from gcnkit.data import TemporalSignal
    from gcnkit.train.temporal import prepare_data

    g = torch.Generator().manual_seed(0)
    T, N = 60, 6
    series = 50 + 10 * torch.sin(torch.arange(T, dtype=torch.float32)[:, None] / 4 + torch.arange(N))
    series = series + torch.randn(T, N, generator=g)
    ei = torch.tensor([list(range(N)) + [(i + 1) % N for i in range(N)],
                       [(i + 1) % N for i in range(N)] + list(range(N))])
    return prepare_data(cfg, signal=TemporalSignal(series, ei, torch.ones(ei.size(1)), "synthetic", N))


def test_a_windows_epoch_returns_the_mean_loss_over_every_training_window():
    # batches of 8 over 31 windows (the last batch 7): the epoch's loss is the mean over windows,
    # each batch weighted by its own size (with lr 0 the model is the same for every batch)
    import torch.nn.functional as F

    from gcnkit.train.temporal import TemporalConfig, build_model
    from gcnkit.train.temporal_epoch import make_train_epoch

    cfg = TemporalConfig(dataset="losloop", lags=4, horizon=3, train_ratio=0.8, val_ratio=0.25,
                         batch_size=8).resolved()
    data = _synthetic_data(cfg)
    assert len(data.train) % 8 != 0
    torch.manual_seed(0)
    model = build_model("tgcn", 1, 4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    epoch = make_train_epoch(model, opt, data, cfg, torch.Generator().manual_seed(1))
    idx = torch.tensor(list(data.train))
    with torch.no_grad():
        out, _ = model(data.x[idx], data.edge_index, data.edge_weight, return_sequence=False)
        expected = F.mse_loss(out.permute(0, 2, 1), data.y[idx]).item()
    assert epoch() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("protocol", ["windows", "sequence"])
def test_an_epoch_clips_the_gradient_norm_before_the_step(protocol):
    # one step per epoch (a batch of every window, or the one sequence) with SGD at lr 1: the
    # parameters move by the clipped gradient, whose norm is cfg.clip (the unclipped one is larger)
    from gcnkit.train.temporal import TemporalConfig, build_model
    from gcnkit.train.temporal_epoch import make_train_epoch

    extra = dict(batch_size=64) if protocol == "windows" else {}
    moved = {}
    for clip in (None, 1e-3):
        cfg = TemporalConfig(dataset="losloop", lags=4, horizon=3, train_ratio=0.8, val_ratio=0.25,
                             protocol=protocol, clip=clip, **extra).resolved()
        data = _synthetic_data(cfg)
        torch.manual_seed(0)
        model = build_model("tgcn", 4 if protocol == "sequence" else 1, 4, 3)
        before = torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        make_train_epoch(model, opt, data, cfg, torch.Generator().manual_seed(1))()
        after = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        moved[clip] = float((after - before).norm())
    assert moved[None] > 10 * 1e-3  # the unclipped step: clipping has something to do
    assert moved[1e-3] == pytest.approx(1e-3, rel=1e-3)


def test_the_optimizer_takes_the_configured_learning_rate_and_weight_decay():
    from gcnkit.train.temporal import TemporalConfig, build_model
    from gcnkit.train.temporal_epoch import make_optimizer

    cfg = TemporalConfig(dataset="losloop", lr=0.003, weight_decay=0.01).resolved()
    opt = make_optimizer(build_model("tgcn", 1, 4, 3), cfg)
    assert isinstance(opt, torch.optim.Adam)
    assert [(g["lr"], g["weight_decay"]) for g in opt.param_groups] == [(0.003, 0.01)]


@pytest.mark.parametrize("protocol", ["windows", "sequence"])
def test_an_epoch_reads_the_host_once_whatever_its_batches(protocol, host_syncs):
    # the windows protocol checked each batch's windows for NaN (one host sync per batch on CUDA,
    # about 45 a Los-loop epoch, and one per part of predict); now the training part once, up front
    from gcnkit.train.temporal import TemporalConfig, build_model
    from gcnkit.train.temporal_epoch import make_predict, make_train_epoch

    counts = []
    for size in (4, 16):  # batches of windows, or chunks of truncated BPTT
        per = dict(batch_size=size) if protocol == "windows" else dict(tbptt=size)
        cfg = TemporalConfig(dataset="losloop", lags=4, horizon=3, train_ratio=0.8, val_ratio=0.25,
                             protocol=protocol, weight_decay=0.0, **per).resolved()
        data = _synthetic_data(cfg)
        model = build_model("tgcn", 4 if protocol == "sequence" else 1, 4, 3)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)  # (Adam reads its step counters on the host)
        epoch = make_train_epoch(model, opt, data, cfg, torch.Generator().manual_seed(1))
        epoch()
        counts.append(host_syncs(epoch))
        predict = make_predict(model, data, cfg, data.val)
        counts.append(host_syncs(predict))
        data.x[data.val.start] = float("nan")
        with pytest.raises(ValueError, match="non-finite"):
            predict()
        data.x[data.train.start] = float("nan")
        with pytest.raises(ValueError, match="data.x has .* non-finite"):
            make_train_epoch(model, opt, data, cfg, torch.Generator().manual_seed(1))
    assert counts[0] == counts[2] and counts[1] == counts[3]
    assert counts[0] <= 2  # the check and the loss read as a float
