import io
import shutil
import urllib.request
from pathlib import Path

import pytest
import torch

from gcnkit.data import load_dataset
from gcnkit.data.checksum import ChecksumError
from gcnkit.data.planetoid import PlanetoidDataset, load_planetoid

NAMES = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]


def _snapshot(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


def test_cora(shared_data_root, no_network):
    data = load_dataset("Cora", root=shared_data_root)
    assert data.num_nodes == 2708
    assert data.x.shape == (2708, 1433) and data.x.dtype == torch.float32
    assert data.x.layout == torch.strided
    assert data.num_classes == 7 and isinstance(data.num_classes, int)
    assert data.name == "Cora"
    assert data.edge_index.shape == (2, 10556)
    assert data.y.shape == (2708, ) and int(data.y.max()) == 6
    assert [int(m.sum()) for m in (data.train_mask, data.val_mask,
                                   data.test_mask)] == [140, 500, 1000]
    assert not (data.train_mask & data.val_mask).any()
    assert not (data.val_mask & data.test_mask).any()
    # raw binary bag-of-words, not row-normalized
    assert set(data.x.unique().tolist()) == {0.0, 1.0}
    assert float(data.x.sum(1).max()) > 1
    assert no_network == []  # files exist: no download attempted


def test_citeseer(shared_data_root, no_network):
    data = load_dataset("citeseer", root=shared_data_root)
    assert data.x.shape == (3327, 3703)
    assert data.num_classes == 6 and data.name == "CiteSeer"
    assert data.edge_index.shape == (2, 9104)
    assert [int(m.sum()) for m in (data.train_mask, data.val_mask,
                                   data.test_mask)] == [120, 500, 1000]
    assert no_network == []


def test_env_root_and_read_only_root(shared_data_root, monkeypatch, tmp_path,
                                     no_network):
    cache = tmp_path / "cache"
    monkeypatch.setenv("GCNKIT_CACHE", str(cache))
    monkeypatch.setenv("GCNKIT_DATA", str(shared_data_root))
    before = _snapshot(shared_data_root)
    ds = PlanetoidDataset(name="cora")
    assert Path(ds.raw_dir) == shared_data_root / "planetoid/Cora/raw"
    assert Path(ds.processed_dir) == cache / "planetoid/Cora/processed"
    assert (cache / "planetoid/Cora/processed/data.pt").is_file()
    assert _snapshot(shared_data_root) == before  # nothing written there
    assert ds[0].num_nodes == 2708


def test_read_only_copy(shared_data_root, tmp_path, monkeypatch, no_network):
    root = tmp_path / "ro"
    shutil.copytree(shared_data_root / "planetoid/Cora",
                    root / "planetoid/Cora")
    for p in [root, *root.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    monkeypatch.setenv("GCNKIT_CACHE", str(tmp_path / "cache"))
    try:
        data = load_planetoid("cora", root=root)
        assert data.num_nodes == 2708
        assert not (root / "planetoid/Cora/processed").exists()
        assert (tmp_path / "cache/planetoid/Cora/processed/data.pt").exists()
    finally:
        for p in [root, *root.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def _set_writable(root, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod((0o755 if p.is_dir() else 0o644) if writable else (0o555 if p.is_dir() else 0o444))


@pytest.mark.parametrize("where", ["root", "cache"])
def test_a_complete_read_only_cache_is_read(writable_copy, tmp_path, monkeypatch, no_network, where):
    # was: "No writable location for processed files" although nothing had to be written
    cache = tmp_path / "cache"
    monkeypatch.setenv("GCNKIT_CACHE", str(cache))
    if where == "cache":  # processed files in the cache root, beside a read-only data root
        _set_writable(writable_copy, False)
    reference = load_dataset("cora", root=writable_copy)
    made = (writable_copy if where == "root" else cache) / "planetoid/Cora/processed"
    assert (made / "data.pt").is_file()
    _set_writable(writable_copy, False)
    cache.mkdir(exist_ok=True)
    _set_writable(cache, False)
    try:
        again = load_dataset("cora", root=writable_copy)
        assert torch.equal(again.x, reference.x) and torch.equal(again.y, reference.y)
        (made / "pre_transform.pt").chmod(0o644)
        (made / "pre_transform.pt").write_bytes(b"garbage")  # damaged, in a read-only folder: not rebuilt
        with pytest.raises(RuntimeError, match=r"read-only and it is damaged.*GCNKIT_CACHE"):
            load_dataset("cora", root=writable_copy)
    finally:
        _set_writable(writable_copy, True)
        _set_writable(cache, True)


def test_writable_root_keeps_processed_next_to_raw(writable_copy, no_network):
    ds = PlanetoidDataset(writable_copy, "Cora")
    proc = writable_copy / "planetoid/Cora/processed"
    assert Path(ds.processed_dir) == proc
    assert sorted(p.name for p in proc.iterdir()) == [  # and the lock that loads take turns on
        ".gcnkit.lock", "data.pt", "pre_filter.pt", "pre_transform.pt"]


def test_offline_error_points_at_files_in_pygs_layout(shared_data_root, tmp_path, no_network):
    import shutil

    shutil.copytree(shared_data_root / "planetoid" / "Cora" / "raw", tmp_path / "Cora" / "raw")  # <root>/Cora/raw
    with pytest.raises(FileNotFoundError, match=r"They are in '.*Cora/raw' \(PyTorch Geometric's layout\): "
                                                r"gcnkit reads '.*planetoid/Cora/raw'; move or link"):
        load_dataset("cora", root=tmp_path)
    # the folder named planetoid given as the root (PyG's root): its parent is gcnkit's
    # (was: "move or link that folder there", impossible in a read-only copy)
    pyg_root = tmp_path / "data" / "planetoid"
    shutil.copytree(tmp_path / "Cora", pyg_root / "Cora")
    with pytest.raises(FileNotFoundError, match=rf"pass its parent '{tmp_path / 'data'}' as the data root"):
        load_dataset("cora", root=pyg_root)
    assert load_dataset("cora", root=tmp_path / "data").num_nodes == 2708


def test_offline_error(tmp_path, no_network):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("cora", root=tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "planetoid" / "Cora" / "raw") in msg
    for n in NAMES:
        assert f"ind.cora.{n}" in msg
    assert "https://github.com/kimiyoung/planetoid/raw/master/data/" in msg
    assert "offline" in msg and "GCNKIT_DATA" in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert no_network and "kimiyoung/planetoid" in no_network[0]
    # no partial files, and no empty folders left behind by a mistyped root
    assert not (tmp_path / "planetoid").exists()


def test_download_disabled(tmp_path, no_network):
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_dataset("pubmed", root=tmp_path, download=False)
    assert no_network == []


def _fake_server(src: Path, corrupt: bool = False):
    def urlopen(url, timeout=None):
        data = (src / url.rsplit("/", 1)[1]).read_bytes()
        return io.BytesIO(data[:-10] if corrupt else data)
    return urlopen


def test_download_missing_files_is_verified(shared_data_root, writable_copy,
                                            monkeypatch):
    raw = writable_copy / "planetoid/Cora/raw"
    (raw / "ind.cora.graph").unlink()
    (raw / "ind.cora.tx").unlink()
    served = []
    fake = _fake_server(shared_data_root / "planetoid/Cora/raw")
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda u, timeout=None: served.append(u) or fake(u))
    data = load_planetoid("cora", root=writable_copy)
    assert data.num_nodes == 2708
    assert sorted(u.rsplit("/", 1)[1] for u in served) == [
        "ind.cora.graph", "ind.cora.tx"]  # only the missing ones


def test_corrupt_download_writes_nothing(shared_data_root, writable_copy,
                                         monkeypatch):
    raw = writable_copy / "planetoid/Cora/raw"
    (raw / "ind.cora.graph").unlink()
    monkeypatch.setattr(urllib.request, "urlopen", _fake_server(
        shared_data_root / "planetoid/Cora/raw", corrupt=True))
    with pytest.raises(ChecksumError, match="ind.cora.graph"):
        load_planetoid("cora", root=writable_copy)
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        f"ind.cora.{n}" for n in NAMES if n != "graph")  # no .part leftovers
    assert not (writable_copy / "planetoid/Cora/processed").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_checksum_failure_leaves_no_cache(writable_copy, no_network, damage):
    victim = writable_copy / "planetoid/Cora/raw/ind.cora.graph"
    good = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(good[:len(good) // 2])
    else:
        victim.write_bytes(bytes([good[0] ^ 1]) + good[1:])
    with pytest.raises(ChecksumError) as info:
        load_dataset("cora", root=writable_copy)
    msg = str(info.value)
    assert str(victim) in msg and "expected SHA-256" in msg
    assert "Delete it" in msg
    proc = writable_copy / "planetoid/Cora/processed"
    assert not proc.exists() or not any(proc.iterdir())
    victim.write_bytes(good)  # repaired: loads
    assert load_dataset("cora", root=writable_copy).num_nodes == 2708
    assert no_network == []


def test_bad_name_and_split(tmp_path):
    with pytest.raises(ValueError, match="Cora"):
        PlanetoidDataset(tmp_path, "cornell")
    with pytest.raises(ValueError, match="geom-gcn"):
        PlanetoidDataset(tmp_path, "cora", split="geom-gcn")
    # PyG ignores split sizes outside the random split: here they are refused
    for split in ("public", "full"):
        with pytest.raises(ValueError, match=rf"num_train_per_class, num_val set the sizes of the 'random' "
                                             rf"split; the '{split}' split"):
            PlanetoidDataset(tmp_path, "cora", split=split, num_val=50, num_train_per_class=2)


def test_random_split_follows_its_seed_not_the_global_rng(shared_data_root, no_network):
    def train_nodes(**kwargs):
        d = load_dataset("Cora", root=shared_data_root, split="random", num_train_per_class=5,
                         num_val=100, num_test=200, **kwargs)
        assert [int(m.sum()) for m in (d.train_mask, d.val_mask, d.test_mask)] == [35, 100, 200]
        return d.train_mask.nonzero().view(-1).tolist()
    torch.manual_seed(1)
    first = train_nodes()
    state = torch.get_rng_state()
    torch.manual_seed(2)
    assert train_nodes() == first  # whatever the process did with the RNG before
    torch.manual_seed(2)
    train_nodes()
    after = torch.rand(3)
    torch.manual_seed(2)
    assert torch.equal(after, torch.rand(3))  # the global RNG is left as it was
    assert train_nodes(split_seed=1) != first
    torch.set_rng_state(state)


@pytest.mark.parametrize("sizes, match", [
    (dict(num_val=-1), "num_val must be an integer >= 1, got -1"),  # was: 2567 val, 0 test nodes
    (dict(num_test=0), "num_test must be an integer >= 1, got 0"),  # was: a NaN test accuracy
    (dict(num_train_per_class=0), "num_train_per_class must be an integer >= 1"),
    (dict(num_val=2.5), "num_val must be an integer >= 1, got 2.5"),  # was: PyG's raw TypeError
    (dict(num_train_per_class=1000), "smallest class has 180 nodes"),  # was: every node in training
    (dict(num_val=1500, num_test=1500), r"20\*7 train \+ 1500 val \+ 1500 test exceed 2708 nodes"),
])
def test_random_split_sizes_that_do_not_fit_are_refused(shared_data_root, no_network, sizes, match):
    with pytest.raises(ValueError, match=match):
        load_dataset("Cora", root=shared_data_root, split="random", **sizes)
    d = load_dataset("Cora", root=shared_data_root, split="random", num_val=300)
    assert [int(m.sum()) for m in (d.train_mask, d.val_mask, d.test_mask)] == [140, 300, 1000]


def test_missing_files_in_read_only_root(tmp_path, no_network):
    raw = tmp_path / "planetoid/Cora/raw"
    raw.mkdir(parents=True)
    raw.chmod(0o555)
    try:
        with pytest.raises(FileNotFoundError, match="read-only"):
            load_dataset("cora", root=tmp_path)
    finally:
        raw.chmod(0o755)
    assert no_network == []  # did not even try


@pytest.mark.parametrize("where", [".", "planetoid"])
def test_a_root_that_is_a_file_is_named_as_one(tmp_path, no_network, where):
    # not "read-only": the root given (or a folder below it) is a file
    blocker = tmp_path / "data.zip" / where
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"PK")
    with pytest.raises(FileNotFoundError, match=f"'{blocker.resolve()}' is a file, not a folder") as e:
        load_dataset("cora", root=tmp_path / "data.zip")
    assert "read-only" not in str(e.value)
    assert no_network == []


def test_raw_file_damaged_after_the_cache_was_made_is_still_an_error(writable_copy, no_network):
    # the processed cache must not hide a corrupt raw file (it used to be served unchecked)
    assert load_dataset("cora", root=writable_copy).num_nodes == 2708
    assert (writable_copy / "planetoid/Cora/processed/data.pt").exists()
    victim = writable_copy / "planetoid/Cora/raw/ind.cora.allx"
    victim.write_bytes(victim.read_bytes()[:1000])
    with pytest.raises(ChecksumError, match="ind.cora.allx"):
        load_dataset("cora", root=writable_copy)


def test_shared_cache_of_read_only_roots_checks_each_root(shared_data_root, tmp_path, monkeypatch,
                                                          no_network):
    # two read-only roots share <cache>/planetoid/Cora/processed: the second root's files are
    # verified even though a cache exists
    monkeypatch.setenv("GCNKIT_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad"
    shutil.copytree(shared_data_root / "planetoid/Cora", bad / "planetoid/Cora")
    victim = bad / "planetoid/Cora/raw/ind.cora.allx"
    victim.write_bytes(victim.read_bytes()[:1000])
    for d in (bad / "planetoid/Cora/raw", bad / "planetoid/Cora", bad / "planetoid", bad):
        d.chmod(0o555)
    try:
        assert PlanetoidDataset(shared_data_root, "cora")[0].num_nodes == 2708
        with pytest.raises(ChecksumError, match="ind.cora.allx"):
            PlanetoidDataset(bad, "cora")
    finally:
        for d in (bad, bad / "planetoid", bad / "planetoid/Cora", bad / "planetoid/Cora/raw"):
            d.chmod(0o755)


def test_cache_made_with_another_pre_transform_is_remade(writable_copy, no_network):
    from torch_geometric.transforms import NormalizeFeatures

    x_norm = PlanetoidDataset(writable_copy, "cora", pre_transform=NormalizeFeatures())[0].x
    torch.testing.assert_close(x_norm.sum(1)[:3], torch.ones(3))
    raw = PlanetoidDataset(writable_copy, "cora")[0].x  # raw counts again, not the stale cache
    assert set(raw.unique().tolist()) == {0.0, 1.0} and float(raw.sum(1).max()) > 1


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_damaged_processed_cache_is_rebuilt(writable_copy, no_network, damage):
    reference = load_dataset("cora", root=writable_copy)
    cached = writable_copy / "planetoid/Cora/processed/data.pt"
    if damage == "truncate":
        cached.write_bytes(cached.read_bytes()[:1000])
    elif damage == "garbage":
        cached.write_bytes(bytes(range(256)) * 12)
    else:  # a readable file of another shape: PyG's loader used to fail on an assert
        torch.save({"a": 1}, cached)
    again = load_dataset("cora", root=writable_copy)  # remade from the verified raw files
    assert torch.equal(again.x, reference.x) and torch.equal(again.edge_index, reference.edge_index)
    torch.load(cached, weights_only=False)  # and the cache is whole again


@pytest.mark.parametrize("marker", ["pre_transform.pt", "pre_filter.pt"])
@pytest.mark.parametrize("content", [b"garbage", b"\x80\x02X", b""])
def test_damaged_cache_marker_is_rebuilt(writable_copy, no_network, marker, content):
    # was: an UnpicklingError traceback (or "invalid literal for int()") at every later load
    reference = load_dataset("cora", root=writable_copy)
    path = writable_copy / "planetoid/Cora/processed" / marker
    path.write_bytes(content)
    again = load_dataset("cora", root=writable_copy)
    assert torch.equal(again.x, reference.x) and torch.equal(again.edge_index, reference.edge_index)
    assert torch.load(path, weights_only=False) == "None"  # the marker is whole again (no transform)


def test_concurrent_loads_with_different_pre_transforms_keep_each_its_own(writable_copy, no_network):
    """Two processes loading one cache with different pre_transforms take turns (a folder lock):
    each gets its own data, and the cache left behind matches its marker."""
    import subprocess
    import sys

    code = """
import sys, time, torch
from gcnkit.data import PlanetoidDataset
class Slow:
    def __call__(self, d):
        time.sleep(1.5); d.tag = torch.ones(1); return d
    def __repr__(self): return 'Slow()'
d = PlanetoidDataset(sys.argv[1], 'cora', pre_transform=Slow() if sys.argv[2] == 'slow' else None)[0]
print(hasattr(d, 'tag'))
"""
    procs = [subprocess.Popen([sys.executable, "-c", code, str(writable_copy), kind], stdout=subprocess.PIPE,
                              text=True) for kind in ("slow", "plain", "slow", "plain")]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert outs == [["True"], ["False"], ["True"], ["False"]]
    assert not hasattr(PlanetoidDataset(writable_copy, "cora")[0], "tag")


def test_force_reload_rebuilds_a_matching_cache(writable_copy, no_network, monkeypatch):
    PlanetoidDataset(writable_copy, "cora")  # makes the cache
    calls = []
    real = PlanetoidDataset.process
    monkeypatch.setattr(PlanetoidDataset, "process", lambda self: calls.append(1) or real(self))
    PlanetoidDataset(writable_copy, "cora")
    assert calls == []  # a matching cache is served
    data = PlanetoidDataset(writable_copy, "cora", force_reload=True)[0]
    assert calls == [1] and data.num_nodes == 2708  # rebuilt as asked


def test_load_planetoid_features_are_float32_whatever_the_pre_transform(writable_copy, no_network):
    def to_double(data):
        data.x = data.x.double()
        return data
    data = load_planetoid("cora", root=writable_copy, pre_transform=to_double)
    assert data.x.dtype == torch.float32 and data.x.layout == torch.strided


class _Scale:
    """A pre_transform (x * 10); ``unpicklable`` makes the write of data.pt fail."""

    def __init__(self, unpicklable: bool = False):
        self.unpicklable = unpicklable

    def __call__(self, data):
        data.x = data.x * 10
        if self.unpicklable:
            data.note = lambda: 0
        return data

    def __repr__(self):
        return "Scale()"


def test_a_failed_rebuild_leaves_no_cache_that_passes_for_it(writable_copy, no_network):
    # the new markers were written before data.pt: when its write failed (full disk, Ctrl-C), the old
    # data.pt beside them was served to the next run with that pre_transform, without it
    PlanetoidDataset(writable_copy, "cora")  # a cache without pre_transform
    with pytest.raises(Exception):
        PlanetoidDataset(writable_copy, "cora", pre_transform=_Scale(unpicklable=True))
    assert not (writable_copy / "planetoid/Cora/processed/data.pt").exists()
    assert float(PlanetoidDataset(writable_copy, "cora", pre_transform=_Scale())[0].x.max()) == 10.0
    assert float(PlanetoidDataset(writable_copy, "cora")[0].x.max()) == 1.0


def test_the_cache_served_is_the_one_checked_under_the_lock(writable_copy, no_network, monkeypatch):
    # PyG's Planetoid reads data.pt after _process, once the lock is released: another process
    # rebuilding the cache with its pre_transform in between gave its data to this one
    PlanetoidDataset(writable_copy, "cora")
    real = PlanetoidDataset.load
    rebuilt = []

    def load_after_a_rebuild(self, path, *args):
        if not rebuilt:  # the other loader, between this one's _process and load
            rebuilt.append(None)
            rebuilt[0] = PlanetoidDataset(writable_copy, "cora", pre_transform=_Scale())
        return real(self, path, *args)

    monkeypatch.setattr(PlanetoidDataset, "load", load_after_a_rebuild)
    data = PlanetoidDataset(writable_copy, "cora")[0]
    assert float(rebuilt[0][0].x.max()) == 10.0  # the cache on disk is now the other one's
    assert float(data.x.max()) == 1.0  # this one got what it checked
