"""``gcnkit temporal``: arguments -> config -> library calls; JSON, table, CSV/JSON files, PNG."""
import argparse
import json

import pytest

from gcnkit.cli import temporal as cli


from gcnkit_test_data import find_shared_data_root  # tests/gcnkit_test_data.py  # noqa: E402

_root = find_shared_data_root()
ROOT = None if _root is None else str(_root)
pytestmark = pytest.mark.skipif(ROOT is None, reason="shared temporal datasets not found")


@pytest.fixture(autouse=True)
def _restore_threads():
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="gcnkit")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["temporal", *argv])


def _common(tmp_path):
    return ["--root", ROOT, "--out", str(tmp_path / "out"), "--threads", "1", "--no-progress",
            "--epochs", "2", "--hidden", "4"]


def test_json_output_and_files(tmp_path, capsys):
    args = _parse(["--dataset", "chickenpox", "--model", "gconvgru", "--json", *_common(tmp_path)])
    assert args.run(args) == 0
    out = json.loads(capsys.readouterr().out.strip())
    for key in ("dataset", "model", "rmse", "mae", "accuracy", "r2", "var", "epochs", "ms_per_epoch"):
        assert key in out
    assert out["dataset"] == "chickenpox" and out["model"] == "gconvgru" and out["epochs"] == 2
    folder = tmp_path / "out"
    for name in ("config.json", "history.csv", "metrics.json", "results.csv", "predictions.png"):
        assert (folder / name).stat().st_size > 0
    assert len((folder / "history.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs
    assert (folder / "predictions.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((folder / "config.json").read_text())["lags"] == 4


def test_table_output(tmp_path, capsys):
    args = _parse(["--dataset", "chickenpox", "--model", "tgcn_pygt", "--train-ratio", "0.8", *_common(tmp_path)])
    assert cli.run(args) == 0
    text = capsys.readouterr().out
    assert "baseline:linear_ar" in text and "tgcn_pygt" in text and "rmse" in text
    assert "; best epoch " in text and "of 2 (validation RMSE)" in text
    args = _parse(["--dataset", "chickenpox", "--model", "tgcn", "--val-ratio", "0", *_common(tmp_path)[:3],
                   str(tmp_path / "no_val"), *_common(tmp_path)[4:]])
    assert cli.run(args) == 0
    text = capsys.readouterr().out
    assert "; last epoch 2 (no validation part)," in text and "validation RMSE" not in text


def test_config_from_args_and_bad_arguments(tmp_path):
    cfg = cli.config_from_args(_parse(["--dataset", "losloop", "--model", "tgcn"]))
    assert (cfg.lags, cfg.horizon, cfg.hidden, cfg.protocol, cfg.scaler) == (12, 3, 64, "windows", "standard")
    assert (cfg.self_loops, cfg.self_loop_weight, cfg.lr_schedule) == ("add", 2.0, "cosine")
    cfg = cli.config_from_args(_parse(["--dataset", "losloop", "--scaler", "max", "--self-loops", "keep",
                                       "--lr-schedule", "none", "--self-loop-weight", "1"]))
    assert (cfg.scaler, cfg.self_loops, cfg.self_loop_weight, cfg.lr_schedule) == ("max", "keep", 1.0, "none")
    assert cli.config_from_args(_parse(["--dataset", "chickenpox"])).self_loops == "keep"
    assert cli.config_from_args(_parse(["--dataset", "chickenpox"])).cuda_graph is False
    with pytest.raises(SystemExit):
        _parse(["--self-loops", "double"])
    with pytest.raises(SystemExit):
        _parse(["--model", "dcrnn"])
    with pytest.raises(ValueError, match="^--lags=400 \\+ --horizon=200 = 600 exceeds the series length"):
        args = _parse(["--dataset", "chickenpox", "--lags", "400", "--horizon", "200", *_common(tmp_path)])
        cli.run(args)


def test_main_entry_point(tmp_path, capsys):
    from gcnkit.cli import main

    code = main.main(["temporal", "--dataset", "chickenpox", "--model", "tgcn", "--json", *_common(tmp_path)])
    assert code == 0 and json.loads(capsys.readouterr().out.strip())["model"] == "tgcn"


@pytest.mark.parametrize("flag, value, match", [("--clip", "-1", "clip must be a positive"),
                                                ("--clip", "0", "clip must be a positive"),
                                                ("--patience", "-1", "patience must be >= 0"),
                                                ("--tbptt", "-3", "tbptt must be >= 0"),
                                                ("--nodes", "99", r"--nodes must be one or more of 0\.\.19"),
                                                ("--nodes", "-1", r"--nodes must be one or more of 0\.\.19"),
                                                # the flags' names, not TemporalConfig's fields
                                                ("--train-ratio", "1.5", r"^--train-ratio must be in \(0, 1\)"),
                                                ("--epochs", "0", "^--epochs must be >= 1"),
                                                ("--seed", str(2 ** 64), f"^--seed must be <= {2 ** 63 - 1}"),
                                                ("--self-loop-weight", "-1", "^--self-loop-weight must be"),
                                                # chickenpox has a loop at every node: under keep, 7 = 1
                                                ("--self-loop-weight", "7", "^--self-loop-weight=7.0 would change "
                                                                            "nothing: with --self-loops='keep'"),
                                                ("--batch-size", "8", "^--batch-size=8 applies to the windows"),
                                                ("--train-ratio", "0.001", "^--train-ratio=0.001 of n=517 leaves"),
                                                ("--val-ratio", "0.0001", r"--val-ratio=0.0001 .*\(--train-ratio=0.2"),
                                                ("--cuda-graph", None, "^--cuda-graph needs a CUDA device, not "
                                                                       "--device='cpu'")])
def test_bad_settings_fail_before_training(tmp_path, flag, value, match):
    # --clip -1 used to train uphill (torch flips the gradients' sign), --nodes 99 to fail only
    # after training
    args = _parse(["--dataset", "chickenpox", *_common(tmp_path), flag, *([] if value is None else [value])])
    with pytest.raises(ValueError, match=match):
        cli.run(args)
    assert not (tmp_path / "out" / "history.csv").exists()


@pytest.mark.parametrize("below", ["", "sub"])
def test_an_output_folder_that_is_a_file_fails_before_training(tmp_path, below):
    (tmp_path / "taken").write_text("a file")
    args = _parse(["--dataset", "chickenpox", "--root", ROOT, "--no-progress", "--epochs", "1",
                   "--out", str(tmp_path / "taken" / below)])
    match = "is a file$" if not below else "cannot be made: .*taken is a file"
    with pytest.raises(ValueError, match=match):
        cli.run(args)


def test_interrupted_run_resumes_to_the_uninterrupted_numbers(tmp_path, capsys, monkeypatch):
    from gcnkit.cli.main import main
    from gcnkit.train import temporal_report

    common = ["--dataset", "chickenpox", "--root", ROOT, "--threads", "1", "--no-progress", "--epochs", "4",
              "--hidden", "4", "--json", "--seed", "3"]
    assert main(["temporal", *common, "--out", str(tmp_path / "whole")]) == 0
    whole = json.loads(capsys.readouterr().out)

    real = temporal_report.HistoryWriter.__call__

    def ctrl_c_after_epoch_2(self, record):
        real(self, record)
        if record["epoch"] == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(temporal_report.HistoryWriter, "__call__", ctrl_c_after_epoch_2)
    out = tmp_path / "cut"
    assert main(["temporal", *common, "--out", str(out)]) == 130
    assert "run the same command to resume" in capsys.readouterr().err
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 2
    monkeypatch.setattr(temporal_report.HistoryWriter, "__call__", real)
    assert main(["temporal", *common, "--out", str(out)]) == 0
    resumed = json.loads(capsys.readouterr().out)
    for key in ("rmse", "mae", "mse", "epochs", "best_epoch"):
        assert resumed[key] == whole[key], key
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 4 and [h.split(",")[0] for h in history[1:]] == ["1", "2", "3", "4"]
    # a finished run is reused, not retrained; another configuration in the same folder is refused
    assert main(["temporal", *common, "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["rmse"] == whole["rmse"]
    assert main(["temporal", *common, "--out", str(out), "--lr", "0.05"]) == 1
    assert "checkpoint of another configuration (--lr=0.01 there, 0.05 now)" in capsys.readouterr().err
    # "cpu:0" is the same device: the finished run is reused, not refused as another configuration
    assert main(["temporal", *common, "--out", str(out), "--device", "cpu:0"]) == 0
    assert json.loads(capsys.readouterr().out)["rmse"] == whole["rmse"]
    # the messages name flags, --model too
    assert main(["temporal", *common, "--out", str(out), "--model", "tgcn_pygt"]) == 1
    assert "--model='tgcn' there, 'tgcn_pygt' now" in capsys.readouterr().err


def test_messages_name_flags_before_comparisons(tmp_path):
    args = _parse(["--dataset", "chickenpox", *_common(tmp_path), "--val-ratio", "0", "--patience", "3"])
    with pytest.raises(ValueError, match=r"needs a validation part \(--val-ratio > 0\)"):
        cli.run(args)


def test_a_second_run_on_a_busy_folder_is_refused(tmp_path):
    # two runs on one --out used to interleave their epochs in history.csv and mix their files
    from gcnkit.data.lock import folder_lock

    args = _parse(["--dataset", "pedalme", *_common(tmp_path)])
    out = tmp_path / "out"
    with folder_lock(out):  # as a running `gcnkit temporal` holds it (flock: per open file)
        with pytest.raises(ValueError, match="is in use by another gcnkit temporal run"):
            cli.run(args)
    assert not (out / "history.csv").exists() and not (out / "config.json").exists()
    assert cli.run(args) == 0 and (out / "metrics.json").exists()


def test_a_quoted_tilde_in_out_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    args = _parse(["--dataset", "pedalme", "--root", ROOT, "--out=~/t", "--threads", "1", "--no-progress",
                   "--epochs", "2", "--hidden", "4"])
    assert cli.run(args) == 0
    assert (tmp_path / "home" / "t" / "metrics.json").exists() and not (tmp_path / "~").exists()


def test_nodes_past_the_last_node_fail_before_training(tmp_path):
    # chickenpox has 20 nodes: node 20 is one past the last (0..19)
    args = _parse(["--dataset", "chickenpox", *_common(tmp_path), "--nodes", "0", "20"])
    with pytest.raises(ValueError, match=r"--nodes must be one or more of 0\.\.19"):
        cli.run(args)
    assert not (tmp_path / "out" / "history.csv").exists()


def test_a_refused_configuration_leaves_the_runs_files_alone(tmp_path):
    # another configuration in a run's folder is refused before anything is written there: the
    # folder's config.json still describes its checkpoint
    assert cli.run(_parse(["--dataset", "chickenpox", *_common(tmp_path)])) == 0
    out = tmp_path / "out"
    config = (out / "config.json").read_text()
    with pytest.raises(ValueError, match="checkpoint of another configuration"):
        cli.run(_parse(["--dataset", "chickenpox", *_common(tmp_path), "--lr", "0.05"]))
    assert (out / "config.json").read_text() == config
    assert json.loads(config)["lr"] == 0.01
