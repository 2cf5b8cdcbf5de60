"""PyG's explainers and gcnkit's layers: a clear refusal that leaves the model usable."""
from __future__ import annotations

import weakref
from typing import Dict

from torch import Tensor
from torch_geometric.nn import MessagePassing

#: The edge masks of explanations already refused (``id -> weakref``): PyG's explainers flag every
#: layer of the model with one mask, and the first layer's refusal ends the explanation before the
#: others run; they unflag themselves at their next call instead of refusing the user's next forward.
_refused_masks: Dict[int, "weakref.ReferenceType[Tensor]"] = {}


def refuse_explainer(layer: MessagePassing) -> None:
    """A ``NotImplementedError`` for a layer flagged by PyG's explainers (``layer.explain``), once
    per explanation (its edge mask); the flag is cleared, so that the model stays usable."""
    mask = getattr(layer, "_edge_mask", None)
    # the explainer will not get to clear them: as its clear_masks does (None, not False, which
    # would exclude the layer from later explanations: they would fail on PyG's vaguer error)
    layer.explain, layer._edge_mask, layer._loop_mask, layer._apply_sigmoid = None, None, None, True
    if mask is not None:
        kept = _refused_masks.get(id(mask))
        if kept is not None and kept() is mask:
            return  # another layer refused this explanation already
        key = id(mask)

        def forget(_ref: "weakref.ReferenceType[Tensor]") -> None:
            _refused_masks.pop(key, None)

        _refused_masks[key] = weakref.ref(mask, forget)
    raise NotImplementedError(
        f"{type(layer).__name__} multiplies by a normalized sparse operator instead of passing "
        f"per-edge messages, so PyG's explainers cannot mask its edges; explain the same model "
        f"built with torch_geometric.nn.GCNConv / ChebConv (same state_dict layout). gcnkit's layers "
        f"unflag themselves; PyG layers of the same model stay flagged (their outputs masked): call "
        f"torch_geometric.explain.algorithm.utils.clear_masks(model)")
