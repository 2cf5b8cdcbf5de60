"""Datasets for gcnkit.

Node classification: :func:`load_dataset` (Cora, CiteSeer, PubMed, CSBM,
Karate club). Temporal signals: :func:`load_temporal` (Chickenpox, PedalMe,
Los-loop) with :func:`make_windows`, :func:`chronological_split` and the
scalers; PyG Temporal's snapshot signals as one sequence: :func:`from_snapshots`.
Data root: :func:`resolve_root` (argument > ``$GCNKIT_DATA`` > ``./datasets``).

Importing this package is cheap: submodules (and torch / torch_geometric)
are imported on first attribute access.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List

_EXPORTS: Dict[str, str] = {
    # root / files
    "resolve_root": "root",
    "resolve_cache_root": "root",
    "is_writable": "root",
    "sha256_file": "checksum",
    "verify_file": "checksum",
    "verify_files": "checksum",
    "ChecksumError": "checksum",
    "SHA256": "checksums",
    "download_file": "download",
    # node classification
    "load_dataset": "registry",
    "list_datasets": "registry",
    "dataset_name": "registry",
    "dataset_options": "registry",
    "PlanetoidDataset": "planetoid",
    "load_planetoid": "planetoid",
    "csbm": "synthetic",
    "karate_club": "synthetic",
    "planetoid_masks": "split_masks",
    "edge_homophily": "synthetic",
    # temporal
    "TemporalSignal": "signal",
    "from_snapshots": "snapshots",
    "SnapshotSequence": "snapshots",
    "load_temporal": "temporal",
    "list_temporal_datasets": "temporal",
    "make_windows": "windows",
    "chronological_split": "windows",
    "samples_to_time_range": "windows",
    "node_lag_features": "windows",
    "check_finite": "windows",
    "Split": "windows",
    "MaxScaler": "scalers",
    "StandardScaler": "scalers",
}

__all__: List[str] = sorted(_EXPORTS)

if TYPE_CHECKING:  # what type checkers see (at run time each is imported on first access)
    from gcnkit.data.checksum import ChecksumError, sha256_file, verify_file, verify_files  # noqa: F401
    from gcnkit.data.checksums import SHA256  # noqa: F401
    from gcnkit.data.download import download_file  # noqa: F401
    from gcnkit.data.planetoid import PlanetoidDataset, load_planetoid  # noqa: F401
    from gcnkit.data.registry import dataset_name, dataset_options, list_datasets, load_dataset  # noqa: F401
    from gcnkit.data.root import is_writable, resolve_cache_root, resolve_root  # noqa: F401
    from gcnkit.data.scalers import MaxScaler, StandardScaler  # noqa: F401
    from gcnkit.data.signal import TemporalSignal  # noqa: F401
    from gcnkit.data.snapshots import SnapshotSequence, from_snapshots  # noqa: F401
    from gcnkit.data.split_masks import planetoid_masks  # noqa: F401
    from gcnkit.data.synthetic import csbm, edge_homophily, karate_club  # noqa: F401
    from gcnkit.data.temporal import list_temporal_datasets, load_temporal  # noqa: F401
    from gcnkit.data.windows import Split, check_finite, chronological_split, make_windows  # noqa: F401
    from gcnkit.data.windows import node_lag_features, samples_to_time_range  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_EXPORTS))
