"""``gcnkit train`` / ``gcnkit ablate``: output formats, files, resume, errors."""
import csv
import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from gcnkit.cli.main import main


def test_help_explains_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "train" in out and "ablate" in out and "GCNKIT_DATA" in out
    for cmd in ("train", "ablate"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "--seeds" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["temporal", "--help"])
    assert "--horizon" in capsys.readouterr().out


def test_version_flag(capsys):
    import gcnkit
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"gcnkit {gcnkit.__version__}\n"
    assert gcnkit.__version__ == version("gcnkit")  # the package's metadata and the module agree


def test_train_json_on_cora(shared_data_root, capsys):
    assert main(["train", "--dataset", "Cora", "--seeds", "2", "--epochs", "5", "--root",
                 str(shared_data_root), "--json", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("dataset", "model", "seeds", "test_acc_mean", "test_acc_std", "epochs_mean", "ms_per_epoch"):
        assert key in out
    assert out["seeds"] == 2 and out["epochs_mean"] == 5
    assert 30 < out["test_acc_mean"] <= 100  # 5 epochs train (about 45%); without training about 20%
    assert out["paper"] == 81.5 and out["protocol_changes"] == ["epochs=5"]
    assert out["device"] == "cpu" and out["cuda_graph"] is False and out["seed_batch"] == 10
    # one model at a time gives the same runs
    assert main(["train", "--dataset", "Cora", "--seeds", "2", "--epochs", "5", "--root",
                 str(shared_data_root), "--json", "--threads", "1", "--seed-batch", "1"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["seed_batch"] == 1
    assert [(r["test_acc"], r["epochs"]) for r in one["runs"]] == [(r["test_acc"], r["epochs"]) for r in out["runs"]]
    # and so does computing every node in each pass
    assert main(["train", "--dataset", "Cora", "--seeds", "2", "--epochs", "5", "--root",
                 str(shared_data_root), "--json", "--threads", "1", "--whole-graph"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["receptive_field"] is False and out["receptive_field"] is True
    assert [(r["test_acc"], r["epochs"]) for r in whole["runs"]] == [(r["test_acc"], r["epochs"]) for r in out["runs"]]


def test_train_text_says_when_the_protocol_is_not_the_papers(shared_data_root, capsys):
    args = ["train", "--dataset", "Cora", "--seeds", "1", "--root", str(shared_data_root), "--threads", "1"]
    assert main(args + ["--epochs", "3", "--hidden", "8"]) == 0
    assert "(paper: 81.5, with its protocol; here hidden=8, epochs=3)" in capsys.readouterr().out
    assert main(args + ["--early-stopping", "10"]) == 0  # the paper's protocol, spelled out
    assert "(paper: 81.5) over 1 seed;" in capsys.readouterr().out


def test_train_table_on_csbm(capsys):
    assert main(["train", "--dataset", "csbm", "--seeds", "2", "--epochs", "20", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "csbm / kipf: test accuracy" in out and "ms/epoch" in out


def test_missing_files_give_clear_error(tmp_path, capsys, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*a, **k):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main(["train", "--dataset", "Cora", "--root", str(tmp_path), "--seeds", "1"]) == 1
    err = capsys.readouterr().err
    assert "ind.cora" in err and str(tmp_path) in err


def test_unknown_model_is_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--model", "gat"])
    assert "invalid choice" in capsys.readouterr().err


def _ablate(out, root, *extra):
    return main(["ablate", "--datasets", "Cora", "csbm", "--models", "kipf", "mlp", "--seeds", "2",
                 "--epochs", "3", "--out", str(out), "--root", str(root), "--workers", "1",
                 "--no-progress", *extra])


def test_ablate_writes_tables_and_resumes(shared_data_root, tmp_path, capsys):
    out = tmp_path / "abl"
    assert _ablate(out, shared_data_root) == 0
    printed = capsys.readouterr().out
    assert "Renormalization trick" in printed and "(81.5)" in printed
    assert "this run differs: epochs=3." in printed
    assert "this run differs: epochs=3." in (out / "summary.md").read_text()
    assert all(r["protocol_note"].endswith("this run differs: epochs=3")
               for r in json.loads((out / "summary.json").read_text()))
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.columns[:6]) == ["dataset", "model", "seed", "test_acc", "val_acc", "epochs"]
    assert len(runs) == 8 and "ms_per_epoch" in runs
    summary = pd.read_csv(out / "summary.csv")
    assert {"dataset", "model", "mean", "std", "paper"} <= set(summary.columns)
    assert summary.set_index(["dataset", "model"]).loc[("Cora", "kipf"), "paper"] == 81.5
    assert json.loads((out / "summary.json").read_text())
    assert "Renormalization trick" in (out / "summary.md").read_text()
    assert (out / "ablation.png").read_bytes()[:4] == b"\x89PNG"

    # an interrupted run: drop two finished rows and leave a torn line, then resume
    lines = (out / "runs.csv").read_text().splitlines()
    (out / "runs.csv").write_text("\n".join(lines[:-2]) + "\nCora,kipf,1,8")
    before = {(r["dataset"], r["model"], r["seed"]) for r in csv.DictReader(open(out / "runs.csv"))
              if r.get("ms_per_epoch")}
    assert len(before) == 6
    assert _ablate(out, shared_data_root) == 0
    runs2 = pd.read_csv(out / "runs.csv").dropna()
    assert len(runs2) == 8
    # finished runs were kept as they were, not redone
    old = runs.set_index(["dataset", "model", "seed"])
    new = runs2.set_index(["dataset", "model", "seed"])
    for key in before:
        k = (key[0], key[1], int(key[2]))
        assert new.loc[k, "ms_per_epoch"] == pytest.approx(old.loc[k, "ms_per_epoch"])


def test_ablate_refuses_other_protocol_in_same_dir(shared_data_root, tmp_path, capsys):
    out = tmp_path / "abl"
    assert _ablate(out, shared_data_root) == 0
    assert _ablate(out, shared_data_root, "--hidden", "32") == 1
    assert "another protocol" in capsys.readouterr().err


def test_ablate_canonical_names_and_repeats_run_once(tmp_path, capsys):
    out = tmp_path / "dup"
    args = ["ablate", "--models", "kipf", "kipf", "--seeds", "2", "--epochs", "3", "--out", str(out),
            "--workers", "1", "--no-progress"]
    assert main([*args, "--datasets", "karate", "karate_club", "KARATE"]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs["seed"]) == [0, 1] and set(runs["dataset"]) == {"karate"}
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 1 and summary["runs"][0] == 2
    assert summary["mean"][0] == pytest.approx(runs["test_acc"].mean())
    assert summary["std"][0] == pytest.approx(runs["test_acc"].std(ddof=1))
    assert main([*args, "--datasets", "Karate"]) == 0  # same dataset, nothing redone
    assert len(pd.read_csv(out / "runs.csv")) == 2
    # --first-seed 1 --seeds 2: seeds 1 and 2, so only seed 2 is new
    assert main([*args, "--datasets", "karate", "--first-seed", "1"]) == 0
    assert sorted(pd.read_csv(out / "runs.csv")["seed"]) == [0, 1, 2]
    assert main([*args, "--datasets", "karate", "--first-seed", "-5"]) == 1  # named as the flag
    assert "--first-seed must be >= 0, got -5" in capsys.readouterr().err
    assert main([*args, "--datasets", "karate", "--first-seed", str(2 ** 64 - 1)]) == 1  # was "Overflow when
    assert "--first-seed + --seeds - 1 must be <= 9223372036854775807" in capsys.readouterr().err  # unpacking"
    (out / "runs.csv").write_text("\n".join((out / "runs.csv").read_text().splitlines()[:3]) + "\n")
    # rows of older versions under another spelling count as the same dataset
    from gcnkit.train.run_log import RunLog
    lines = (out / "runs.csv").read_text().splitlines()
    renamed = [line.replace("karate", "KarateClub", 1) for line in lines[1:]]
    (out / "runs.csv").write_text("\n".join([lines[0]] + renamed) + "\n")
    assert {r["dataset"] for r in RunLog(out / "runs.csv").read()} == {"karate"}
    # a run logged twice (two processes sharing --out) counts once
    with open(out / "runs.csv", "a") as f:
        f.write(open(out / "runs.csv").read().splitlines()[1] + "\n")
    from gcnkit.train.run_log import RunLog
    assert len(RunLog(out / "runs.csv").read()) == 2


def test_ablate_failed_start_does_not_lock_the_folder(tmp_path, capsys):
    out = tmp_path / "lock"
    base = ["ablate", "--models", "kipf", "--seeds", "1", "--epochs", "3", "--out", str(out), "--workers", "1",
            "--no-progress"]
    assert main([*base, "--datasets", "karat"]) == 1  # a typo: clear error, nothing written
    assert "Unknown dataset 'karat'" in capsys.readouterr().err and not (out / "config.json").exists()
    assert main([*base, "--datasets", "karate", "--hidden", "8"]) == 0
    (out / "runs.csv").unlink()  # a folder without finished runs takes any protocol
    assert main([*base, "--datasets", "karate"]) == 0
    assert main([*base, "--datasets", "karate", "--hidden", "32"]) == 1
    err = capsys.readouterr().err
    assert "another protocol (hidden=16 there, 32 now)" in err


@pytest.mark.parametrize("argv, match", [
    (["train", "--dataset", "karate", "--early-stopping", "-2"], "--early-stopping must be >= 0"),
    (["train", "--dataset", "karate", "--weight-decay", "-1"], "--weight-decay must be finite and >= 0"),
    (["train", "--dataset", "karate", "--layers", "0"], "--layers must be >= 1"),
    (["train", "--dataset", "karate", "--threads", "0"], "--threads must be >= 1"),
    (["ablate", "--datasets", "karate", "--workers", "0"], "--workers must be >= 1"),
    (["train", "--dataset", "karate", "--seed-batch", "0"], "--seed-batch must be >= 1"),
    (["ablate", "--datasets", "karate", "--seed-batch", "-1"], "--seed-batch must be >= 1"),
])
def test_negative_or_zero_settings_are_rejected(argv, match, tmp_path, capsys):
    assert main([*argv, "--epochs", "2"] + (["--out", str(tmp_path / "o")] if argv[0] == "ablate" else [])) == 1
    assert match in capsys.readouterr().err


def test_unusable_out_path_is_an_error_not_a_traceback(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    for out, says in ((f, f"the output folder {f} is a file"),
                      (f / "sub", f"the output folder {f / 'sub'} cannot be made: {f} is a file")):
        assert main(["ablate", "--datasets", "karate", "--models", "kipf", "--seeds", "1", "--epochs", "2",
                     "--out", str(out), "--workers", "1", "--no-progress"]) == 1
        assert f"gcnkit ablate: error: {says}\n" == capsys.readouterr().err


def test_python_m_gcnkit_entry_point():
    r = subprocess.run([sys.executable, "-m", "gcnkit", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "ablate" in r.stdout


def test_every_protocol_flag_reaches_the_training_config():
    """Each flag of the training protocol sets its own field of ``TrainConfig``; the defaults are
    Kipf & Welling's protocol."""
    from gcnkit.cli.main import build_parser
    from gcnkit.cli.node_classification import _config
    from gcnkit.train.node_classification import TrainConfig

    parser = build_parser()
    args = parser.parse_args(["train", "--model", "cheb2", "--hidden", "32", "--layers", "3", "--dropout", "0.3",
                              "--lr", "0.02", "--weight-decay", "0.001", "--epochs", "50", "--early-stopping", "5",
                              "--bias", "--feature-norm", "none", "--dense-features", "--whole-graph"])
    assert _config(args, args.model) == TrainConfig(
        model="cheb2", hidden=32, num_layers=3, dropout=0.3, lr=0.02, weight_decay=0.001, epochs=50,
        early_stopping=5, bias=True, feature_norm="none", sparse_features=False, receptive_field=False)
    assert _config(parser.parse_args(["train"])) == TrainConfig()


def test_dataset_options_reach_the_loader_and_are_part_of_the_protocol(shared_data_root, tmp_path, capsys):
    # the CSBM was usable by name only with its defaults: no homophily sweep from the command line
    from gcnkit.data import csbm
    from gcnkit.train.node_classification import TrainConfig
    from gcnkit.train.runner import run_seeds

    base = ["train", "--dataset", "csbm", "--seeds", "2", "--epochs", "20", "--threads", "1", "--json"]
    assert main(base + ["--dataset-option", "homophily=0.1", "--dataset-option", "num-nodes=400"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["dataset_options"] == {"homophily": 0.1, "num_nodes": 400}
    assert got["protocol_changes"] == ["epochs=20", "homophily=0.1", "num_nodes=400"]
    want = run_seeds("csbm", TrainConfig(epochs=20), [0, 1], progress=False, homophily=0.1, num_nodes=400)
    assert [r["test_acc"] for r in got["runs"]] == [r.test_acc for r in want]
    assert csbm(homophily=0.1, num_nodes=400).num_nodes == 400  # (the graph the options ask for)
    default = run_seeds("csbm", TrainConfig(epochs=20), [0, 1], progress=False)
    assert [r.test_acc for r in default] != [r.test_acc for r in want]
    for bad, match in ((["--dataset-option", "homophily"], "takes KEY=VALUE"),
                       (["--dataset-option", "bogus=1"], r"csbm takes no option 'bogus'; its options: num_nodes"),
                       (["--dataset-option", "snr=1", "--dataset-option", "snr=2"], "snr is given twice"),
                       (["--dataset-option", "homophily=2"], r"homophily must be in \[0, 1\]")):
        assert main(base + bad) == 1
        assert re.search(match, capsys.readouterr().err)
    out = tmp_path / "abl"
    abl = ["ablate", "--datasets", "csbm", "karate", "--models", "kipf", "--seeds", "2", "--epochs", "5",
           "--workers", "1", "--no-progress", "--out", str(out), "--dataset-option", "seed=3"]
    assert main(abl) == 0
    assert json.loads((out / "config.json").read_text())["dataset_options"] == {"seed": 3}
    assert "paper" not in (out / "summary.md").read_text().split("|")[-1]  # no paper values: no note
    assert main(["ablate", "--datasets", "Cora", "--models", "kipf", "--seeds", "1", "--epochs", "5", "--workers",
                 "1", "--no-progress", "--root", str(shared_data_root), "--out", str(tmp_path / "c"),
                 "--dataset-option", "split=full"]) == 0
    assert "this run differs: epochs=5, split='full'" in (tmp_path / "c" / "summary.md").read_text()
    assert main(abl[:-1] + ["seed=4"]) == 1  # other graphs: not mixed into the same runs.csv
    assert "dataset_options={'seed': 3} there, {'seed': 4} now" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "ablate"])
def test_a_dataset_option_named_as_a_runner_argument_is_an_unknown_option(command, tmp_path, capsys):
    # root=, progress=... met run_seeds'/prepare's own arguments: a TypeError traceback
    args = (["train", "--dataset", "karate"] if command == "train" else
            ["ablate", "--datasets", "karate", "--models", "kipf", "--out", str(tmp_path / "a"), "--no-progress"])
    assert main(args + ["--seeds", "1", "--epochs", "2", "--dataset-option", "root=x"]) == 1
    assert "karate takes no option 'root'; its options: num_train_per_class" in capsys.readouterr().err
