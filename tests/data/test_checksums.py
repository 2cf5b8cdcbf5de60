import hashlib
from pathlib import Path

import pytest

from gcnkit.data.checksum import (
    ChecksumError,
    format_sha256_file,
    read_sha256_file,
    sha256_file,
    verify_file,
    verify_files,
)
from gcnkit.data.checksums import SHA256

DATASETS_DIR = Path(__file__).resolve().parents[2] / "datasets"


def test_committed_sha256_files_agree_with_module():
    files = sorted(DATASETS_DIR.glob("*.sha256"))
    if not files:
        pytest.skip("no datasets/*.sha256 next to the tests (installed copy)")
    merged = {}
    for f in files:
        sums = read_sha256_file(f)
        assert not set(sums) & set(merged), f"{f} repeats entries"
        merged.update(sums)
    assert merged == SHA256
    for group in ("planetoid", "temporal"):
        text = (DATASETS_DIR / f"{group}.sha256").read_text()
        expected = {k: v for k, v in SHA256.items() if k.startswith(group)}
        assert text == format_sha256_file(expected)


def test_every_dataset_file_has_a_sum():
    names = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]
    for name in ["Cora", "CiteSeer", "PubMed"]:
        for n in names:
            key = f"planetoid/{name}/raw/ind.{name.lower()}.{n}"
            assert len(SHA256[key]) == 64
    for f in ["chickenpox.json", "pedalme_london.json", "los_speed.csv",
              "los_adj.csv"]:
        assert len(SHA256[f"temporal/{f}"]) == 64


def test_shared_files_match(shared_data_root):
    present = [k for k in SHA256 if (shared_data_root / k).is_file()]
    assert len(present) >= 20  # Cora, CiteSeer, temporal; PubMed absent
    verify_files(shared_data_root, present)


def test_sha256_file(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"gcnkit" * 1000)
    assert sha256_file(p) == hashlib.sha256(b"gcnkit" * 1000).hexdigest()


def test_mismatch_message(tmp_path):
    p = tmp_path / "ind.cora.x"
    p.write_bytes(b"truncated")
    expected = "0" * 64
    with pytest.raises(ChecksumError) as info:
        verify_file(p, expected, url="https://example.org/ind.cora.x")
    msg = str(info.value)
    assert str(p) in msg and expected in msg and sha256_file(p) in msg
    assert "Delete it and download it again" in msg
    assert "https://example.org/ind.cora.x" in msg
    assert isinstance(info.value, RuntimeError)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        verify_file(tmp_path / "nope", "0" * 64)


def test_sha256_file_in_binary_mode(tmp_path):
    """``sha256sum -b`` writes ``<digest> *<name>``: the ``*`` marks the mode, not the name."""
    p = tmp_path / "sums.sha256"
    p.write_text("AB" * 32 + " *raw/data.json\n" + "cd" * 32 + "  other.csv\n")
    assert read_sha256_file(p) == {"raw/data.json": "ab" * 32, "other.csv": "cd" * 32}


def test_malformed_sha256_file(tmp_path):
    p = tmp_path / "bad.sha256"
    p.write_text("abc  file\n")
    with pytest.raises(ValueError, match="bad.sha256:1"):
        read_sha256_file(p)


def test_atomic_path(tmp_path):
    from gcnkit.data.atomic import atomic_path

    target = tmp_path / "sub" / "file.bin"
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyError("interrupted")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C while writing leaves no part file either
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert list(target.parent.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"complete")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_a_digest_that_differs_only_at_the_end_is_a_mismatch(tmp_path):
    from gcnkit.data.checksum import ChecksumError, verify_file

    f = tmp_path / "f.bin"
    f.write_bytes(b"gcnkit")
    digest = hashlib.sha256(b"gcnkit").hexdigest()
    verify_file(f, digest.upper())  # case does not matter
    wrong = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    with pytest.raises(ChecksumError):
        verify_file(f, wrong)
