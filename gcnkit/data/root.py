"""Where datasets live: the data root, the cache root and writability checks.

Layout below a data root::

    <root>/planetoid/<Name>/raw/ind.<name>.*   # exactly PyG Planetoid's raw/
    <root>/planetoid/<Name>/processed/         # only if <root> is writable
    <root>/temporal/<file>                     # chickenpox.json, los_speed.csv, ...

A data root may be read-only (for example a shared, offline copy of the raw
files). Processed caches then go below the cache root instead (see
:func:`resolve_cache_root`); nothing is ever written into a read-only root.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional, Sequence, Union

PathLike = Union[str, "os.PathLike[str]"]

#: Environment variable naming the data root.
DATA_ENV = "GCNKIT_DATA"
#: Environment variable naming the cache root for processed files.
CACHE_ENV = "GCNKIT_CACHE"
#: Default data root, relative to the current working directory.
DEFAULT_ROOT = "datasets"


def resolve_root(root: Optional[PathLike] = None) -> Path:
    r"""Returns the data root.

    Resolution order: the :obj:`root` argument, else the environment variable
    :obj:`$GCNKIT_DATA`, else :obj:`./datasets` relative to the current
    working directory. :obj:`~` is expanded; the path is made absolute but is
    not required to exist.

    Args:
        root (str or Path, optional): Explicit data root. (default: ``None``)

    Returns:
        Path: The absolute data root.
    """
    if root is not None and str(root) != "":
        path = Path(root)
    elif os.environ.get(DATA_ENV):
        path = Path(os.environ[DATA_ENV])
    else:
        path = Path(DEFAULT_ROOT)
    return Path(os.path.abspath(path.expanduser()))


def resolve_cache_root() -> Path:
    r"""Returns the root for processed caches when a data root is read-only.

    :obj:`$GCNKIT_CACHE` if set, else :obj:`$XDG_CACHE_HOME/gcnkit`, else
    :obj:`~/.cache/gcnkit`.

    Returns:
        Path: The absolute cache root (not required to exist).
    """
    if os.environ.get(CACHE_ENV):
        path = Path(os.environ[CACHE_ENV])
    elif os.environ.get("XDG_CACHE_HOME"):
        path = Path(os.environ["XDG_CACHE_HOME"]) / "gcnkit"
    else:
        path = Path("~/.cache/gcnkit")
    return Path(os.path.abspath(path.expanduser()))


def nearest_existing(path: PathLike) -> Optional[Path]:
    r"""The absolute :obj:`path` or its nearest ancestor that exists (:obj:`None` if none does)."""
    p = Path(os.path.abspath(Path(path).expanduser()))
    while not p.exists():
        if p.parent == p:
            return None
        p = p.parent
    return p


def is_writable(path: PathLike) -> bool:
    r"""Whether files could be created at (or below) :obj:`path`.

    Walks up to the nearest existing ancestor and checks it. Besides
    :func:`os.access`, the permission bits must grant write access to someone:
    a :obj:`chmod a-w` folder counts as read-only even for root (who would
    otherwise be allowed to write anywhere).

    Args:
        path (str or Path): A file or folder, existing or not.

    Returns:
        bool: :obj:`True` if files could be created there.
    """
    p = nearest_existing(path)
    if p is None or not p.is_dir():
        return False
    mode = p.stat().st_mode
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return False
    return os.access(p, os.W_OK | os.X_OK)


def writable_dir(preferred: PathLike, cache_subdir: PathLike, made: Sequence[str] = ()) -> Path:
    r"""Picks a writable folder for processed files.

    Returns :obj:`preferred` if it is writable (see :func:`is_writable`),
    else :obj:`resolve_cache_root() / cache_subdir`; when neither is, the first
    of them that already holds every file of :obj:`made` (a read-only cache
    that is only read: its caller must refuse to rebuild it there).

    Raises:
        RuntimeError: If neither location is writable (nor holds the files).
    """
    preferred = Path(preferred)
    if is_writable(preferred):
        return preferred
    fallback = resolve_cache_root() / cache_subdir
    if is_writable(fallback):
        return fallback
    for folder in (preferred, fallback):
        if made and all((folder / name).is_file() for name in made):
            return folder
    raise RuntimeError(
        f"No writable location for processed files: '{preferred}' (below the "
        f"data root) and '{fallback}' (cache root) are both read-only. Set "
        f"${CACHE_ENV} to a writable folder.")
