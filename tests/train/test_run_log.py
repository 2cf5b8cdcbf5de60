"""``runs.csv`` read back to resume: typed rows, one per run, torn lines not counted (the
ablation's end-to-end resume tests are in test_runner.py)."""
import pytest

from gcnkit.train.run_log import RUN_FIELDS, RunLog


def _row(dataset="Cora", model="kipf", seed=0, acc=81.0):
    return {"dataset": dataset, "model": model, "seed": seed, "test_acc": acc, "val_acc": 79.0,
            "epochs": 200, "ms_per_epoch": 1.5}


def test_rows_come_back_typed_and_in_order(tmp_path):
    log = RunLog(tmp_path / "runs.csv")
    assert log.read() == []
    for seed in (3, 1, 2):
        log.append(_row(seed=seed, acc=80.0 + seed))
    rows = log.read()
    assert [r["seed"] for r in rows] == [3, 1, 2]
    assert rows[0] == _row(seed=3, acc=83.0)
    assert (tmp_path / "runs.csv").read_text().splitlines()[0] == ",".join(RUN_FIELDS)


def test_a_run_logged_twice_counts_once_and_the_first_is_kept(tmp_path):
    log = RunLog(tmp_path / "runs.csv")
    log.append(_row(seed=0, acc=81.0))
    log.append(_row(seed=0, acc=82.0))  # two processes sharing a folder (before the lock)
    log.append(_row(model="mlp", seed=0))
    rows = log.read()
    assert [(r["model"], r["seed"], r["test_acc"]) for r in rows] == [("kipf", 0, 81.0), ("mlp", 0, 81.0)]


@pytest.mark.parametrize("spelling", ["Cora", "CORA", "cora"])
def test_older_spellings_of_a_dataset_are_the_same_dataset(tmp_path, spelling):
    log = RunLog(tmp_path / "runs.csv")
    log.append(_row(dataset=spelling, seed=0))
    log.append(_row(dataset="Cora", seed=0))
    assert [(r["dataset"], r["seed"]) for r in log.read()] == [("Cora", 0)]


def test_an_unterminated_last_row_is_not_a_finished_run(tmp_path):
    log = RunLog(tmp_path / "runs.csv")
    log.append(_row(seed=0))
    log.append(_row(seed=1))
    path = tmp_path / "runs.csv"
    path.write_bytes(path.read_bytes()[:-3])  # cut inside ms_per_epoch: "1." still parses
    assert [r["seed"] for r in log.read()] == [0]
    log.append(_row(seed=1))  # redone: the torn line is cut off first
    assert [r["seed"] for r in log.read()] == [0, 1]
    assert path.read_text().count("\n") == 3
