"""One entry point for node-classification datasets: :func:`load_dataset`."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

if TYPE_CHECKING:  # pragma: no cover
    from torch_geometric.data import Data

_PLANETOID = ("cora", "citeseer", "pubmed")
_SYNTHETIC = ("csbm", "karate")
_ALIASES: Dict[str, str] = {"karateclub": "karate", "karate_club": "karate",
                            "karate-club": "karate"}


def list_datasets() -> List[str]:
    r"""Names accepted by :func:`load_dataset` (besides the aliases
    :obj:`"karateclub"`, :obj:`"karate_club"`)."""
    return sorted(_PLANETOID + _SYNTHETIC)


def load_dataset(name: str, root: Optional[Union[str, Path]] = None,
                 **kwargs: Any) -> Data:
    r"""Loads a node-classification graph.

    Args:
        name (str): :obj:`"cora"`, :obj:`"citeseer"`, :obj:`"pubmed"`
            (Planetoid public split), :obj:`"csbm"` (synthetic, see
            :func:`gcnkit.data.synthetic.csbm`) or :obj:`"karate"` /
            :obj:`"karateclub"`; case-insensitive.
        root (str or Path, optional): Data root for file-based datasets
            (argument, else :obj:`$GCNKIT_DATA`, else :obj:`./datasets`);
            ignored by synthetic ones.
        **kwargs: Forwarded to :class:`~gcnkit.data.planetoid.PlanetoidDataset`
            (e.g. :obj:`split`, :obj:`download`, :obj:`force_reload`),
            :func:`~gcnkit.data.synthetic.csbm` or
            :func:`~gcnkit.data.synthetic.karate_club`.

    Returns:
        :class:`~torch_geometric.data.Data` with dense float32 :obj:`x` (raw
        features, not row-normalized), :obj:`y`, :obj:`edge_index`,
        :obj:`train_mask`, :obj:`val_mask`, :obj:`test_mask`,
        :obj:`num_classes` (int) and :obj:`name` (str).

    Raises:
        ValueError: For an unknown name, listing the choices.
    """
    key = str(name).lower().strip()
    key = _ALIASES.get(key, key)
    if key in _PLANETOID:
        from gcnkit.data.planetoid import load_planetoid
        return load_planetoid(key, root, **kwargs)
    if key == "csbm":
        from gcnkit.data.synthetic import csbm
        return csbm(**kwargs)
    if key == "karate":
        from gcnkit.data.synthetic import karate_club
        return karate_club(**kwargs)
    raise ValueError(f"Unknown dataset '{name}'; choose one of "
                     f"{list_datasets()} (or 'karateclub').")
