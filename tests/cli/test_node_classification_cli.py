"""``gcnkit train`` / ``gcnkit ablate``: output formats, files, resume, errors."""
import csv
import json
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


def test_train_json_on_cora(shared_data_root, capsys):
    assert main(["train", "--dataset", "Cora", "--seeds", "2", "--epochs", "5", "--root",
                 str(shared_data_root), "--json", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("dataset", "model", "seeds", "test_acc_mean", "test_acc_std", "epochs_mean", "ms_per_epoch"):
        assert key in out
    assert out["seeds"] == 2 and out["epochs_mean"] == 5 and 0 < out["test_acc_mean"] <= 100
    assert out["paper"] == 81.5


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


def test_python_m_gcnkit_entry_point():
    r = subprocess.run([sys.executable, "-m", "gcnkit", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "ablate" in r.stdout
