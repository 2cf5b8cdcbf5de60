"""An advisory lock on a folder (``fcntl.flock`` on a hidden file in it), so that two processes
writing the same files (a processed dataset cache, an ablation's run log) take turns.

Where locks are not available (no ``fcntl``: Windows) or the folder cannot be written (a
read-only cache that is only read), the block runs without one.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Iterator, Optional, Union

from gcnkit.data.root import is_writable

fcntl: Optional[ModuleType]
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".gcnkit.lock"


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock (``wait=False``)."""


@contextmanager
def folder_lock(folder: Union[str, "os.PathLike[str]"], *, wait: bool = True) -> Iterator[bool]:
    """Holds the lock of ``folder`` (created if missing) for the block; yields whether a lock is
    held. ``wait=False``: raise :class:`FolderBusy` at once when another process holds it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not is_writable(folder):  # root may open files in a chmod a-w folder: not there either
            raise PermissionError(folder)
        handle = open(folder / LOCK_NAME, "a")
    except OSError:  # a read-only folder: nothing will be written there by this process either
        yield False
        return
    with handle:
        if fcntl is None:  # pragma: no cover
            yield False
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise FolderBusy(f"{folder} is in use by another process") from None
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
