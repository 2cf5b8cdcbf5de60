"""``split_seed`` of :class:`PlanetoidDataset`: only the random split has a seed."""
import numpy as np
import pytest
import torch

from gcnkit.data import PlanetoidDataset, load_dataset


@pytest.mark.parametrize("split", ["public", "full", "PUBLIC"])
def test_a_seed_for_a_fixed_split_is_refused(tmp_path, no_network, split):
    # was: silently ignored (every seed gave the same, public, split)
    with pytest.raises(ValueError, match=rf"split_seed=3 only seeds the 'random' split; the "
                                         rf"'{split.lower()}' split of Cora is fixed"):
        PlanetoidDataset(tmp_path, "cora", split=split, split_seed=3)
    assert no_network == []  # refused before looking for files


@pytest.mark.parametrize("seed, error, match", [
    (1.5, TypeError, "split_seed must be an integer, got 1.5"),  # was: truncated to 1
    (True, TypeError, "split_seed must be an integer, got True"),
    ("1", TypeError, "split_seed must be an integer, got '1'"),
    (-1, ValueError, "split_seed must be >= 0, got -1"),
])
def test_split_seed_must_be_an_integer(tmp_path, no_network, seed, error, match):
    with pytest.raises(error, match=match):
        PlanetoidDataset(tmp_path, "cora", split="random", split_seed=seed)


def test_default_seed_with_a_fixed_split_and_integer_seeds(shared_data_root, no_network):
    public = load_dataset("cora", root=shared_data_root)
    same = load_dataset("cora", root=shared_data_root, split="public", split_seed=0)  # the default
    assert torch.equal(public.train_mask, same.train_mask)

    def train(seed):
        d = load_dataset("cora", root=shared_data_root, split="random", split_seed=seed)
        return d.train_mask
    assert torch.equal(train(np.int64(1)), train(1)) and torch.equal(train(torch.tensor(1)), train(1))
    assert not torch.equal(train(1), train(2))
