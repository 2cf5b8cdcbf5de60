"""Planetoid citation graphs (Cora, CiteSeer, PubMed) with verified raw files.

:class:`PlanetoidDataset` subclasses :class:`torch_geometric.datasets.Planetoid`
and changes only where files live and how they are checked:

* ``raw_dir`` is ``<root>/planetoid/<Name>/raw`` (PyG's raw layout below
  ``planetoid/``); it may be read-only.
* ``processed_dir`` is ``<root>/planetoid/<Name>/processed`` if that is
  writable, else ``<cache root>/planetoid/<Name>/processed`` (see
  :func:`gcnkit.data.root.resolve_cache_root`).
* Existing raw files are never downloaded again. Missing ones are downloaded
  from PyG's ``Planetoid.url`` (kimiyoung/planetoid on GitHub) and verified;
  offline, a :class:`FileNotFoundError` names the folder, files and URLs.
* Raw files are SHA-256 verified on every load (before a cache is served or
  made), and the processed file is written atomically, so a failed run leaves
  no cache behind. A cache made with another ``pre_transform`` is remade.

Processing itself is PyG's :func:`~torch_geometric.io.read_planetoid_data`.
Features are the raw bag-of-words values (not row-normalized).
"""
from __future__ import annotations

import os.path as osp
import re
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Type, Union

import torch
from torch_geometric.data import Data
from torch_geometric.data.data import BaseData
from torch_geometric.datasets import Planetoid
from torch_geometric.io import read_planetoid_data

from gcnkit.data.atomic import atomic_torch_save
from gcnkit.data.checksum import expected_sha256, verify_file
from gcnkit.data.download import ensure_files
from gcnkit.data.lock import folder_lock
from gcnkit.data.root import CACHE_ENV, is_writable, resolve_root, writable_dir
from gcnkit.data.split_masks import check_sizes, check_split_sizes
from gcnkit.functional.validation import check_int

#: Lower-case name -> PyG's canonical name (also the folder name).
PLANETOID_NAMES: Dict[str, str] = {
    "cora": "Cora",
    "citeseer": "CiteSeer",
    "pubmed": "PubMed",
}

_SPLITS = ("public", "full", "random")


def canonical_planetoid_name(name: str) -> str:
    r"""Maps :obj:`"cora"`, :obj:`"CORA"`, ... to :obj:`"Cora"` etc.

    Raises:
        ValueError: For names other than Cora, CiteSeer, PubMed.
    """
    key = str(name).lower()
    if key not in PLANETOID_NAMES:
        raise ValueError(f"Unknown Planetoid dataset '{name}'; choose one of "
                         f"{sorted(PLANETOID_NAMES.values())}.")
    return PLANETOID_NAMES[key]


def _repr(obj: Any) -> str:  # same as torch_geometric.data.dataset._repr
    if obj is None:
        return "None"
    return re.sub("(<.*?)\\s.*(>)", r"\1\2", str(obj))


#: What a processed Planetoid cache holds (PyG's file and the two markers gcnkit checks).
_CACHE_FILES = ("data.pt", "pre_transform.pt", "pre_filter.pt")


class PlanetoidDataset(Planetoid):
    r"""PyG's :class:`~torch_geometric.datasets.Planetoid` with gcnkit's data
    root layout, checksums, read-only roots and clear offline errors.

    Args:
        root (str or Path, optional): The data root (see
            :func:`gcnkit.data.root.resolve_root`). (default: :obj:`None`)
        name (str): :obj:`"Cora"`, :obj:`"CiteSeer"` or :obj:`"PubMed"`
            (case-insensitive).
        split (str, optional): :obj:`"public"`, :obj:`"full"` or
            :obj:`"random"`, as in PyG. (default: :obj:`"public"`)
        split_seed (int, optional): seed of the :obj:`"random"` split, drawn
            with its own generator state (PyG draws it from the global RNG,
            so the split depends on what ran before); the global RNG is left
            as it was. The :obj:`"public"` and :obj:`"full"` splits are fixed,
            so a :obj:`split_seed` other than the default :obj:`0` is refused
            there rather than silently ignored (the default itself is
            accepted, so code that passes one seed to every split keeps
            working). (default: :obj:`0`)
        download (bool, optional): Whether missing raw files may be
            downloaded. (default: :obj:`True`)
        **kwargs: :obj:`num_train_per_class`, :obj:`num_val`,
            :obj:`num_test` (the sizes of the :obj:`"random"` split; PyG
            ignores them for the others, here they are refused there),
            passed to PyG's :class:`Planetoid`.
    """
    def __init__(
        self,
        root: Optional[Union[str, Path]] = None,
        name: str = "Cora",
        split: str = "public",
        download: bool = True,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
        split_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        name = canonical_planetoid_name(name)
        if str(split).lower() not in _SPLITS:
            raise ValueError(f"Unsupported split '{split}' for {name}; choose "
                             f"one of {list(_SPLITS)}.")
        sizes = sorted(set(kwargs) & {"num_train_per_class", "num_val",
                                      "num_test"})
        if sizes and str(split).lower() != "random":
            raise ValueError(f"{', '.join(sizes)} set the sizes of the "
                             f"'random' split; the '{str(split).lower()}' "
                             f"split of {name} has fixed sizes (pass "
                             f"split='random')")
        random = str(split).lower() == "random"
        split_seed = check_int("split_seed", split_seed, 0)  # 1.5 was truncated to 1
        if split_seed != 0 and not random:
            raise ValueError(f"split_seed={split_seed} only seeds the 'random' split; the "
                             f"'{str(split).lower()}' split of {name} is fixed (pass split='random', "
                             f"or leave split_seed out)")
        if random:  # PyG only slices with them: 0 or -1 would give another split, or an empty one
            check_sizes(**{k: kwargs[k] for k in sizes})
        self.data_root = resolve_root(root)
        self.allow_download = download
        self._processed_dir = writable_dir(
            self.data_root / "planetoid" / name / "processed",
            Path("planetoid") / name / "processed", made=_CACHE_FILES)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(split_seed)  # PyG's random split: global RNG
            super().__init__(str(self.data_root / "planetoid"), name,
                             split=str(split).lower(), transform=transform,
                             pre_transform=pre_transform,
                             force_reload=force_reload, **kwargs)
        if random:
            check_split_sizes(self._data.y, self.num_classes, kwargs.get("num_train_per_class", 20),
                              kwargs.get("num_val", 500), kwargs.get("num_test", 1000))

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.name, "raw")

    @property
    def processed_dir(self) -> str:
        return str(self._processed_dir)

    def raw_url(self, file_name: str) -> str:
        r"""The publisher URL of a raw file (PyG's ``Planetoid.url``)."""
        return f"{self.url}/{file_name}"

    def raw_sha256(self, file_name: str) -> Optional[str]:
        r"""The expected digest of a raw file, if known."""
        return expected_sha256(f"planetoid/{self.name}/raw/{file_name}")

    # PyG's ``Dataset._download`` creates ``raw_dir`` before calling
    # ``download()``, which fails on a read-only root; we only touch the
    # folder when something is actually missing.
    def _download(self) -> None:
        self.download()

    def download(self) -> None:
        r"""Downloads missing raw files (existing ones are kept)."""
        names = self.raw_file_names
        ensure_files(self.raw_dir, {n: [self.raw_url(n)] for n in names},
                     {n: self.raw_sha256(n) for n in names},
                     dataset=f"Planetoid {self.name}",
                     download=self.allow_download)

    def verify_raw(self) -> None:
        r"""Verifies the SHA-256 digest of every raw file.

        Raises:
            ChecksumError: On a mismatch, naming the file and both digests.
        """
        for n in self.raw_file_names:
            expected = self.raw_sha256(n)
            if expected is not None:
                verify_file(osp.join(self.raw_dir, n), expected,
                            self.raw_url(n))

    # Replaces PyG's ``Dataset._process`` so that every file is written
    # atomically and nothing is created before the raw files are verified.
    # The raw files are verified on every load, not only when processing: a
    # cache (possibly shared by several read-only roots) is served only for
    # raw files that check out, and only if it was made with the same
    # ``pre_transform`` / ``pre_filter`` (PyG warns and serves it anyway).
    # Processes that load the same cache take turns (a folder lock): two writers with different
    # pre_transforms could otherwise leave one's marker beside the other's data.
    # The cache is also read under the lock (PyG's Planetoid reads it after _process, once the lock
    # is released, where another process could have rebuilt it with its own pre_transform): what
    # was read here is what ``load`` serves.
    def _process(self) -> None:
        self.verify_raw()
        with folder_lock(self.processed_dir):
            out = None if self.force_reload else self._matching_cache()
            if out is None:
                if not is_writable(self.processed_dir):  # a read-only cache, served only as it is
                    why = ("force_reload=True asks to rebuild it" if self.force_reload else
                           "it is damaged or was made with another pre_transform / pre_filter")
                    raise RuntimeError(f"The processed files in '{self.processed_dir}' are read-only and "
                                       f"{why}; set ${CACHE_ENV} to a writable folder")
                self.process()
                out = torch.load(self.processed_paths[0], weights_only=False)
            self.__dict__["_held"] = (self.processed_paths[0], out)

    def load(self, path: str, data_cls: Type[BaseData] = Data) -> None:
        held = self.__dict__.pop("_held", None)
        if held is None or held[0] != path:
            return super().load(path, data_cls)
        out = held[1]  # as PyG's InMemoryDataset.load unpacks it
        data, self.slices = out[:2]
        self.data = (out[2] if len(out) == 3 else data_cls).from_dict(data)

    def _matching_cache(self) -> Optional[tuple]:
        """The processed ``data.pt`` as read, if it is whole and was made with this
        ``pre_transform`` / ``pre_filter``; else ``None``."""
        try:  # missing or damaged (truncated, overwritten, another file): rebuilt from the raw files
            out = torch.load(self.processed_paths[0], weights_only=False)
        except Exception:
            return None
        if not (isinstance(out, tuple) and len(out) in (2, 3) and isinstance(out[0], dict)):
            return None  # what PyG's InMemoryDataset.load reads (it asserts, with a traceback)
        for file_name, obj in (("pre_transform.pt", self.pre_transform), ("pre_filter.pt", self.pre_filter)):
            path = osp.join(self.processed_dir, file_name)
            try:  # damaged too (PyG writes these in place): rebuilt, as data.pt
                stored = torch.load(path, weights_only=False)
            except Exception:
                return None
            if stored != _repr(obj):
                return None
        return out

    def process(self) -> None:
        r"""Processes the (verified) raw files with PyG's reader."""
        data = read_planetoid_data(self.raw_dir, self.name)
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        collated, slices = self.collate([data])
        # the old data.pt goes first: one left beside the new markers by a failed or interrupted
        # write of the new one would pass for a cache made with them
        Path(self.processed_paths[0]).unlink(missing_ok=True)
        atomic_torch_save(_repr(self.pre_transform),
                          osp.join(self.processed_dir, "pre_transform.pt"))
        atomic_torch_save(_repr(self.pre_filter),
                          osp.join(self.processed_dir, "pre_filter.pt"))
        # Written last: its existence marks a complete cache.
        atomic_torch_save((collated.to_dict(), slices, collated.__class__),
                          self.processed_paths[0])


def load_planetoid(name: str, root: Optional[Union[str, Path]] = None,
                   **kwargs: Any) -> Data:
    r"""Loads a Planetoid graph as one :class:`~torch_geometric.data.Data`.

    The result has dense float32 :obj:`x` (raw, not row-normalized),
    :obj:`y`, :obj:`edge_index`, :obj:`train_mask`, :obj:`val_mask`,
    :obj:`test_mask`, and the attributes :obj:`num_classes` (int) and
    :obj:`name` (str). :obj:`kwargs` go to :class:`PlanetoidDataset`.

    Args:
        name (str): :obj:`"cora"`, :obj:`"citeseer"` or :obj:`"pubmed"`.
        root (str or Path, optional): Data root (see :func:`resolve_root`). (default: ``None``)
        **kwargs: E.g. :obj:`split`, :obj:`download`, :obj:`force_reload`.

    Returns:
        Data: :obj:`x` :math:`(|\mathcal{V}|, F)`, :obj:`y` :math:`(|\mathcal{V}|)` and the above.
    """
    dataset = PlanetoidDataset(root, name, **kwargs)
    data = dataset[0]
    if data.x.is_sparse or data.x.layout != torch.strided:
        data.x = data.x.to_dense()
    data.x = data.x.to(torch.float32)
    data.num_classes = int(data.y.max()) + 1
    data.name = dataset.name
    return data
