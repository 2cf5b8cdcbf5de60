"""gcnkit.train.runner: the ablation runner (resume semantics are also exercised through the CLI,
tests/cli/test_node_classification_cli.py)."""
import torch

from gcnkit.train.node_classification import TrainConfig
from gcnkit.train.runner import ablate


def test_in_process_ablation_restores_the_callers_thread_count(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ablate(["karate"], ["kipf"], [0], tmp_path, TrainConfig(epochs=2), workers=1, threads=1, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_ablation_returns_the_requested_runs_only(tmp_path):
    cfg = TrainConfig(epochs=2)
    first = ablate(["karate"], ["kipf", "mlp"], [0, 1], tmp_path, cfg, progress=False)
    assert sorted((r["model"], r["seed"]) for r in first) == [("kipf", 0), ("kipf", 1), ("mlp", 0), ("mlp", 1)]
    again = ablate(["Karate"], ["mlp"], [1, 2], tmp_path, cfg, progress=False)  # seed 1 logged, 2 new
    assert sorted((r["dataset"], r["model"], r["seed"]) for r in again) == [("karate", "mlp", 1), ("karate", "mlp", 2)]
    logged = [r for r in first if (r["model"], r["seed"]) == ("mlp", 1)][0]
    assert [r for r in again if r["seed"] == 1][0]["test_acc"] == logged["test_acc"]  # reused, not rerun


def test_a_damaged_header_is_refused_not_read_as_an_empty_log(tmp_path):
    import pytest

    cfg = TrainConfig(epochs=2)
    ablate(["karate"], ["kipf"], [0, 1], tmp_path, cfg, progress=False)
    log = tmp_path / "runs.csv"
    text = log.read_text()
    log.write_text(text[20:])  # the header torn, the runs intact
    with pytest.raises(ValueError, match="runs.csv does not start with the run log's header"):
        ablate(["karate"], ["kipf"], [0, 1], tmp_path, cfg, progress=False)
    assert log.read_text() == text[20:]  # nothing appended
    log.write_text("dataset,mo")  # a crash inside the very first write: nothing to lose
    rows = ablate(["karate"], ["kipf"], [0], tmp_path, cfg, progress=False)
    assert len(rows) == 1 and log.read_text().startswith("dataset,model,seed,")


def test_a_torn_last_row_is_cut_off_and_the_run_redone(tmp_path):
    import io

    import pandas as pd

    cfg = TrainConfig(epochs=2)
    ablate(["karate"], ["kipf"], [0, 1], tmp_path, cfg, progress=False)
    log = tmp_path / "runs.csv"
    whole = log.read_bytes()
    assert b"\r" not in whole  # plain "\n" line ends (csv's default would be "\r\n")
    first_row_end = whole.index(b"\n", whole.index(b"\n") + 1) + 1
    for cut in (len(whole) - 3, len(whole) - 1):  # seed 1's row torn inside its last value, or before "\n"
        log.write_bytes(whole[:cut])
        rows = ablate(["karate"], ["kipf"], [0, 1], tmp_path, cfg, progress=False)
        assert sorted(r["seed"] for r in rows) == [0, 1]
        frame = pd.read_csv(log)  # as a user reads it: no half row, no run twice
        assert frame["seed"].tolist() == [0, 1] and frame.notna().all().all()
        # redone (a row without its newline may be torn anywhere; seeded: the same numbers, another time)
        assert log.read_bytes()[:first_row_end] == whole[:first_row_end]
        ref = pd.read_csv(io.BytesIO(whole)).drop(columns="ms_per_epoch")
        pd.testing.assert_frame_equal(frame.drop(columns="ms_per_epoch"), ref)
        assert log.read_bytes().endswith(b"\n")  # the torn row was redone, not kept with a cut value
    # a row cut inside its last value parses; counted as finished, it was then cut off by the next
    # append (another model's run), and the summary lost it
    log.write_bytes(whole[:len(whole) - 3])
    rows = ablate(["karate"], ["kipf", "mlp"], [0, 1], tmp_path, cfg, progress=False)
    frame = pd.read_csv(log)
    assert sorted(zip(frame["model"], frame["seed"])) == [("kipf", 0), ("kipf", 1), ("mlp", 0), ("mlp", 1)]
    assert len(rows) == 4
    crlf = whole.replace(b"\n", b"\r\n")  # a log of earlier versions, its last row cut before "\n"
    log.write_bytes(crlf[:-1])
    ablate(["karate"], ["kipf"], [0, 1, 2], tmp_path, cfg, progress=False)  # kept: appends after the "\r"
    assert log.read_bytes().startswith(crlf) and pd.read_csv(log)["seed"].tolist() == [0, 1, 2]
    for torn in (whole[first_row_end:first_row_end + 9], b"x" * 9000):  # "karate,ki"; longer than a chunk
        log.write_bytes(whole[:first_row_end] + torn)
        ablate(["karate"], ["kipf"], [0, 1], tmp_path, cfg, progress=False)
        assert pd.read_csv(log)["seed"].tolist() == [0, 1]


def test_finished_runs_without_their_protocol_are_refused(tmp_path):
    import pytest

    cfg = TrainConfig(epochs=2)
    ablate(["karate"], ["kipf"], [0], tmp_path, cfg, progress=False)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ValueError, match="1 finished runs but no config.json"):
        ablate(["karate"], ["kipf"], [0], tmp_path, TrainConfig(epochs=2, lr=0.05), progress=False)
    (tmp_path / "config.json").write_text('{"lr": 0.0')
    with pytest.raises(ValueError, match="config.json is not a readable protocol"):
        ablate(["karate"], ["kipf"], [0], tmp_path, cfg, progress=False)


def test_summary_json_is_strict_json_with_null_for_missing_paper_values(tmp_path):
    import json

    from gcnkit.train.report import write_reports

    rows = ablate(["karate"], ["kipf", "naive"], [0], tmp_path, TrainConfig(epochs=2), progress=False)
    paths = write_reports(rows, tmp_path, ["kipf", "naive"], ["karate"])
    text = open(paths["summary_json"]).read()
    records = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert all(r["paper"] is None and r["delta"] is None and r["protocol_note"] is None for r in records)


def test_a_protocol_written_before_the_cuda_graph_toggle_resumes(tmp_path):
    # config.json of logs written before the toggle existed has no such key: they must resume
    import json

    import pytest

    cfg = TrainConfig(epochs=2)
    ablate(["karate"], ["kipf"], [0], tmp_path, cfg, progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["cuda_graph"] is False and saved["epochs"] == 2
    del saved["cuda_graph"]  # as an earlier version wrote it
    (tmp_path / "config.json").write_text(json.dumps(saved))
    rows = ablate(["karate"], ["kipf"], [0, 1], tmp_path, cfg, progress=False)
    assert [r["seed"] for r in rows] == [0, 1]
    (tmp_path / "config.json").write_text(json.dumps({**saved, "cuda_graph": True}))  # a CUDA-graph run's
    with pytest.raises(ValueError, match="cuda_graph=True there, False now"):
        ablate(["karate"], ["kipf"], [2], tmp_path, cfg, progress=False)


def test_a_folder_resumes_with_or_without_receptive_fields(tmp_path):
    # how the runs are computed, not which runs: not part of the protocol in config.json
    import json

    ablate(["karate"], ["kipf"], [0], tmp_path, TrainConfig(epochs=2), progress=False)
    assert "receptive_field" not in json.loads((tmp_path / "config.json").read_text())
    rows = ablate(["karate"], ["kipf"], [0, 1], tmp_path, TrainConfig(epochs=2, receptive_field=False),
                  progress=False)
    assert [r["seed"] for r in rows] == [0, 1]


def test_bad_names_and_seeds_are_refused_before_anything_is_written(tmp_path):
    import pytest

    out = tmp_path / "out"
    cfg = TrainConfig(epochs=1)
    with pytest.raises(ValueError, match="unknown model='KIPF'"):  # was found at the first run, files written
        ablate(["karate"], ["KIPF"], [0], out, cfg, progress=False)
    with pytest.raises(TypeError, match="models must be a list of names, got 'kipf'"):  # was k, i, p, f
        ablate(["karate"], "kipf", [0], out, cfg, progress=False)
    with pytest.raises(TypeError, match="datasets must be a list of names, got 'cora'"):
        ablate("cora", ["kipf"], [0], out, cfg, progress=False)
    with pytest.raises(TypeError, match=r"seeds must be a list \(e.g. range\(10\)\), got 3"):
        ablate(["karate"], ["kipf"], 3, out, cfg, progress=False)
    for bad in ("0", 1.7):
        with pytest.raises(TypeError, match="seed must be an integer"):
            ablate(["karate"], ["kipf"], [bad], out, cfg, progress=False)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        ablate(["karate"], ["kipf"], [-1], out, cfg, progress=False)
    with pytest.raises(ValueError, match=f"seed must be <= {2 ** 63 - 1}"):  # was an overflow from torch
        ablate(["karate"], ["kipf"], [2 ** 64 - 1], out, cfg, progress=False)
    assert not out.exists()
    rows = ablate(("karate",), iter(["kipf"]), range(1), out, cfg, progress=False)  # any iterables
    assert [(r["model"], r["seed"]) for r in rows] == [("kipf", 0)]


def test_parallel_workers_give_the_runs_of_one_process_and_resume(tmp_path):
    # the CLI's default is one worker process per core: every task must run, once, with the
    # numbers one process gives (each run is seeded), and a rerun must find them all logged
    import csv

    cfg = TrainConfig(epochs=3)
    one = ablate(["karate"], ["kipf", "mlp"], [0, 1, 2], tmp_path / "one", cfg, workers=1, progress=False)
    two = ablate(["karate"], ["kipf", "mlp"], [0, 1, 2], tmp_path / "two", cfg, workers=2, progress=False)
    key = lambda r: (r["model"], r["seed"])  # noqa: E731
    assert sorted(map(key, two)) == sorted(map(key, one)) and len(two) == 6
    for a, b in zip(sorted(one, key=key), sorted(two, key=key)):
        assert (a["test_acc"], a["val_acc"], a["epochs"]) == (b["test_acc"], b["val_acc"], b["epochs"])
    with open(tmp_path / "two" / "runs.csv") as f:
        assert len(list(csv.DictReader(f))) == 6
    seen = []
    again = ablate(["karate"], ["kipf", "mlp"], [0, 1, 2], tmp_path / "two", cfg, workers=2, progress=False,
                   on_result=seen.append)
    assert seen == [] and sorted(map(key, again)) == sorted(map(key, two))  # nothing rerun


def test_workers_are_spawned_where_an_accelerator_is_present(tmp_path, monkeypatch):
    """On a machine with a GPU, a process that has run a backward pass cannot fork workers
    (autograd's device threads: "Unable to handle autograd's threading in combination with
    fork-based multiprocessing", seen on an H200 when a second ablate ran in one process); the
    pool then spawns them, with the numbers of one process."""
    import multiprocessing as mp

    from gcnkit.train import workers

    methods = []
    get_context = mp.get_context
    monkeypatch.setattr(mp, "get_context", lambda m=None: methods.append(m) or get_context(m))
    monkeypatch.setattr(workers, "accelerator_present", lambda: True)
    cfg = TrainConfig(epochs=3)
    one = ablate(["karate"], ["kipf", "mlp"], [0, 1], tmp_path / "one", cfg, workers=1, progress=False)
    two = ablate(["karate"], ["kipf", "mlp"], [0, 1], tmp_path / "two", cfg, workers=2, progress=False)
    assert methods == ["spawn"]
    key = lambda r: (r["model"], r["seed"])  # noqa: E731
    assert [(r["test_acc"], r["val_acc"], r["epochs"]) for r in sorted(two, key=key)] == \
        [(r["test_acc"], r["val_acc"], r["epochs"]) for r in sorted(one, key=key)]


def test_a_second_ablation_on_a_busy_folder_is_refused(tmp_path):
    # two ablations on one --out used to run every missing run twice and log each twice; the
    # second is refused while the first holds the folder's lock, and the folder works afterwards
    import pytest

    from gcnkit.data.lock import folder_lock

    cfg = TrainConfig(epochs=2)
    tmp_path.mkdir(exist_ok=True)
    with folder_lock(tmp_path):  # as a running ablation holds it (flock: per open file, so in-process too)
        with pytest.raises(ValueError, match="is in use by another gcnkit ablate"):
            ablate(["karate"], ["kipf"], [0], tmp_path, cfg, progress=False)
    assert not (tmp_path / "runs.csv").exists()
    assert len(ablate(["karate"], ["kipf"], [0], tmp_path, cfg, progress=False)) == 1


def test_a_quoted_tilde_in_the_output_folder_is_the_home_folder(tmp_path, monkeypatch):
    # "--out=~/x" reaches gcnkit unexpanded: the runs went to a literal ./~/x and the reports
    # (pandas expands ~) failed after all the training
    from gcnkit.cli.main import main

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["ablate", "--datasets", "karate", "--models", "kipf", "--seeds", "1", "--epochs", "2",
                 "--no-progress", "--out=~/abl"]) == 0
    assert (tmp_path / "home" / "abl" / "runs.csv").exists() and (tmp_path / "home" / "abl" / "summary.csv").exists()
    assert not (tmp_path / "~").exists()


def test_a_killed_worker_ends_the_ablation_with_a_message_and_the_rerun_resumes(tmp_path, monkeypatch):
    import multiprocessing as mp
    import os
    import signal

    import pytest

    from gcnkit.train import runner, workers

    if "fork" not in mp.get_all_start_methods() or workers.accelerator_present():
        pytest.skip("the patched worker function reaches forked workers only")
    real = runner._worker_run

    def killed_on_seed_1(task):
        if task[2] == [1]:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(task)

    monkeypatch.setattr(runner, "_worker_run", killed_on_seed_1)
    cfg = TrainConfig(epochs=3)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match=r"a worker process died \(killed by SIGKILL\) while running "
                                           r"karate/kipf/seed 1; the finished runs are saved in .*runs.csv: "
                                           r"run the same command to resume"):
        ablate(["karate"], ["kipf"], [0, 1, 2, 3], out, cfg, workers=2, seed_batch=1, progress=False)
    monkeypatch.setattr(runner, "_worker_run", real)
    rows = ablate(["karate"], ["kipf"], [0, 1, 2, 3], out, cfg, workers=2, seed_batch=1, progress=False)
    assert sorted(r["seed"] for r in rows) == [0, 1, 2, 3]
