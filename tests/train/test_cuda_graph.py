"""Training steps replayed as CUDA graphs (gcnkit.train.cuda_graph): the same parameters as eager
steps, new random draws at every replay, the models' NaN checks skipped only during a capture,
clear errors without CUDA. The GPU tests are marked and skipped without CUDA."""
import copy

import pytest
import torch
import torch.nn.functional as F

from gcnkit.cli.main import main
from gcnkit.functional.features import dropout
from gcnkit.functional.validation import capturing, check_finite
from gcnkit.nn.models import TGCN, GConvGRU, GConvLSTM
from gcnkit.train.cuda_graph import GraphedStep, graphed
from gcnkit.train.node_classification import (TrainConfig, build_model, make_epoch, make_optimizer, summarize,
                                              train_once)
from gcnkit.train.runner import prepare

gpu = pytest.mark.gpu


# ------------------------------------------------------------------ without a GPU: the errors
def test_cuda_graph_needs_a_cuda_device():
    with pytest.raises(ValueError, match="cuda_graph needs a CUDA device, not device='cpu'"):
        TrainConfig(cuda_graph=True)
    with pytest.raises(TypeError, match="cuda_graph must be True or False"):
        TrainConfig(cuda_graph="yes")


def test_cli_names_the_flag(capsys):
    assert main(["train", "--dataset", "karate", "--seeds", "1", "--epochs", "2", "--cuda-graph"]) != 0
    assert "--cuda-graph needs a CUDA device, not --device='cpu'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error without CUDA")
def test_graphed_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA graphs need a CUDA device"):
        graphed(lambda: None)


def test_nan_checks_run_outside_a_capture():
    assert not capturing(torch.zeros(2))
    with pytest.raises(ValueError, match="1 non-finite values"):
        check_finite("x", torch.tensor([0.0, float("nan")]))


# ------------------------------------------------------------------ on a GPU
def _ring(n):
    ei = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    ei = torch.cat([ei, ei.flip(0), torch.stack([torch.arange(n), (torch.arange(n) + 5) % n])], 1)
    return ei.cuda(), torch.rand(ei.size(1), generator=torch.Generator().manual_seed(0)).cuda()


def _recurrent_step(model, x, y, ei, ew, capturable=True):
    opt = torch.optim.Adam(model.parameters(), lr=0.01, capturable=capturable)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x, ei, ew)[0], y)
        loss.backward()
        opt.step()
        return loss
    return step


@gpu
@pytest.mark.parametrize("cls", [TGCN, GConvGRU, GConvLSTM])
@pytest.mark.parametrize("batch, nodes, hidden", [(1, 20, 8), (4, 207, 64)])  # autograd gates; fused gates
def test_graphed_recurrent_training_equals_eager(cls, batch, nodes, hidden):
    torch.manual_seed(0)
    ei, ew = _ring(nodes)
    eager_model = cls(2, hidden, out_channels=1).cuda()
    graph_model = copy.deepcopy(eager_model)
    shape = (batch, 6, nodes)
    x_e, y_e = torch.zeros(*shape, 2, device="cuda"), torch.zeros(*shape, 1, device="cuda")
    x_g, y_g = x_e.clone(), y_e.clone()
    eager = _recurrent_step(eager_model, x_e, y_e, ei, ew)
    step = graphed(_recurrent_step(graph_model, x_g, y_g, ei, ew), warmup=2)
    for i in range(6):  # 2 eager (warm-up), the capture and its replay, 3 replays; new data each time
        data, target = torch.randn(*shape, 2, device="cuda"), torch.randn(*shape, 1, device="cuda")
        for x, y in ((x_e, y_e), (x_g, y_g)):
            x.copy_(data)
            y.copy_(target)
        expected, got = float(eager()), float(step())
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-6), i
    assert step.graph is not None and step.calls == 6
    for p, q in zip(eager_model.parameters(), graph_model.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)


@gpu
def test_replays_draw_new_random_numbers():
    x = torch.ones(1000, device="cuda")
    step = graphed(lambda: dropout(x, 0.5, True), warmup=1)
    step()
    first = step().clone()
    second = step()
    assert not torch.equal(first, second)
    assert 0.4 < float((second == 0).float().mean()) < 0.6


@gpu
def test_capture_skips_the_nan_check_and_eager_calls_keep_it():
    ei, ew = _ring(20)
    model = TGCN(2, 8, out_channels=1).cuda()
    x = torch.randn(1, 4, 20, 2, device="cuda")
    seen = []

    def step():
        seen.append(capturing(x))
        return model(x, ei, ew)[0].sum()
    step = graphed(step, warmup=1)
    step()
    step()  # captured: no error from the NaN check (which would synchronise)
    assert seen == [False, True]
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        model(x, ei, ew)


@gpu
def test_a_non_capturable_optimizer_is_a_clear_error():
    ei, ew = _ring(20)
    model = TGCN(2, 8, out_channels=1).cuda()
    x, y = torch.randn(1, 4, 20, 2, device="cuda"), torch.randn(1, 4, 20, 1, device="cuda")
    step = GraphedStep(_recurrent_step(model, x, y, ei, ew, capturable=False), warmup=1)
    step()
    with pytest.raises(RuntimeError, match="capturing the step as a CUDA graph failed: .*capturable is False"):
        step()
    assert torch.cuda.current_stream() == torch.cuda.default_stream()  # the capture stream is left


@pytest.fixture(scope="module")
def cora_cuda(shared_data_root):
    return prepare("cora", TrainConfig(device="cuda"), str(shared_data_root))


@gpu
def test_graphed_kipf_epochs_equal_eager_ones_without_dropout(cora_cuda):
    losses = {}
    for flag in (False, True):
        cfg = TrainConfig(device="cuda", dropout=0.0, cuda_graph=flag)
        torch.manual_seed(0)
        model = build_model(cora_cuda, cfg)
        epoch = make_epoch(model, make_optimizer(model, cfg), cora_cuda, cfg)
        losses[flag] = [epoch() for _ in range(12)]
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


@gpu
def test_graphed_kipf_reaches_the_papers_accuracy(cora_cuda):
    results = [train_once(cora_cuda, TrainConfig(device="cuda", cuda_graph=True), s) for s in range(5)]
    s = summarize(results)
    assert s["test_acc_mean"] >= 79.5, s
    assert all(4 <= r.epochs <= 200 for r in results)


@pytest.mark.parametrize("path", ["csr", "dense"])  # the CSR kernel; the CPU's dense copy of small matrices
def test_what_a_capture_reads_from_the_caches_is_held(path, request):
    # the capture is emulated on the CPU: inside holding(), the cached normalized graph, the
    # matrices the products read (and the transpose the backward pass reads) are kept, also
    # after the caches are cleared
    import gc
    import weakref

    from gcnkit.functional.cache import holding
    from gcnkit.functional.normalize import NormalizedGraph
    from gcnkit.nn.conv import KipfGCNConv, clear_caches

    if path == "csr":
        request.getfixturevalue("csr_path")
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    conv = KipfGCNConv(3, 2)
    x = torch.randn(4, 3, requires_grad=True)
    conv(x, ei).sum().backward()  # the warm-up: the normalization is cached outside the block
    with holding() as held:
        conv(x, ei).sum().backward()
    assert any(isinstance(h, NormalizedGraph) for h in held)  # from the graph cache
    adjs = [h for h in held if type(h).__name__ == "CSRMatrix"]
    assert len(adjs) >= (2 if path == "csr" else 1)  # the operator (and its transpose)
    refs = [weakref.ref(a.value) for a in adjs]
    clear_caches()
    gc.collect()
    assert all(r() is not None for r in refs)
    del held, adjs
    gc.collect()
    assert all(r() is None for r in refs)  # held by the list only


@gpu
def test_replays_survive_the_caches_dropping_the_graph():
    from gcnkit.nn.conv import clear_caches

    torch.manual_seed(0)
    ei, ew = _ring(207)
    eager_model = TGCN(2, 64, out_channels=1).cuda()
    graph_model = copy.deepcopy(eager_model)
    x, y = torch.randn(4, 6, 207, 2, device="cuda"), torch.randn(4, 6, 207, 1, device="cuda")
    eager = _recurrent_step(eager_model, x, y, ei, ew)
    step = graphed(_recurrent_step(graph_model, x, y, ei, ew), warmup=2)
    expected = [float(eager()) for _ in range(3)]
    got = [float(step()) for _ in range(3)]  # 2 eager, the capture and its replay
    clear_caches()  # the normalized graph the capture read: now held by the step only
    torch.cuda.empty_cache()
    junk = [torch.full((1 << 20,), float("nan"), device="cuda") for _ in range(64)]  # reuse freed memory
    expected += [float(eager()) for _ in range(2)]
    got += [float(step()) for _ in range(2)]
    del junk
    assert got == pytest.approx(expected, rel=1e-4)


def test_nested_holding_blocks_each_collect_and_close():
    from gcnkit.functional import cache
    from gcnkit.nn.conv import KipfGCNConv

    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    conv = KipfGCNConv(3, 2)
    with cache.holding() as outer:
        with cache.holding() as inner:  # equal (empty) lists: each must close its own
            pass
        conv(torch.randn(3, 3), ei)
    assert inner == [] and outer and cache._sinks == []
    conv(torch.randn(3, 3), ei)
    assert cache._sinks == []
