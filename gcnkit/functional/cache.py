"""A small cache of normalized graphs keyed on the graph itself.

PyG's ``cached=True`` keeps the first normalization it computed and silently reuses it for any
later graph (PyG issues #619, #2073). Here an entry is keyed on the *identity and version* of the
tensors that define the graph (``edge_index``, ``edge_weight``, a sparse adjacency) plus the
normalization options: a different tensor, or the same tensor modified in place (its version
counter moves), is a miss and is normalized anew. Entries hold only weak references to the
key tensors, so the cache never keeps a user's graph alive.

Limits: writes that bypass autograd's version counter are not seen — through ``tensor.data``,
through a NumPy array sharing the memory (``torch.from_numpy`` buffers refilled by a loader), or
by another library writing to ``data_ptr()``. After such a write pass a new tensor (e.g.
``edge_weight.clone()``), call :func:`gcnkit.nn.conv.clear_caches` (this cache and the layers'
feature caches), or build the layer with ``cached=False``. The weak references also keep
``torch.utils.swap_tensors`` from swapping a key tensor: with
``torch.__future__.set_swap_module_params_on_conversion(True)``, ``module.double()`` on a module
whose (frozen) ``Parameter`` served as ``edge_weight`` raises "Couldn't swap"; call
:func:`gcnkit.nn.conv.clear_caches` before the conversion.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Hashable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor


def _version(t: Tensor) -> Optional[int]:
    try:
        return t._version
    except (RuntimeError, AttributeError):  # inference tensors carry no version counter
        return None


#: Lists collecting what the caches and the sparse products hand out inside :func:`holding`.
_sinks: List[list] = []


@contextmanager
def holding() -> Iterator[list]:
    """Collects, into the list it yields, every cached value and every sparse matrix a product
    reads inside the block. A CUDA graph keeps the addresses of what its kernels read, not
    references: :class:`gcnkit.train.cuda_graph.GraphedStep` holds this list for the graph's
    lifetime, so that a cache evicting a normalized graph (or a matrix dropping a copy) cannot
    free memory that replays still read."""
    held: list = []
    _sinks.append(held)
    try:
        yield held
    finally:  # by identity: list.remove would take the first *equal* list (nested blocks)
        for i, sink in enumerate(_sinks):
            if sink is held:
                del _sinks[i]
                break


def hold(value) -> None:
    """Adds ``value`` to the lists of the open :func:`holding` blocks (none: nothing to do)."""
    for sink in _sinks:
        sink.append(value)


def _stamp(value) -> Optional[int]:
    """The version counter of a cached value's own numbers (a NormalizedGraph's operator values, a
    tensor), which a caller holding the shared value may write in place: then it is stale."""
    t = getattr(getattr(value, "adj", None), "value", value)
    return _version(t) if isinstance(t, Tensor) else None


def _valid(entry: tuple, tensors: Sequence[Optional[Tensor]]) -> bool:
    refs, value, stamp = entry
    return all(r is None if t is None else r() is t for r, t in zip(refs, tensors)) and _stamp(value) == stamp


class GraphCache:
    """LRU cache ``(graph tensors, options) -> value`` validated by identity and version."""

    def __init__(self, maxsize: int = 16):
        self.maxsize = maxsize
        self._entries: "OrderedDict[tuple, tuple]" = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _key(self, tensors: Sequence[Optional[Tensor]], options: Hashable) -> Optional[Tuple]:
        ids: List[Optional[int]] = []
        versions: List[Optional[int]] = []
        for t in tensors:
            if t is None:
                ids.append(None)
                versions.append(None)
                continue
            v = _version(t)
            if v is None or t.requires_grad:
                return None  # uncacheable: no version counter, or a differentiable graph
            ids.append(id(t))
            versions.append(v)
        return (tuple(ids), tuple(versions), options)

    @torch.compiler.disable  # host-side bookkeeping: guards on id(tensor) would recompile per graph
    def peek(self, tensors: Sequence[Optional[Tensor]], options: Hashable):
        """The cached value for this graph and options, or ``None`` (computes nothing)."""
        key = self._key(tensors, options)
        entry = None if key is None else self._entries.get(key)
        if entry is None or not _valid(entry, tensors):
            return None
        hold(entry[1])
        return entry[1]

    @torch.compiler.disable  # (see peek)
    def get(self, tensors: Sequence[Optional[Tensor]], options: Hashable, compute: Callable[[], object]):
        """Returns the cached value for this graph and options, computing it on a miss."""
        key = self._key(tensors, options)
        if key is None:
            self.misses += 1
            return compute()
        entry = self._entries.get(key)
        if entry is not None:
            value = entry[1]
            if _valid(entry, tensors):
                self._entries.move_to_end(key)
                self.hits += 1
                hold(value)
                return value
            del self._entries[key]  # an id was reused by a new tensor, or the value written in place
        self.misses += 1
        value = compute()
        # when a key tensor dies its entry goes too: a dead graph's operator (and its transposes
        # and copies) is not kept until the LRU pushes it out
        this = weakref.ref(self)

        def drop(_ref, key=key):
            cache = this()
            if cache is not None:
                cache._entries.pop(key, None)
        refs = tuple(None if t is None else weakref.ref(t, drop) for t in tensors)
        self._entries[key] = (refs, value, _stamp(value))
        hold(value)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


#: The cache shared by all gcnkit layers: two layers (or gates, or time steps) that see the same
#: graph with the same options share one normalization.
graph_cache = GraphCache()
