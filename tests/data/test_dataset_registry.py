import subprocess
import sys

import pytest
import torch

from gcnkit.data import list_datasets, load_dataset


def test_list_datasets():
    assert list_datasets() == ["citeseer", "cora", "csbm", "karate", "pubmed"]


@pytest.mark.parametrize("name", ["karate", "KarateClub", "karate_club"])
def test_karate_names(name):
    assert load_dataset(name).num_nodes == 34


def test_csbm_kwargs_forwarded():
    data = load_dataset("CSBM", num_nodes=300, num_classes=3, seed=5,
                        num_features=8)
    assert data.x.shape == (300, 8) and data.num_classes == 3


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError) as info:
        load_dataset("imagenet")
    for name in list_datasets():
        assert name in str(info.value)


def test_uniform_fields(shared_data_root):
    for name in ["cora", "csbm", "karate"]:
        data = load_dataset(name, root=shared_data_root)
        for key in ["x", "y", "edge_index", "train_mask", "val_mask",
                    "test_mask"]:
            assert isinstance(data[key], torch.Tensor), (name, key)
        assert data.x.dtype == torch.float32 and not data.x.is_sparse
        assert data.train_mask.dtype == torch.bool
        assert isinstance(data.num_classes, int)
        assert isinstance(data.name, str)
        assert int(data.y.max()) + 1 == data.num_classes


def test_import_is_lazy():
    code = ("import sys, gcnkit; before = set(sys.modules); "
            "import gcnkit.data; new = set(sys.modules) - before; "
            "heavy = [m for m in new if m.split('.')[0] in "
            "('torch', 'torch_geometric', 'networkx', 'pandas', 'numpy', "
            "'scipy')]; print(heavy); assert not heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dataset_name_is_canonical_for_every_spelling():
    from gcnkit.data import dataset_name

    assert [dataset_name(n) for n in ("cora", "CORA", " Cora ", "citeseer", "PUBMED")] == \
        ["Cora", "Cora", "Cora", "CiteSeer", "PubMed"]
    assert [dataset_name(n) for n in ("KarateClub", "karate_club", "CSBM")] == ["karate", "karate", "csbm"]
    with pytest.raises(ValueError, match="Unknown dataset 'karat'"):
        dataset_name("karat")
