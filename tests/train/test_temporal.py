"""The forecasting loop: protocols, splits, scaling, resume, errors (metrics: test_metrics.py)."""
import json
import math
from dataclasses import replace

import pytest
import torch

from gcnkit.data import TemporalSignal
from gcnkit.train.metrics import regression_metrics
from gcnkit.train.temporal import TemporalConfig, build_model, predict, prepare_data, train_temporal


from gcnkit_test_data import find_shared_data_root  # tests/gcnkit_test_data.py  # noqa: E402

_root = find_shared_data_root()
ROOT = None if _root is None else str(_root)
needs_data = pytest.mark.skipif(ROOT is None, reason="shared temporal datasets not found")


def _signal(T=60, N=6, seed=0, nan=False):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T, dtype=torch.float32)[:, None]
    series = 50 + 10 * torch.sin(t / 4 + torch.arange(N)) + torch.randn(T, N, generator=g)
    if nan:
        series[7, 2] = float("nan")
    ei = torch.tensor([[i for i in range(N)] + [(i + 1) % N for i in range(N)],
                       [(i + 1) % N for i in range(N)] + [i for i in range(N)]])
    return TemporalSignal(series, ei, torch.ones(ei.size(1)), "synthetic", N)


def test_prepare_data_splits_and_scaler_fit_on_train_only():
    cfg = TemporalConfig(dataset="losloop", lags=4, horizon=3, train_ratio=0.8, val_ratio=0.25, scaler="max").resolved()
    sig = _signal()
    sig.series[-1] = 1000.0  # a test-period maximum must not leak into the scaler
    data = prepare_data(cfg, signal=sig)
    S = 60 - 4 - 3 + 1
    assert data.x.shape == (S, 4, 6, 1) and data.y.shape == (S, 3, 6)
    assert data.train.stop + 2 <= data.val.start and data.val.stop + 2 <= data.test.start  # gap = horizon-1
    train_max = sig.series[: data.train.stop - 1 + 4 + 3].max()
    torch.testing.assert_close(data.inverse(data.y), data.y_raw)
    assert float(data.x_raw[0, 0, 0, 0] / data.x[0, 0, 0, 0]) == pytest.approx(float(train_max), rel=1e-5)


def test_prepare_data_fills_in_the_dataset_defaults_itself():
    """A config with options left at None (the dataset's defaults) is resolved by prepare_data, as
    by train_temporal (it failed with "unsupported operand type(s) for *: 'NoneType' and 'int'")."""
    cfg = TemporalConfig(dataset="losloop", lags=4, horizon=3, train_ratio=0.8, self_loops="add")
    assert cfg.val_ratio is None and cfg.self_loop_weight is None
    got, want = prepare_data(cfg, signal=_signal()), prepare_data(cfg.resolved(), signal=_signal())
    assert (got.train, got.val, got.test) == (want.train, want.val, want.test) and len(want.val) > 0
    for name in ("x", "y", "edge_index", "edge_weight"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=0, atol=0)
    assert cfg.resolved().resolved() == cfg.resolved()


def test_prepare_data_checks_only_the_options_of_the_data():
    """prepare_data needs the data options alone: a user's signal under a name gcnkit does not
    know, a CUDA device on a machine without one and a model's options are not its business
    (each was refused by the whole config's validation); a bad data option still is."""
    opts = dict(lags=4, horizon=1, train_ratio=0.7, val_ratio=0.1)
    want = prepare_data(TemporalConfig(dataset="losloop", **opts, scaler="standard", self_loops="keep"),
                        signal=_signal())
    for cfg in (TemporalConfig(dataset="my_sensors", **opts),  # the general defaults: standard, keep
                TemporalConfig(dataset="losloop", **opts, scaler="standard", self_loops="keep",
                               device="cuda:7", model="gconvgru", K=3, lr=-1.0),
                TemporalConfig(dataset="my_sensors", **opts, self_loop_weight=5.0)):  # (keep: the ring has no loops)
        got = prepare_data(cfg=cfg, signal=_signal())
        assert (got.train, got.val, got.test) == (want.train, want.val, want.test)
        torch.testing.assert_close(got.x, want.x, rtol=0, atol=0)
    with pytest.raises(ValueError, match="Unknown temporal dataset 'my_sensors'"):
        prepare_data(TemporalConfig(dataset="my_sensors", **opts))  # no signal: a name to load
    with pytest.raises(ValueError, match=r"train_ratio must be in \(0, 1\), got 1.5"):
        prepare_data(TemporalConfig(dataset="my_sensors", lags=4, train_ratio=1.5), signal=_signal())
    with pytest.raises(ValueError, match="scaler"):
        prepare_data(TemporalConfig(dataset="my_sensors", scaler="minmax"), signal=_signal())


@pytest.mark.parametrize("scaler", ["max", "standard"])
def test_scaler_is_fitted_on_the_training_steps_without_the_validation_ones(scaler):
    import numpy as np

    lags, horizon, T = 4, 3, 60
    cfg = TemporalConfig(dataset="losloop", lags=lags, horizon=horizon, train_ratio=0.8, val_ratio=0.25,
                         scaler=scaler).resolved()
    # by hand: S = 60 - 4 - 3 + 1 = 54 windows; int(0.8 * 54) = 43 for fitting, the last
    # int(0.25 * 43) = 10 of them validate, and gap = horizon - 1 = 2 windows are dropped before
    # them: training windows 0..30, whose inputs and targets span time steps 0..36
    sig = _signal(T=T)
    train_steps = 30 + lags + horizon
    sig.series[train_steps:49] = 20 * sig.series[train_steps:49] - 700  # validation steps: another scale
    data = prepare_data(cfg, signal=sig)
    assert data.train == range(0, 31) and data.val == range(33, 43)
    raw = sig.series.double().numpy()
    fit = raw[:train_steps]
    if scaler == "max":
        scaled = raw / fit.max()
    else:
        scaled = (raw - fit.mean(0)) / fit.std(0)  # per node, population std
    expected_x = np.stack([scaled[s:s + lags] for s in range(T - lags - horizon + 1)])[..., None]
    np.testing.assert_allclose(data.x.numpy(), expected_x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(data.inverse(data.y), data.y_raw, rtol=1e-5, atol=1e-3)

def test_self_loops_add_puts_a_plus_i_on_top_of_existing_self_loops():
    from gcnkit.functional import normalize_adjacency

    sig = _signal()
    half = torch.arange(0, sig.num_nodes, 2)  # self-loops of weight 0.5 on half the nodes
    sig = TemporalSignal(sig.series, torch.cat([sig.edge_index, half.expand(2, -1)], 1),
                         torch.cat([sig.edge_weight, torch.full((half.numel(),), 0.5)]), "loops", sig.num_nodes)
    keep = prepare_data(TemporalConfig(dataset="losloop", lags=4, scaler="max", self_loops="keep").resolved(),
                        signal=sig)
    add = prepare_data(TemporalConfig(dataset="losloop", lags=4, scaler="max", self_loops="add",
                                      self_loop_weight=1.0).resolved(), signal=sig)
    add2 = prepare_data(TemporalConfig(dataset="losloop", lags=4, scaler="max").resolved(), signal=sig)
    n = sig.num_nodes
    dense = lambda d: normalize_adjacency(d.edge_index, d.edge_weight, n, norm="none").to_dense()  # noqa: E731
    a = torch.zeros(n, n)
    w = torch.ones(sig.edge_index.size(1)) if sig.edge_weight is None else sig.edge_weight
    a.index_put_((sig.edge_index[1], sig.edge_index[0]), w, accumulate=True)
    with_loops = a.diagonal() != 0
    expected_keep = a.clone()
    expected_keep.diagonal()[~with_loops] = 1.0  # only where a node has none
    torch.testing.assert_close(dense(keep), expected_keep)
    torch.testing.assert_close(dense(add), a + torch.eye(n))  # T-GCN's A + I, whatever A's diagonal
    torch.testing.assert_close(dense(add2), a + 2 * torch.eye(n))  # Los-loop's default: A + 2I
    assert dense(add).diagonal()[0] == 1.5 and dense(keep).diagonal()[0] == 0.5
    with pytest.raises(ValueError, match="self_loops"):
        TemporalConfig(dataset="losloop", self_loops="twice").resolved()
    with pytest.raises(ValueError, match="self_loop_weight"):
        TemporalConfig(dataset="losloop", self_loop_weight=float("nan")).resolved()


def test_a_self_loop_weight_that_would_change_nothing_is_refused():
    """With self_loops="keep" the weight is that of the loops added where a node has none: on a graph
    with a loop at every node (the three bundled datasets') another weight than the dataset's
    default changed nothing (the same numbers as the default, under a run folder of its own)."""
    sig = _signal()
    n = sig.num_nodes
    looped = TemporalSignal(sig.series, torch.cat([sig.edge_index, torch.arange(n).expand(2, -1)], 1),
                            torch.cat([sig.edge_weight, torch.ones(n)]), "looped", n)
    opts = dict(lags=4, horizon=1, self_loops="keep")
    with pytest.raises(ValueError, match=r"self_loop_weight=5.0 would change nothing: with self_loops='keep' .*"
                                         r"every node of losloop's graph has one; use self_loops='add'"):
        prepare_data(TemporalConfig(dataset="losloop", **opts, self_loop_weight=5.0), signal=looped)
    for cfg, signal in ((TemporalConfig(dataset="losloop", **opts), looped),  # its default (2.0) stays
                        (TemporalConfig(dataset="losloop", **opts, self_loop_weight=5.0), sig),  # nodes without
                        (TemporalConfig(dataset="losloop", lags=4, horizon=1, self_loops="add",
                                        self_loop_weight=5.0), looped)):
        prepare_data(cfg, signal=signal)
    with pytest.raises(ValueError, match="self_loop_weight=3.0 would change nothing"):  # a user's signal:
        prepare_data(TemporalConfig(dataset="my_sensors", **opts, self_loop_weight=3.0), signal=looped)  # 1.0


def test_windows_protocol_trains_and_picks_the_best_validation_epoch():
    cfg = TemporalConfig(dataset="losloop", model="tgcn", lags=6, horizon=2, hidden=8, epochs=4,
                         batch_size=8, lr=0.01, progress=False, val_ratio=0.2)
    records = []
    data = prepare_data(cfg.resolved(), signal=_signal())
    res = train_temporal(cfg, data=data, on_epoch=records.append)
    assert len(records) == 4 == res.epochs and res.ms_per_epoch > 0
    assert records[-1]["train_loss"] < 0.8 * records[0]["train_loss"]  # it trains
    best = min(records, key=lambda r: r["val_rmse"])
    assert res.best_epoch == best["epoch"] and res.val_metrics["rmse"] == best["val_rmse"]
    assert res.y_pred.shape == res.y_true.shape and res.y_true.shape[1:] == (2, 6)
    s = res.summary()
    for key in ("dataset", "model", "rmse", "mae", "accuracy", "r2", "var", "epochs", "ms_per_epoch"):
        assert key in s
    assert set(s["baselines"]) == {"zero", "last_value", "linear_ar"}
    assert res.metrics["rmse"] < s["baselines"]["zero"]["rmse"]  # unscaled values (~50)
    _check_unscaled_metrics_and_train_fitted_baselines(data, res)


def _check_unscaled_metrics_and_train_fitted_baselines(data, res):
    """The test metrics are those of the raw test targets against predictions brought back to
    the raw scale, and the baselines are fitted on the training windows only (checked against a
    computation written here, not gcnkit's)."""
    y_true = data.y_raw[data.test]
    torch.testing.assert_close(res.y_true, y_true)
    assert res.metrics == regression_metrics(y_true, res.y_pred)
    # the synthetic series is 50 + 10 sin(.) + noise; the model sees it z-scored (mean ~0, std ~1):
    # predictions on the raw scale have the series' level, scaled ones would be near 0
    level = float(y_true.mean())
    assert 40 < level < 60 and abs(float(res.y_pred.mean()) - level) < 5
    assert abs(float(data.y[data.test].mean())) < 5  # (the scaled targets are far from the level)
    assert float(res.y_pred.std()) > 3  # the raw spread (~7), not the z-scored one (~1)

    x_tr, y_tr = data.x_raw[data.train, :, :, 0].double(), data.y_raw[data.train].double()  # [S, L, N], [S, H, N]
    x_te = data.x_raw[data.test, :, :, 0].double()
    horizon = y_true.size(1)
    zero = torch.zeros_like(y_true)
    last_value = x_te[:, -1:, :].expand(-1, horizon, -1)  # the last input step of each test window

    def ar_fit(x, y):  # least squares on (window, node) rows: lags then a constant -> horizon steps
        rows = torch.cat([x.transpose(1, 2).reshape(-1, x.size(1)), torch.ones(x.size(0) * x.size(2), 1,
                                                                                dtype=x.dtype)], 1)
        return torch.linalg.lstsq(rows, y.transpose(1, 2).reshape(-1, y.size(1))).solution  # [L + 1, H]

    def ar_predict(coef, x):
        return torch.einsum("sln,lh->shn", x, coef[:-1]) + coef[-1][None, :, None]

    coef = ar_fit(x_tr, y_tr)
    # the fit is a least-squares one: its residuals are orthogonal to every training feature
    resid = y_tr - ar_predict(coef, x_tr)
    assert float(torch.einsum("sln,shn->lh", x_tr, resid).abs().max()) < 1e-6 * float(x_tr.abs().sum())
    expected = {"zero": zero, "last_value": last_value, "linear_ar": ar_predict(coef, x_te)}
    assert set(res.baselines) == set(expected)
    for name, pred in expected.items():
        want = regression_metrics(y_true, pred)
        for metric, value in want.items():
            assert res.baselines[name][metric] == pytest.approx(value, rel=1e-4, abs=1e-6), (name, metric)
    # the same with gcnkit's function, given the training part: the predictions themselves
    from gcnkit.train.baselines import baseline_forecasts

    got = baseline_forecasts(data.x_raw[data.train], data.y_raw[data.train], data.x_raw[data.test])
    for name, pred in expected.items():
        torch.testing.assert_close(got[name].double(), pred.double(), rtol=1e-4, atol=1e-4)
    # not vacuous: an AR fitted on the test windows (or on all of them) scores differently
    for leak in (data.test, range(0, data.test.stop)):
        other = regression_metrics(y_true, ar_predict(ar_fit(data.x_raw[leak, :, :, 0].double(),
                                                             data.y_raw[leak].double()), x_te))
        assert abs(other["rmse"] - res.baselines["linear_ar"]["rmse"]) > 1e-3 * other["rmse"]


def test_windows_protocol_resumes_from_its_checkpoint(tmp_path):
    # shuffled mini-batches, Adam and a cosine schedule: all restored, so a run interrupted after
    # epoch 2 and resumed ends with the uninterrupted run's numbers
    cfg = TemporalConfig(dataset="losloop", model="tgcn", lags=6, horizon=2, hidden=8, epochs=4,
                         batch_size=8, lr=0.01, progress=False, val_ratio=0.2, lr_schedule="cosine")

    def data():
        return prepare_data(cfg.resolved(), signal=_signal())
    whole = train_temporal(cfg, data=data())

    def stop_at_2(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt
    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        train_temporal(cfg, data=data(), checkpoint=ckpt, on_epoch=stop_at_2)
    records = []
    resumed = train_temporal(cfg, data=data(), checkpoint=ckpt, on_epoch=records.append)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]  # restored epochs replayed, then 3 and 4
    assert resumed.metrics == whole.metrics and resumed.best_epoch == whole.best_epoch
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    with pytest.raises(ValueError, match="hidden=8 there, 16 now"):
        train_temporal(TemporalConfig(**{**cfg.__dict__, "hidden": 16}), data=data(), checkpoint=ckpt)
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read the checkpoint"):
        train_temporal(cfg, data=data(), checkpoint=ckpt)


@pytest.mark.parametrize("model", ["gconvgru", "gconvlstm", "tgcn_pygt"])
def test_sequence_protocol_carries_the_state(model):
    cfg = TemporalConfig(dataset="chickenpox", model=model, hidden=6, epochs=2, progress=False, train_ratio=0.5,
                         tbptt=5 if model == "gconvgru" else None, clip=1.0).resolved()
    data = prepare_data(cfg, signal=_signal())
    res = train_temporal(cfg, data=data)
    assert all(math.isfinite(v) for v in res.metrics.values())
    net = build_model(model, 4, 6, 1)
    carried = predict(net, data, cfg, data.test)
    alone, _ = net(data.x[data.test].permute(0, 2, 1, 3).reshape(1, len(data.test), 6, 4),
                   data.edge_index, data.edge_weight)
    torch.testing.assert_close(carried, predict(net, data, cfg, data.test))
    assert not torch.allclose(carried, alone[0].permute(0, 2, 1))  # state from the training part
    # reference: one snapshot per call from sample 0, the state carried by hand
    seq = data.x[: data.test.stop].permute(0, 2, 1, 3).reshape(1, data.test.stop, 6, 4)
    state, outs = None, []
    with torch.no_grad():
        for s in range(data.test.stop):
            out, state = net(seq[:, s:s + 1], data.edge_index, data.edge_weight, state=state)
            outs.append(out[0, 0])
    expected = torch.stack(outs)[data.test.start:].permute(0, 2, 1)
    torch.testing.assert_close(carried, expected, atol=1e-5, rtol=1e-5)
    assert res.history[-1]["train_loss"] != res.history[0]["train_loss"]  # the optimizer stepped


def test_bad_inputs_give_clear_errors():
    cfg = TemporalConfig(dataset="losloop", lags=50, horizon=20).resolved()
    with pytest.raises(ValueError, match="exceeds the series length"):
        prepare_data(cfg, signal=_signal(T=60))
    # windows fit, but the horizon - 1 windows dropped between the parts leave no test part: the
    # error names the horizon and the windows, not the ratios
    cfg = TemporalConfig(dataset="losloop", lags=4, horizon=30).resolved()
    with pytest.raises(ValueError, match=r"60 time steps give 27 windows.*horizon=30.*29 windows \(horizon - 1\)"
                                         r".*use a shorter horizon or fewer lags"):
        prepare_data(cfg, signal=_signal(T=60))
    # one window (lags + horizon = T), or too few for the gap: no train_ratio helps, so the error
    # names lags and horizon (was: "train_ratio=0.8 of n=1 leaves no training samples")
    for lags, horizon, windows in ((4, 56, 1), (56, 4, 1), (30, 30, 1), (1, 58, 2), (59, 1, 1)):
        cfg = TemporalConfig(dataset="losloop", lags=lags, horizon=horizon).resolved()
        with pytest.raises(ValueError, match=rf"60 time steps give {windows} windows? of lags={lags} in and "
                                             rf"horizon={horizon} ahead.*at any train_ratio; use a shorter "
                                             rf"horizon or fewer lags"):
            prepare_data(cfg, signal=_signal(T=60))
    # other split errors keep their own message (no advice about the horizon)
    cfg = TemporalConfig(dataset="losloop", lags=4, horizon=1, train_ratio=0.001, val_ratio=0.0).resolved()
    with pytest.raises(ValueError, match=r"^train_ratio=0.001 of n=56 leaves no training samples"):
        prepare_data(cfg, signal=_signal(T=60))
    with pytest.raises(ValueError, match="non-finite"):
        prepare_data(TemporalConfig(dataset="losloop").resolved(), signal=_signal(nan=True))
    with pytest.raises(ValueError, match="unknown model"):
        TemporalConfig(model="dcrnn").resolved()
    with pytest.raises(ValueError, match="Unknown temporal dataset"):
        TemporalConfig(dataset="metr-la").resolved()


@needs_data
def test_chickenpox_real_file_short_run():
    cfg = TemporalConfig(dataset="chickenpox", model="tgcn", hidden=8, epochs=2, root=ROOT, progress=False)
    res = train_temporal(cfg)
    s = res.summary()
    assert s["lags"] == 4 and s["train_ratio"] == 0.2 and s["protocol"] == "sequence"
    assert res.y_true.shape[1:] == (1, 20)
    assert 0.5 < s["baselines"]["zero"]["mse"] < 1.5


def test_a_validation_share_below_one_window_is_an_error():
    cfg = TemporalConfig(dataset="losloop", lags=6, horizon=2, val_ratio=0.001).resolved()
    with pytest.raises(ValueError, match="val_ratio=0.001 .* less than one window"):
        prepare_data(cfg, signal=_signal())


def test_diverged_training_is_a_clear_error(monkeypatch):
    import gcnkit.train.temporal as temporal

    real = temporal.regression_metrics
    monkeypatch.setattr(temporal, "regression_metrics", lambda y, p: {**real(y, p), "rmse": float("nan")})
    cfg = TemporalConfig(dataset="losloop", lags=6, horizon=2, hidden=4, epochs=2, batch_size=16,
                         progress=False, val_ratio=0.2)
    with pytest.raises(RuntimeError, match="diverged: no epoch of 2 had a finite validation RMSE"):
        train_temporal(cfg, data=prepare_data(cfg.resolved(), signal=_signal()))


def test_diverged_training_without_a_validation_part_is_a_clear_error():
    # nothing chose an epoch on validation: the last one's NaN forecasts used to be reported
    cfg = TemporalConfig(dataset="losloop", lags=6, horizon=2, hidden=4, epochs=2, batch_size=16,
                         progress=False, val_ratio=0.0, lr=1e30)
    with pytest.raises(RuntimeError, match="diverged: the model of epoch 2 predicts NaN or inf on the test"):
        train_temporal(cfg, data=prepare_data(cfg.resolved(), signal=_signal()))


def _fast_cfg(**kwargs):
    # a large learning rate: the validation RMSE falls, then goes up and down (seed 0: best at
    # epoch 8 of 12, and no improvement from epoch 3 to 5); no schedule, so the first epochs of a
    # longer run are those of a shorter one
    kw = dict(dataset="losloop", model="tgcn", lags=6, horizon=2, hidden=8, epochs=12, batch_size=8, lr=0.1,
              progress=False, val_ratio=0.2, lr_schedule="none")
    return TemporalConfig(**{**kw, **kwargs})


def test_test_metrics_are_those_of_the_best_validation_epoch(single_thread):
    cfg = _fast_cfg()
    long = train_temporal(cfg, data=prepare_data(cfg.resolved(), signal=_signal()))
    val = [r["val_rmse"] for r in long.history]
    best = min(range(len(val)), key=val.__getitem__) + 1
    assert long.best_epoch == best < long.epochs == 12  # the last epoch is not the best one
    # the same run stopped at the best epoch ends in the best epoch's state
    short = train_temporal(_fast_cfg(epochs=best), data=prepare_data(cfg.resolved(), signal=_signal()))
    assert [r["val_rmse"] for r in short.history] == val[:best]  # the same epochs
    assert short.best_epoch == best
    assert long.metrics == short.metrics
    torch.testing.assert_close(long.y_pred, short.y_pred, rtol=0, atol=0)
    assert long.val_metrics["rmse"] == val[best - 1]
    # and the last epoch's model would have given other test numbers
    assert long.metrics["rmse"] != regression_metrics(long.y_true, _last_epoch_prediction(cfg))["rmse"]


def _last_epoch_prediction(cfg):
    """Test predictions (unscaled) of the model as it is after the last epoch, from the checkpoint
    the run writes (which holds the last state, beside the best one)."""
    import tempfile
    from pathlib import Path

    from gcnkit.train.temporal import build_model

    rcfg = cfg.resolved()
    data = prepare_data(rcfg, signal=_signal())
    with tempfile.TemporaryDirectory() as d:
        ckpt = Path(d) / "checkpoint.pt"
        train_temporal(cfg, data=data, checkpoint=ckpt)
        state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == rcfg.epochs
    model = build_model(rcfg.model, 1, rcfg.hidden, rcfg.horizon)
    model.load_state_dict(state["model"])
    return data.inverse(predict(model, data, rcfg, data.test))


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_patience_stops_exactly_patience_epochs_after_the_last_improvement(patience, single_thread):
    records = []
    cfg = _fast_cfg(epochs=30, patience=patience)
    res = train_temporal(cfg, data=prepare_data(cfg.resolved(), signal=_signal()), on_epoch=records.append)
    val = [r["val_rmse"] for r in records]
    # reference: the first epoch e with `patience` epochs since the best (strictly lower) RMSE
    best_epoch, best, expected = 0, float("inf"), None
    for e, v in enumerate(val, start=1):
        if v < best:
            best_epoch, best = e, v
        if e - best_epoch >= patience:
            expected = e
            break
    assert expected is not None and expected < 30  # patience fired before the last epoch
    assert res.epochs == len(records) == expected
    assert res.best_epoch == best_epoch == expected - patience


def test_self_loop_options_would_change_nothing_for_the_chebyshev_models():
    # why they are refused for gconvgru/gconvlstm: ChebyshevConv builds L from A without its
    # self-loops, so the same model on A and on A + 7I gives the same outputs
    sig = _signal(T=30, N=6)
    outs, weights = [], []
    for weight in (1.0, 7.0):
        # the data TGCN's configuration gives (its operator sees the self-loops: accepted), fed to
        # GConvGRU, whose configuration refuses the option
        tgcn = TemporalConfig(dataset="losloop", model="tgcn", lags=4, horizon=1, hidden=8, self_loop_weight=weight)
        assert tgcn.resolved().self_loop_weight == weight
        with pytest.raises(ValueError, match="self_loop"):
            replace(tgcn, model="gconvgru").resolved()
        data = prepare_data(tgcn, signal=sig)
        weights.append(data.edge_weight)
        torch.manual_seed(0)
        model = build_model("gconvgru", data.x.size(-1), 8, 1, K=1)
        outs.append(model(data.x[:5], data.edge_index, data.edge_weight, return_sequence=False)[0])
    assert not torch.equal(weights[0], weights[1])  # A + I against A + 7I
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_metrics_json_is_strict_json_with_null_for_undefined_values(tmp_path):
    # constant validation targets: validation R² is undefined (NaN) in every epoch's record
    from gcnkit.train.temporal_report import summary_json, write_temporal_reports

    sig = _signal(T=60, N=4)
    sig.series[36:50] = 1.0
    cfg = TemporalConfig(dataset="pedalme", model="tgcn", epochs=2, hidden=4, progress=False, protocol="windows",
                         train_ratio=0.8, val_ratio=0.2, lags=4, horizon=1).resolved()
    data = prepare_data(cfg, signal=sig)
    assert bool((data.y_raw[data.val] == 1).all())
    res = train_temporal(cfg, data=data)
    assert any(math.isnan(v) for rec in res.history for v in rec.values() if isinstance(v, float))

    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    doc = strict(write_temporal_reports(res, tmp_path)["json"].read_text())
    assert len(doc["history"]) == 2 and any(v is None for rec in doc["history"] for v in rec.values())
    strict(summary_json(res))


def test_a_run_stopped_by_patience_is_not_trained_further_on_resume(tmp_path, single_thread):
    # the checkpoint of a run that patience stopped is marked done: running it again only
    # evaluates (one more epoch of training would stop again, with other numbers)
    cfg = _fast_cfg(epochs=30, patience=2)
    ckpt = tmp_path / "checkpoint.pt"
    first = train_temporal(cfg, data=prepare_data(cfg.resolved(), signal=_signal()), checkpoint=ckpt)
    assert first.epochs < 30  # patience fired
    records = []
    again = train_temporal(cfg, data=prepare_data(cfg.resolved(), signal=_signal()), checkpoint=ckpt,
                           on_epoch=records.append)
    assert again.epochs == first.epochs and again.best_epoch == first.best_epoch
    assert again.metrics == first.metrics
    assert [r["epoch"] for r in records] == list(range(1, first.epochs + 1))  # the restored records only
    assert torch.load(ckpt, weights_only=True)["epoch"] == first.epochs


def test_a_tie_in_validation_keeps_the_earliest_epoch(single_thread, monkeypatch):
    # validation RMSE the same at every epoch (the validation predictions held at zero): the first
    # epoch stays the best, so patience counts from it and the test numbers are epoch 1's model
    import gcnkit.train.temporal as temporal

    real = temporal.make_predict
    monkeypatch.setattr(temporal, "make_predict", lambda model, data, cfg, idx: (
        (lambda: torch.zeros_like(real(model, data, cfg, idx)())) if idx is data.val else real(model, data, cfg, idx)))
    cfg = _fast_cfg(epochs=12, patience=3)
    run = train_temporal(cfg, data=prepare_data(cfg.resolved(), signal=_signal()))
    assert len({r["val_rmse"] for r in run.history}) == 1
    assert run.best_epoch == 1 and run.epochs == 4
    first = train_temporal(_fast_cfg(epochs=1), data=prepare_data(cfg.resolved(), signal=_signal()))
    assert run.metrics == first.metrics


def test_a_users_signal_under_its_own_name_trains(single_thread):
    # was: prepare_data took it, then train_temporal refused "Unknown temporal dataset 'my_sensors'"
    sig = _signal()
    cfg = TemporalConfig(dataset="my_sensors", model="tgcn", epochs=2, hidden=4, progress=False)
    res = train_temporal(cfg, data=prepare_data(cfg, signal=sig))
    assert res.epochs == 2 and math.isfinite(res.metrics["rmse"])
    assert res.config["lags"] == 4 and res.config["dataset"] == "my_sensors"  # a user's own signal's defaults
    with pytest.raises(ValueError, match="my_sensors"):  # without the data it names nothing gcnkit has
        train_temporal(cfg)


def test_the_windows_of_data_train_are_those_trained_on(single_thread):
    # was: windows 0..len(train)-1 whatever data.train said (here 40..79): the baselines, fitted on
    # data.train, and the model saw different windows
    import torch.nn.functional as F

    from gcnkit.train.temporal_epoch import make_train_epoch

    cfg = TemporalConfig(dataset="losloop", lags=4, horizon=1, batch_size=8, scaler="none", hidden=4).resolved()
    data = replace(prepare_data(cfg, signal=_signal(T=120)), train=range(40, 80))
    torch.manual_seed(0)
    model = build_model("tgcn", 1, 4, 1)
    epoch = make_train_epoch(model, torch.optim.SGD(model.parameters(), lr=0.0), data, cfg,
                             torch.Generator().manual_seed(1))

    def mse(idx):
        with torch.no_grad():
            out, _ = model(data.x[idx], data.edge_index, data.edge_weight, return_sequence=False)
            return F.mse_loss(out.permute(0, 2, 1), data.y[idx]).item()

    assert epoch() == pytest.approx(mse(torch.arange(40, 80)), rel=1e-5)
    assert abs(mse(torch.arange(40, 80)) - mse(torch.arange(0, 40))) > 1e-3  # (the test can tell them apart)
    seq = replace(cfg, protocol="sequence", batch_size=32)
    with pytest.raises(ValueError, match=r"data.train must be range\(0, stop\), got range\(40, 80\)"):
        make_train_epoch(model, torch.optim.SGD(model.parameters(), lr=0.0), data, seq, torch.Generator())
