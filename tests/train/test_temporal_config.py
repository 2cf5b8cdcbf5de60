"""TemporalConfig: the datasets' defaults, and options that are invalid or would be ignored."""
import pytest

from gcnkit.train.temporal import TemporalConfig


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=float("inf")), "lr must be a positive finite number"),
    (dict(lr=0.0), "lr must be a positive finite number"),
    (dict(weight_decay=float("nan")), "weight_decay must be a finite number"),
    (dict(train_ratio=1.0), r"train_ratio must be in \(0, 1\)"),
    (dict(model="tgcn", K=2), "K=2 applies to gconvgru and gconvlstm only"),
    (dict(model="gconvgru", K=-1), "K must be >= 0"),
    (dict(model="gconvgru", K=1.5), "K must be an integer"),
    (dict(dataset="losloop", tbptt=5), "tbptt=5 applies to the sequence protocol"),
    (dict(dataset="chickenpox", batch_size=8), "batch_size=8 applies to the windows protocol"),
    (dict(device="nodevice"), "unknown device='nodevice'"),
    (dict(device="meta"), "device='meta': meta tensors hold no values"),  # was: failed after the set-up
    (dict(dataset="losloop", model="gconvgru", self_loop_weight=7.0), "self_loop_weight=7.0 applies to tgcn"),
    (dict(dataset="chickenpox", model="gconvlstm", self_loops="add"), "self_loops=add applies to tgcn"),
    (dict(dataset="losloop", val_ratio=0.0, patience=3), r"patience=3 needs a validation part"),
    # wrong types: named, not an OverflowError or "'<' not supported between int and str"
    (dict(dataset="losloop", lags=float("inf")), "lags must be an integer, got inf"),
    (dict(dataset="losloop", lags=2.5), "lags must be an integer"),
    (dict(dataset="losloop", hidden=True), "hidden must be an integer, got True"),
    (dict(dataset="losloop", epochs="3"), "epochs must be an integer"),
    (dict(dataset="chickenpox", tbptt=float("nan")), "tbptt must be an integer"),
    (dict(dataset="losloop", patience=-1), "patience must be >= 0"),
    (dict(dataset="losloop", lr="0.01"), "lr must be a number, got '0.01'"),
    (dict(dataset="losloop", lr=True), "lr must be a number, got True"),
    (dict(dataset="losloop", weight_decay=None), "weight_decay must be a number"),
    (dict(dataset="losloop", self_loop_weight="2"), "self_loop_weight must be a number"),
    (dict(dataset="losloop", seed=2.5), "seed must be an integer"),
    (dict(dataset="losloop", cuda_graph=True), "cuda_graph needs a CUDA device, not device='cpu'"),
    (dict(dataset="losloop", cuda_graph="no"), "cuda_graph must be True or False, got 'no'"),
])
def test_options_that_would_be_ignored_or_are_invalid_are_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TemporalConfig(**kwargs).resolved()


def test_resolving_twice_is_the_same_config():
    for name in ("chickenpox", "losloop"):
        for model in ("tgcn", "gconvgru"):
            cfg = TemporalConfig(dataset=name, model=model).resolved()
            assert cfg.resolved() == cfg
    # the default batch size stays on sequence-protocol configs: earlier runs' folders still match
    assert TemporalConfig(dataset="chickenpox").resolved().batch_size == 32


def test_numpy_integers_are_plain_ints_in_the_resolved_config():
    import numpy as np

    cfg = TemporalConfig(dataset="losloop", model="gconvgru", K=np.int64(2), lags=np.int64(6)).resolved()
    assert cfg.K == 2 and type(cfg.K) is int and type(cfg.lags) is int


def test_python_numbers_keep_their_type_in_the_resolved_config():
    # the run folder's hash depends on the values: self_loop_weight=2 stays 2, as before
    from gcnkit.train.temporal_run import default_out

    cfg = TemporalConfig(dataset="losloop", self_loop_weight=2, lr=1).resolved()
    assert type(cfg.self_loop_weight) is int and type(cfg.lr) is int
    assert default_out(cfg) == default_out(TemporalConfig(dataset="losloop", self_loop_weight=2, lr=1).resolved())
