"""One memory budget for the block-diagonal copies of all :class:`~gcnkit.functional.sparse.CSRMatrix`
objects (batches over a static graph are multiplied against ``I_B ⊗ A``)."""
from __future__ import annotations

import weakref
from collections import OrderedDict

#: Matrices holding block-diagonal copies, least recently extended first: the copies of all of
#: them together stay within the same budget as one matrix's (the graph cache keeps up to 16
#: graphs, each of which could otherwise hold its own ~500 MB).
_block_owners: "OrderedDict[int, weakref.ref]" = OrderedDict()


def reserve_blocks(owner, nnz: int, budget: int) -> None:
    """Makes room for ``nnz`` more block-diagonal values held by ``owner`` (a ``CSRMatrix``): other
    matrices' copies are dropped, least recently extended first, while the total would exceed
    ``budget`` stored values."""
    total = nnz + sum(b.nnz for b in owner._blocks.values())
    others = []
    for key, ref in list(_block_owners.items()):
        other = ref()
        if other is None or not other._blocks:
            del _block_owners[key]
        elif other is not owner:
            others.append((key, other))
            total += sum(b.nnz for b in other._blocks.values())
    for key, other in others:
        if total <= budget:
            break
        total -= sum(b.nnz for b in other._blocks.values())
        other._blocks = None
        del _block_owners[key]
    _block_owners.pop(id(owner), None)
    _block_owners[id(owner)] = weakref.ref(owner)
