"""Fixtures for the dataset tests.

``shared_data_root``: the offline copy of the raw files, found at
``$GCNKIT_DATA`` or ``<repo>/../shared/datasets``; tests using it are skipped
when neither has the files. Every test runs with ``$GCNKIT_CACHE`` pointing to
a per-session temporary folder, so nothing is written to ``~/.cache``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_MARKER = Path("planetoid") / "Cora" / "raw" / "ind.cora.x"


def find_shared_data_root() -> Optional[Path]:
    """``$GCNKIT_DATA`` if it holds the raw files, else
    ``<repo>/../shared/datasets`` if it does, else ``None``."""
    candidates = []
    if os.environ.get("GCNKIT_DATA"):
        candidates.append(Path(os.environ["GCNKIT_DATA"]).expanduser())
    candidates.append(REPO_ROOT.parent / "shared" / "datasets")
    for c in candidates:
        if (c / _MARKER).is_file():
            return c.resolve()
    return None


@pytest.fixture(scope="session")
def shared_data_root() -> Path:
    root = find_shared_data_root()
    if root is None:
        pytest.skip("offline dataset copy not found: set $GCNKIT_DATA or "
                    "provide <repo>/../shared/datasets")
    return root


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gcnkit_cache")


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch: pytest.MonkeyPatch,
                    _session_cache: Path) -> None:
    monkeypatch.setenv("GCNKIT_CACHE", str(_session_cache))


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
