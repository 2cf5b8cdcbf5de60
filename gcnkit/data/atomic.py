"""Atomic file writes: write to a temporary file, then :func:`os.replace`.

A reader never sees a half-written file: either the old file (or none) or the
complete new one. On error the temporary file is removed.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    r"""Yields a temporary path next to :obj:`path`; moves it into place on
    success, deletes it on error.

    .. code-block:: python

        with atomic_path('data.pt') as tmp:
            torch.save(obj, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are 0600; this one respects the umask.
    tmp_path = path.parent / f".{path.name}.{uuid.uuid4().hex}.part"
    tmp_path.open("xb").close()
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    r"""Like :func:`torch.save`, but atomic."""
    import io

    import torch

    buffer = io.BytesIO()  # as PyG's fs.torch_save; no temp name inside
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
