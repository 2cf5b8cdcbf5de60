"""Temporal signal datasets: Chickenpox, PedalMe and Los-loop.

Raw files live in ``<root>/temporal/`` (see :mod:`gcnkit.data.root`); missing
ones are downloaded from their publishers and every file is SHA-256 verified
on each load (they are small). Parsing is in
:mod:`gcnkit.data.temporal_parsers`; nothing is cached or written besides
downloads.

Surprises in the files (checked against the copies listed in
``datasets/temporal.sha256``):

* Chickenpox has T = 521 weekly steps (often quoted as 522 weeks) and its
  ``FX`` is already z-scored per county over all 521 weeks (mean 0,
  population std 1), i.e. with statistics that include the test period. PyG
  Temporal uses ``FX`` as is; so does :func:`load_temporal`.
* PedalMe has T = 35 steps (often quoted as 36 weeks); ``X`` is not exactly
  standardized (per-area std 0.53 to 1.05).
* ``los_speed.csv``'s first row is a header of the 207 sensor ids; T = 2016
  5-minute steps. ``los_adj.csv`` already has ones on its diagonal (T-GCN's
  normalization adds the identity once more).

To reproduce PyG Temporal's ``ChickenpoxDatasetLoader().get_dataset(lags=4)``
use :func:`~gcnkit.data.windows.node_lag_features` on
:obj:`load_temporal("chickenpox").series` (517 snapshots, :obj:`x [20, 4]`,
:obj:`y [20]`, edge weights all ones), or equivalently
:obj:`make_windows(series, lags=4, horizon=1)`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

from gcnkit.data.checksum import expected_sha256, verify_file
from gcnkit.data.download import ensure_files
from gcnkit.data.root import resolve_root
from gcnkit.data.signal import TemporalSignal
from gcnkit.data.temporal_parsers import (
    parse_chickenpox,
    parse_losloop,
    parse_pedalme,
)

_PYGT = ("https://raw.githubusercontent.com/benedekrozemberczki/"
         "pytorch_geometric_temporal/master/dataset/")
_TGCN = "https://raw.githubusercontent.com/lehaifeng/T-GCN/master/"
_TGCN_PT = "https://raw.githubusercontent.com/martinwhl/T-GCN-PyTorch/HEAD/"


def _los_urls(file: str) -> List[str]:
    # Top-level data/ of lehaifeng/T-GCN first; the repository has moved its
    # files over time, so fall back to the PyTorch port's copies. All must
    # match the same SHA-256.
    return [f"{_TGCN}data/{file}", f"{_TGCN}T-GCN/T-GCN-PyTorch/data/{file}",
            f"{_TGCN}T-GCN/T-GCN-TensorFlow/data/{file}", f"{_TGCN_PT}data/{file}"]


#: name -> {file name in <root>/temporal: [URLs to try]}
TEMPORAL_FILES: Dict[str, Dict[str, List[str]]] = {
    "chickenpox": {"chickenpox.json": [_PYGT + "chickenpox.json"]},
    "pedalme": {"pedalme_london.json": [_PYGT + "pedalme_london.json"]},
    "losloop": {"los_speed.csv": _los_urls("los_speed.csv"),
                "los_adj.csv": _los_urls("los_adj.csv")},
}

_ALIASES = {"pedalme_london": "pedalme", "los-loop": "losloop",
            "los_loop": "losloop", "los": "losloop"}

_PARSERS: Dict[str, Callable[..., TemporalSignal]] = {
    "chickenpox": lambda d: parse_chickenpox(d / "chickenpox.json"),
    "pedalme": lambda d: parse_pedalme(d / "pedalme_london.json"),
    "losloop": lambda d: parse_losloop(d / "los_speed.csv",
                                       d / "los_adj.csv"),
}


def list_temporal_datasets() -> List[str]:
    r"""Names accepted by :func:`load_temporal` (aliases not included).

    Returns:
        List[str]: Lower-case names, sorted.
    """
    return sorted(TEMPORAL_FILES)


def canonical_temporal_name(name: str) -> str:
    r"""Normalizes a temporal dataset name (case-insensitive, aliases).

    Raises:
        ValueError: For unknown names, listing the choices.
    """
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    if key not in TEMPORAL_FILES:
        raise ValueError(f"Unknown temporal dataset '{name}'; choose one of "
                         f"{list_temporal_datasets()}.")
    return key


def temporal_raw_files(name: str,
                       root: Optional[Union[str, Path]] = None) -> List[Path]:
    r"""Paths of the raw files of :obj:`name` below the data root."""
    folder = resolve_root(root) / "temporal"
    return [folder / f for f in TEMPORAL_FILES[canonical_temporal_name(name)]]


def load_temporal(name: str, root: Optional[Union[str, Path]] = None,
                  download: bool = True) -> TemporalSignal:
    r"""Loads a temporal signal dataset.

    Args:
        name (str): :obj:`"chickenpox"`, :obj:`"pedalme"` or
            :obj:`"losloop"` (case-insensitive).
        root (str or Path, optional): Data root (argument, else
            :obj:`$GCNKIT_DATA`, else :obj:`./datasets`). (default: ``None``)
        download (bool, optional): Whether missing files may be downloaded.
            (default: ``True``)

    Returns:
        :class:`~gcnkit.data.signal.TemporalSignal`: chickenpox
        :obj:`series [521, 20]`, 102 edges with unit weights; pedalme
        :obj:`[35, 15]`, 225 weighted edges; losloop :obj:`[2016, 207]`,
        2833 weighted edges (nonzeros of the adjacency, self-loops included).

    Raises:
        ValueError: Unknown name or malformed file.
        FileNotFoundError: Files missing and not downloadable (offline).
        ChecksumError: A file is corrupt or truncated.
    """
    key = canonical_temporal_name(name)
    folder = resolve_root(root) / "temporal"
    files = TEMPORAL_FILES[key]
    sums = {f: expected_sha256(f"temporal/{f}") for f in files}
    ensure_files(folder, files, sums, dataset=key, download=download)
    for f, urls in files.items():
        expected = sums[f]
        if expected is not None:
            verify_file(folder / f, expected, urls[0])
    return _PARSERS[key](folder)
