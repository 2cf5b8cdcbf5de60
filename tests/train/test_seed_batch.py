"""train_seeds: many seeds as one stacked model, each run the run train_once gives."""
import math

import pytest
import torch

from gcnkit.train.node_classification import PreparedData, TrainConfig, train_once
from gcnkit.train.runner import prepare, run_seeds
from gcnkit.train.seed_batch import train_seeds


@pytest.fixture(scope="module")
def cora(shared_data_root):
    return prepare("cora", TrainConfig(), str(shared_data_root))


def _same(a, b):
    # the same masks, initialization and stopping rule: the same run (the products sum in another
    # order, so the logits agree to float rounding; 180 of 180 ablation runs matched exactly)
    assert (a.seed, a.epochs) == (b.seed, b.epochs)
    assert abs(a.test_acc - b.test_acc) <= 0.2 and abs(a.val_acc - b.val_acc) <= 0.2
    assert a.ms_per_epoch > 0 and math.isfinite(b.ms_per_epoch) and b.ms_per_epoch > 0


@pytest.mark.parametrize("model, epochs", [("kipf", 40), ("cheb2", 200), ("mlp", 60)])
def test_each_seed_is_the_run_train_once_gives(cora, single_thread, model, epochs):
    cfg = TrainConfig(model=model, epochs=epochs)
    seeds = [0, 1, 2]
    batched = train_seeds(cora, cfg, seeds)
    for a, b in zip((train_once(cora, cfg, s) for s in seeds), batched):
        _same(a, b)
    if model == "cheb2":  # stopped early, at different epochs: the stack shrank on the way
        assert len({r.epochs for r in batched}) > 1 and max(r.epochs for r in batched) < 200


def test_a_seed_does_not_depend_on_its_batch_mates_and_repeats(cora):
    cfg = TrainConfig(epochs=30)
    alone = train_seeds(cora, cfg, [5])[0]
    among = train_seeds(cora, cfg, [3, 5, 7])
    again = train_seeds(cora, cfg, [3, 5, 7])
    assert [(r.test_acc, r.val_acc, r.epochs) for r in among] == [(r.test_acc, r.val_acc, r.epochs) for r in again]
    assert (alone.test_acc, alone.val_acc, alone.epochs) == (among[1].test_acc, among[1].val_acc, among[1].epochs)
    assert [r.seed for r in among] == [3, 5, 7]


def test_run_seeds_gives_the_same_runs_in_batches_of_any_size(cora, shared_data_root):
    cfg = TrainConfig(epochs=25, early_stopping=5)
    ones = [train_once(cora, cfg, s) for s in range(4)]
    for size in (3, 10):
        for a, b in zip(ones, run_seeds("cora", cfg, range(4), root=str(shared_data_root), progress=False,
                                        seed_batch=size)):
            _same(a, b)
    with pytest.raises(ValueError, match="seed_batch must be"):
        run_seeds("cora", cfg, range(4), root=str(shared_data_root), progress=False, seed_batch=0)


def test_bad_seeds_and_diverged_runs_are_named():
    from gcnkit.data.synthetic import csbm

    d = csbm(num_nodes=200, num_features=8)
    cfg = TrainConfig(epochs=5)
    prepared = PreparedData(d, cfg)
    twice = train_seeds(prepared, cfg, [1, 1])  # a repeated seed is trained again, as run_seeds always did
    assert (twice[0].test_acc, twice[0].epochs) == (twice[1].test_acc, twice[1].epochs)
    with pytest.raises(ValueError, match="seed must be"):
        train_seeds(prepared, cfg, [0, -1])
    assert train_seeds(prepared, cfg, []) == []
    bad = TrainConfig(lr=1e30, epochs=5)
    with pytest.raises(RuntimeError, match=r"training diverged: the validation loss is nan at epoch 1 \(seed 3, "):
        train_seeds(PreparedData(d, bad), bad, [3, 4])
    d.val_mask[:] = False
    with pytest.raises(ValueError, match="early_stopping=10 needs validation nodes"):
        train_seeds(PreparedData(d, cfg), cfg, [0, 1])
    bad = TrainConfig(lr=1e30, epochs=5, early_stopping=0)
    with pytest.raises(RuntimeError, match="training diverged: the model predicts NaN or inf after epoch 5"):
        train_seeds(PreparedData(d, bad), bad, [0, 1])
    ok = TrainConfig(epochs=5, early_stopping=0)  # no validation nodes, no early stopping: a NaN val_acc
    assert all(math.isnan(r.val_acc) for r in train_seeds(PreparedData(d, ok), ok, [0, 1]))


def test_dense_features_run_one_seed_at_a_time(monkeypatch):
    # stacking would keep a dropped-out [N, F] matrix per seed for the backward pass
    from gcnkit.data.synthetic import csbm
    from gcnkit.train import seed_batch

    monkeypatch.setattr(seed_batch, "StackedGCN", None)  # not built
    cfg = TrainConfig(epochs=8, sparse_features=False)
    prepared = PreparedData(csbm(num_nodes=120, num_features=8), cfg)
    runs = train_seeds(prepared, cfg, [0, 1])
    assert [(r.test_acc, r.epochs) for r in runs] == [(r.test_acc, r.epochs) for r in
                                                      (train_once(prepared, cfg, s) for s in (0, 1))]


@pytest.mark.parametrize("model", ["kipf", "cheb2", "mlp"])
def test_receptive_fields_give_the_whole_graphs_runs(cora, single_thread, model):
    """Each pass on the receptive field of the nodes it scores (the default) is the whole-graph
    run, alone and stacked: same masks, same stopping epoch, same accuracies."""
    fields = TrainConfig(model=model, epochs=60)
    whole = TrainConfig(model=model, epochs=60, receptive_field=False)
    for s in (0, 1):
        _same(train_once(cora, whole, s), train_once(cora, fields, s))
    for a, b in zip(train_seeds(cora, whole, [0, 1]), train_seeds(cora, fields, [0, 1])):
        _same(a, b)


def test_the_fields_of_cora(cora):
    from gcnkit.nn.models import GCN

    sizes = {}
    for conv in ("kipf", "mlp", "cheb3"):
        model = GCN(cora.num_features, 16, out_channels=cora.num_classes, conv=conv)
        sizes[conv] = [cora.field_for(model, split).nodes.numel() for split in ("train", "val")]
        assert cora.field_for(model, "train") is cora.field_for(model, "train")  # built once
    # the nodes within 2 hops of Cora's 140 training / 500 validation nodes; an MLP needs only those
    assert sizes == {"kipf": [1664, 2335], "mlp": [140, 500], "cheb3": [2531, 2594]}


def test_torch_random_state_afterwards_is_as_after_the_runs_one_by_one(cora):
    cfg = TrainConfig(model="cheb2", epochs=30)
    one_by_one = [train_once(cora, cfg, s) for s in (4, 2, 9)]
    after_alone = torch.rand(4)
    together = train_seeds(cora, cfg, [4, 2, 9])
    assert torch.equal(torch.rand(4), after_alone) and [r.epochs for r in together] == [r.epochs for r in one_by_one]


def test_ms_per_epoch_is_each_runs_time_over_its_own_epochs(monkeypatch):
    # a fake clock, 1 s per reading: a lone run reads it twice (1 s in all), so ms per epoch is
    # 1000 / its stopping epoch; a stacked epoch (1 s) is shared by the seeds still training in it
    from types import SimpleNamespace

    import gcnkit.train.node_classification as nc
    import gcnkit.train.seed_batch as sb

    def fake_time():
        clock = iter(range(10 ** 6))
        return SimpleNamespace(perf_counter=lambda: float(next(clock)))

    data = prepare("karate", TrainConfig())
    cfg = TrainConfig(epochs=60, early_stopping=2, lr=0.05)
    monkeypatch.setattr(nc, "time", fake_time())
    alone = train_once(data, cfg, 0)
    assert alone.epochs < cfg.epochs and alone.ms_per_epoch == pytest.approx(1000.0 / alone.epochs)
    monkeypatch.setattr(sb, "time", fake_time())
    runs = train_seeds(data, cfg, [0, 1, 2, 3])
    stops = [r.epochs for r in runs]
    assert len(set(stops)) > 1  # the stack shrank on the way
    for r in runs:
        spent = sum(1.0 / sum(e >= t for e in stops) for t in range(1, r.epochs + 1))
        assert r.ms_per_epoch == pytest.approx(1000.0 * spent / r.epochs)
