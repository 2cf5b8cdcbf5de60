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
    :obj:`"karateclub"`, :obj:`"karate_club"`).

    Returns:
        List[str]: Lower-case names, sorted.
    """
    return sorted(_PLANETOID + _SYNTHETIC)


def dataset_name(name: str) -> str:
    r"""The canonical name of a dataset: :obj:`"Cora"`, :obj:`"CiteSeer"`,
    :obj:`"PubMed"`, :obj:`"csbm"` or :obj:`"karate"` for any accepted
    spelling (case, aliases), so that results are keyed on one name.

    Args:
        name (str): Any name :func:`load_dataset` accepts.

    Returns:
        str: The canonical name.

    Raises:
        ValueError: For an unknown name, listing the choices.
    """
    key = _ALIASES.get(str(name).lower().strip(), str(name).lower().strip())
    if key in _PLANETOID:
        from gcnkit.data.planetoid import canonical_planetoid_name
        return canonical_planetoid_name(key)
    if key in _SYNTHETIC:
        return key
    raise ValueError(f"Unknown dataset '{name}'; choose one of "
                     f"{list_datasets()} (or 'karateclub').")


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
            ignored by synthetic ones. (default: ``None``)
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
    key = dataset_name(name).lower()
    check_dataset_options(key, kwargs)
    if key in _PLANETOID:
        from gcnkit.data.planetoid import load_planetoid
        return load_planetoid(key, root, **kwargs)
    if key == "csbm":
        from gcnkit.data.synthetic import csbm
        return csbm(**kwargs)
    from gcnkit.data.synthetic import karate_club
    return karate_club(**kwargs)


def check_dataset_options(name: str, options) -> None:
    """Raises ``ValueError`` naming the options of ``options`` (names) that the dataset's loader
    does not take, and the ones it does (see :func:`dataset_options`)."""
    unknown = sorted(set(options) - set(dataset_options(name)))
    if unknown:
        raise ValueError(f"{dataset_name(name)} takes no option {', '.join(map(repr, unknown))}; its options: "
                         f"{', '.join(dataset_options(name))}")


def dataset_options(name: str) -> List[str]:
    r"""The keyword options :func:`load_dataset` takes for a dataset (its loader's parameters).

    Args:
        name (str): Any name :func:`load_dataset` accepts.

    Returns:
        List[str]: e.g. ``["homophily", ...]`` for :obj:`"csbm"`, ``["split", ...]`` for Planetoid.
    """
    import inspect

    key = dataset_name(name).lower()
    if key in _PLANETOID:
        from gcnkit.data.planetoid import PlanetoidDataset
        names = list(inspect.signature(PlanetoidDataset.__init__).parameters)[3:]  # (self, root, name)
        return [n for n in names if n != "kwargs"] + ["num_train_per_class", "num_val", "num_test"]  # PyG's
    from gcnkit.data import synthetic
    return list(inspect.signature(synthetic.csbm if key == "csbm" else synthetic.karate_club).parameters)
