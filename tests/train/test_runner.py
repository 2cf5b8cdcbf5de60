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
