"""Fixtures for the dataset tests (``shared_data_root`` and the isolated cache are in
``tests/conftest.py``)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """Makes every download attempt fail like an offline machine; returns
    the list of URLs that were attempted."""
    import urllib.error
    import urllib.request

    attempts: list = []

    def offline(url, *args, **kwargs):
        attempts.append(url if isinstance(url, str) else url.full_url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name "
                                    "resolution (simulated offline)")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return attempts


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in [dst, *dst.rglob("*")]:  # copies of read-only files stay r/o
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


@pytest.fixture
def writable_copy(shared_data_root: Path, tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the shared data root (Cora and temporal only)."""
    root = tmp_path / "root"
    copy_tree(shared_data_root / "planetoid" / "Cora",
              root / "planetoid" / "Cora")
    copy_tree(shared_data_root / "temporal", root / "temporal")
    yield root
