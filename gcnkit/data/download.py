"""Downloading raw files: atomic, checksum-verified, with clear offline errors.

Uses only :mod:`urllib` from the standard library. A download is written to a
temporary file next to its destination and moved into place only once it is
complete and its SHA-256 digest matches, so an interrupted or corrupt download
never leaves a file that looks valid.
"""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Union

from gcnkit.data.atomic import atomic_path
from gcnkit.data.checksum import ChecksumError
from gcnkit.data.root import DATA_ENV, is_writable, nearest_existing

PathLike = Union[str, "os.PathLike[str]"]

#: Seconds to wait for a server before giving up.
DEFAULT_TIMEOUT = 60.0


def download_file(url: str, path: PathLike, sha256: Optional[str] = None,
                  timeout: float = DEFAULT_TIMEOUT) -> Path:
    r"""Downloads :obj:`url` to :obj:`path` atomically.

    Args:
        url (str): The URL.
        path (str or Path): The destination file.
        sha256 (str, optional): Expected hex digest; on mismatch nothing is
            written and :class:`~gcnkit.data.checksum.ChecksumError` is
            raised. (default: ``None``)
        timeout (float, optional): Socket timeout in seconds. (default: ``60.0``)

    Returns:
        Path: :obj:`path`.

    Raises:
        urllib.error.URLError, OSError: If the download fails.
        ChecksumError: If the downloaded bytes have the wrong digest.
    """
    path = Path(path)
    if "PYTEST_CURRENT_TEST" not in os.environ:
        print(f"Downloading {url}", file=sys.stderr)
    with atomic_path(path) as tmp:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                open(tmp, "wb") as f:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                f.write(chunk)
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise ChecksumError(
                f"Checksum mismatch for the download of {url}: expected "
                f"SHA-256 {sha256}, got {digest.hexdigest()}. Nothing was "
                f"written to '{path}'. The server returned an unexpected "
                f"file; retry later or obtain the file manually.")
    return path


def missing_files(folder: PathLike, names: Sequence[str]) -> List[str]:
    r"""Returns the names in :obj:`names` that are not files in
    :obj:`folder`."""
    folder = Path(folder)
    return [n for n in names if not (folder / n).is_file()]


def ensure_files(
    folder: PathLike,
    urls: Mapping[str, Sequence[str]],
    sha256: Mapping[str, Optional[str]],
    dataset: str,
    download: bool = True,
) -> None:
    r"""Makes sure every file named in :obj:`urls` exists in :obj:`folder`,
    downloading the missing ones.

    Files that already exist are left alone (and not downloaded again).

    Args:
        folder (str or Path): The raw folder.
        urls (Mapping[str, Sequence[str]]): For each file name, the URLs to
            try in order.
        sha256 (Mapping[str, Optional[str]]): Expected digest per file name.
        dataset (str): Dataset name for error messages.
        download (bool, optional): If :obj:`False`, missing files are an
            error instead of being downloaded. (default: :obj:`True`)

    Raises:
        FileNotFoundError: If files are missing and cannot be downloaded
            (offline, :obj:`download=False` or a read-only folder). The
            message names the folder, the expected file names and the URLs.
        ChecksumError: If every URL of a file served the wrong bytes.
        IsADirectoryError: If a folder has a data file's name (reported as
            such, not as a missing file; nothing is downloaded over it).
    """
    folder = Path(folder)
    for name in urls:
        if (folder / name).is_dir():
            raise IsADirectoryError(
                f"{dataset}: '{folder / name}' is a directory, not a file: the raw file {name} must "
                f"be a file there. Remove or rename that directory, then copy the file there (or "
                f"let it be downloaded).")
    missing = missing_files(folder, list(urls))
    if not missing:
        return

    def fail(reason: str) -> FileNotFoundError:
        still = missing_files(folder, list(urls))
        tried = "\n".join(f"  {n}: {', '.join(urls[n])}" for n in still)
        # PyG's layout (<root>/Cora/raw) where gcnkit's is <root>/planetoid/Cora/raw: say where they are
        elsewhere = folder.parents[2] / folder.parent.name / folder.name if len(folder.parents) > 2 else None
        if elsewhere is not None and elsewhere != folder and any((elsewhere / n).is_file() for n in still):
            given, kind = folder.parents[2], folder.parents[1].name  # <root>, and 'planetoid'
            fix = (f"pass its parent '{given.parent}' as the data root (--root, the 'root' argument or "
                   f"${DATA_ENV}), which holds {kind}/{folder.parent.name}/raw" if given.name == kind
                   else "move or link that folder there")
            reason += (f"\nThey are in '{elsewhere}' (PyTorch Geometric's layout): gcnkit reads "
                       f"'{folder}'; {fix}.")
        return FileNotFoundError(
            f"{dataset}: raw files missing in '{folder}': {still}.\n"
            f"Expected files there: {list(urls)}.\n{reason}\n"
            f"Download URLs:\n{tried}\n"
            f"Copy the files into that folder, or point --root (the 'root' "
            f"argument) or ${DATA_ENV} to a data root that has them.")

    existing = nearest_existing(folder)
    if existing is not None and not existing.is_dir():
        raise fail(f"'{existing}' is a file, not a folder: point the data root at a folder.")
    if not download:
        raise fail("Downloading is disabled (download=False).")
    if not is_writable(folder):
        raise fail("The folder is read-only, so they cannot be downloaded "
                   "into it.")

    top = folder  # the outermost folder this call creates (removed again if nothing arrives)
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    created = None if top.exists() else top
    folder.mkdir(parents=True, exist_ok=True)
    for name in missing:
        errors, bad_sums = [], []
        for url in urls[name]:
            try:
                download_file(url, folder / name, sha256.get(name))
                break
            except ChecksumError as e:  # try the next mirror
                bad_sums.append(str(e))
            except Exception as e:  # URLError, HTTPError, timeouts, OSError
                errors.append(f"{url}: {type(e).__name__}: {e}")
        else:
            if created is not None:  # a mistyped root must not leave empty folders behind
                _remove_empty_tree(folder, created)
            if bad_sums:
                raise ChecksumError("\n".join(bad_sums + errors))
            raise fail("Tried to download them but failed (offline?):\n  " +
                       "\n  ".join(errors)) from None



def _remove_empty_tree(folder: Path, top: Path) -> None:
    """Removes ``folder`` and its parents up to ``top`` while they are empty."""
    path = folder
    while True:
        try:
            path.rmdir()  # only an empty folder
        except OSError:
            return
        if path == top:
            return
        path = path.parent
