"""gcnkit.train.workers: the ablation's worker processes."""
import multiprocessing as mp

import torch

from gcnkit.train import workers


def test_workers_fork_without_an_accelerator_and_spawn_with_one(monkeypatch):
    assert workers.accelerator_present() == torch.cuda.is_available()  # (no other kind in the tests)
    forks = "fork" in mp.get_all_start_methods() and not workers.accelerator_present()
    assert workers.start_method() == ("fork" if forks else "spawn")
    monkeypatch.setattr(workers, "accelerator_present", lambda: True)
    assert workers.start_method() == "spawn"
    assert workers.pool_context().get_start_method() == "spawn"


def test_pool_workers_end_with_a_killed_parent(tmp_path):
    """``kill -9`` of ablate's process (or the OOM killer) ends its workers at once, instead of
    leaving them to train their group and fail with a BrokenPipeError traceback."""
    import signal
    import subprocess
    import sys
    import time

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, time\n"
        "from gcnkit.train.workers import run_in_workers\n"
        "def work(_):\n"
        "    print(os.getpid(), flush=True)\n"
        "    time.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    list(run_in_workers(work, [0], workers=1, threads=1))\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                state = open(f"/proc/{worker}/status").read().split("State:")[1].split()[0]
            except FileNotFoundError:
                state = "gone"
            if state in ("gone", "Z"):  # (a zombie where no init reaps it: ended all the same)
                break
            time.sleep(0.1)
        assert state in ("gone", "Z"), f"the worker {worker} still runs ({state}) after its parent was killed"
    finally:
        parent.kill()


def _square_or_die(task):
    import os
    import signal

    if task == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if task == "raise":
        raise KeyError("bad task")
    return task * task


def test_a_killed_worker_is_an_error_naming_its_task_not_a_wait_forever():
    # multiprocessing.Pool replaces a killed worker and waits for its task's result forever (an
    # ablation hung at 0% CPU after the OOM killer took a worker)
    import pytest

    got = []
    with pytest.raises(workers.WorkerDied, match=r"died \(killed by SIGKILL\) while running 'die'"):
        for value in workers.run_in_workers(_square_or_die, [1, 2, "die", 3], workers=2, threads=1):
            got.append(value)
    assert set(got) <= {1, 4, 9}
    assert sorted(workers.run_in_workers(_square_or_die, [1, 2, 3, 4, 5], workers=2, threads=1)) == [1, 4, 9, 16, 25]
    with pytest.raises(KeyError, match="bad task"):  # the task's own exception, raised in the caller
        list(workers.run_in_workers(_square_or_die, [1, "raise", 2], workers=2, threads=1))
    assert not mp.active_children()  # every worker ended


class _TwoArgumentError(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} {b}")


def _raise_two_argument_error(task):
    raise _TwoArgumentError(task, "b")


def test_an_answer_that_cannot_be_read_back_names_the_task():
    # an exception that pickles but cannot be rebuilt (its __init__ takes two arguments) surfaced as
    # that class's TypeError, the task's own error and its name lost
    import pytest

    with pytest.raises(RuntimeError, match=r"'x': the worker's answer could not be read back \(TypeError"):
        list(workers.run_in_workers(_raise_two_argument_error, ["x"], workers=1, threads=1))
    assert not mp.active_children()
