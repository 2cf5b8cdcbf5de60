"""Checkpoints belong to one configuration: which settings may differ on resume, which may not."""
from dataclasses import asdict, replace

import pytest
import torch

from gcnkit.train.checkpoint import comparable, load_checkpoint, save_checkpoint
from gcnkit.train.temporal import TemporalConfig
from gcnkit.train.temporal_run import default_out


def _config(**kwargs):
    return asdict(replace(TemporalConfig(dataset="chickenpox", model="gconvgru", seed=0), **kwargs).resolved())


def test_the_seed_is_part_of_the_configuration_a_checkpoint_belongs_to(tmp_path):
    # the seed changes the initialization and the shuffling: another seed's checkpoint must not
    # be resumed as if it were this run's
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, _config(seed=0), {"epoch": 3, "w": torch.arange(3)})
    assert comparable(_config(seed=0))["seed"] == 0
    assert comparable(_config(seed=0)) != comparable(_config(seed=1))
    with pytest.raises(ValueError, match="seed=0 there, 1 now"):
        load_checkpoint(ckpt, _config(seed=1))
    state = load_checkpoint(ckpt, _config(seed=0))
    assert state["epoch"] == 3 and torch.equal(state["w"], torch.arange(3))


def test_only_settings_that_change_no_number_are_neutral(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, _config(), {"epoch": 1})
    # where the data is read from and whether a progress bar shows: the same run
    assert load_checkpoint(ckpt, _config(progress=False, root=str(tmp_path)))["epoch"] == 1
    assert set(_config()) - set(comparable(_config())) == {"progress", "root", "cuda_graph"}
    # a CUDA graph replays the eager epoch's kernels: an eager run resumes graphed and back
    assert load_checkpoint(ckpt, dict(_config(), cuda_graph=True))["epoch"] == 1
    for key, value in (("seed", 7), ("lr", 0.5), ("hidden", 3), ("epochs", 5)):
        with pytest.raises(ValueError, match=f"{key}="):
            load_checkpoint(ckpt, _config(**{key: value}))


def test_each_seed_has_its_own_run_folder():
    base = TemporalConfig(dataset="chickenpox", model="gconvgru", seed=0).resolved()
    assert default_out(replace(base, seed=1)) != default_out(base)
    assert default_out(replace(base, progress=False, root="/elsewhere")) == default_out(base)
    assert default_out(replace(base, cuda_graph=True)) == default_out(base)
    # the folder of runs made before TemporalConfig had cuda_graph: still found, so they resume
    assert default_out(base).name == "chickenpox-gconvgru-458a81c9"
