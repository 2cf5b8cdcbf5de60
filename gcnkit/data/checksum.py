"""SHA-256 verification of raw dataset files.

The expected digests live in :mod:`gcnkit.data.checksums` (keys relative to
the data root) and, for humans and ``sha256sum -c``, in the committed
``datasets/*.sha256`` files.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Iterable, Optional, Union

from gcnkit.data.checksums import SHA256

PathLike = Union[str, "os.PathLike[str]"]

_CHUNK = 1 << 20


class ChecksumError(RuntimeError):
    r"""A raw file's SHA-256 digest differs from the expected one (corrupt,
    truncated or a different version of the file)."""


def sha256_file(path: PathLike) -> str:
    r"""Returns the hex SHA-256 digest of the file at :obj:`path`.

    Args:
        path (str or Path): The file.

    Returns:
        str: 64 lower-case hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_sha256(relpath: str) -> Optional[str]:
    r"""Returns the known digest of :obj:`relpath` (relative to the data root,
    e.g. :obj:`"planetoid/Cora/raw/ind.cora.x"`), or :obj:`None`."""
    return SHA256.get(Path(relpath).as_posix())


def verify_file(path: PathLike, expected: str,
                url: Optional[str] = None) -> None:
    r"""Checks that the file at :obj:`path` has SHA-256 digest
    :obj:`expected`.

    Args:
        path (str or Path): The file.
        expected (str): The hex digest (any case).
        url (str, optional): Where the file comes from, for the message. (default: ``None``)

    Returns:
        None.

    Raises:
        FileNotFoundError: If the file does not exist.
        ChecksumError: If the digest differs. The message names the file, the
            expected and actual digests and the file size, and suggests
            deleting and re-downloading it (from :obj:`url` if given).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Raw file '{path}' does not exist.")
    actual = sha256_file(path)
    if actual != expected.lower():
        where = f" from {url}" if url else ""
        raise ChecksumError(
            f"Checksum mismatch for '{path}' ({path.stat().st_size} bytes): "
            f"expected SHA-256 {expected}, got {actual}. The file is corrupt, "
            f"truncated or a different version. Delete it and download it "
            f"again{where} (gcnkit re-downloads missing files on the next "
            f"load when online).")


def verify_files(root: PathLike, relpaths: Iterable[str],
                 urls: Optional[Dict[str, str]] = None,
                 strict: bool = False) -> None:
    r"""Verifies every file :obj:`root / relpath` against
    :data:`~gcnkit.data.checksums.SHA256`.

    Args:
        root (str or Path): The data root.
        relpaths (Iterable[str]): Paths relative to :obj:`root`.
        urls (Dict[str, str], optional): Download URL per relpath, only used
            in error messages. (default: ``None``)
        strict (bool, optional): If :obj:`True`, a file without a known
            digest is an error; otherwise it is skipped. (default:
            ``False``)

    Returns:
        None.
    """
    root = Path(root)
    for rel in relpaths:
        expected = expected_sha256(rel)
        if expected is None:
            if strict:
                raise ChecksumError(f"No known SHA-256 digest for '{rel}'.")
            continue
        verify_file(root / rel, expected, (urls or {}).get(rel))


def read_sha256_file(path: PathLike) -> Dict[str, str]:
    r"""Parses a ``sha256sum``-format file into :obj:`{relpath: digest}`."""
    sums: Dict[str, str] = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ValueError(f"{path}:{lineno}: not a sha256sum line: {line!r}")
        digest, name = parts
        sums[name.lstrip("*")] = digest.lower()
    return sums


def format_sha256_file(sums: Dict[str, str]) -> str:
    r"""Formats :obj:`{relpath: digest}` in ``sha256sum`` format (sorted)."""
    return "".join(f"{sums[k]}  {k}\n" for k in sorted(sums))
