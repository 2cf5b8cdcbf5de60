"""Name -> propagation model, for the normalization ablation (Kipf & Welling, Table 3)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Tuple

from gcnkit.functional.validation import check_choice
from gcnkit.nn.conv.base import GraphConvBase
from gcnkit.nn.conv.cheb import ChebyshevConv, FirstOrderConv, MLPConv
from gcnkit.nn.conv.gcn import (FirstOrderTermConv, KipfGCNConv, NaiveGCNConv, RowGCNConv,
                                SingleParameterConv)


@dataclass(frozen=True)
class ConvSpec:
    """A registered propagation model: its layer class, fixed options and the formula. A record
    (a frozen dataclass), not a layer: :meth:`build` makes the layer.

    Args:
        name (str): the key in :data:`CONV_REGISTRY` (e.g. ``"kipf"``).
        cls (callable): the layer class, called as ``cls(in_channels, out_channels, **options)``.
        formula (str): the propagation rule in plain text (Kipf & Welling's Table 3 notation).
        options (dict, optional): keyword arguments :meth:`build` passes to ``cls``; the caller's
            own keyword arguments override them. (default: ``{}``)
    """

    name: str
    cls: Callable[..., GraphConvBase]
    formula: str
    options: Dict[str, object] = field(default_factory=dict)

    def build(self, in_channels: int, out_channels: int, **kwargs) -> GraphConvBase:
        return self.cls(in_channels, out_channels, **{**self.options, **kwargs})


# Kipf's code builds L from the adjacency as loaded, self-loops included (his CiteSeer has 124;
# PyG's Planetoid, which gcnkit loads, removes them).
_KIPF_CHEB: Dict[str, object] = {"remove_self_loops": False}

_SPECS: Tuple[ConvSpec, ...] = (
    ConvSpec("cheb3", ChebyshevConv, "sum_{k=0}^{3} T_k(L~) X Theta_k", _KIPF_CHEB | {"K": 3, "lambda_max": "eig"}),
    ConvSpec("cheb2", ChebyshevConv, "sum_{k=0}^{2} T_k(L~) X Theta_k", _KIPF_CHEB | {"K": 2, "lambda_max": "eig"}),
    ConvSpec("first_order", FirstOrderConv,
             "X Theta_0 - D^-1/2 A D^-1/2 X Theta_1 (Table 3's +, sign absorbed by Theta_1)", _KIPF_CHEB),
    ConvSpec("single_parameter", SingleParameterConv, "(I + D^-1/2 A D^-1/2) X Theta"),
    ConvSpec("kipf", KipfGCNConv, "D~^-1/2 A~ D~^-1/2 X Theta (renormalization trick)"),
    ConvSpec("first_order_term", FirstOrderTermConv, "D^-1/2 A D^-1/2 X Theta"),
    ConvSpec("mlp", MLPConv, "X Theta"),
    ConvSpec("naive", NaiveGCNConv, "A X Theta"),
    ConvSpec("row", RowGCNConv, "D~^-1 A~ X Theta"),
)

#: All registered propagation models, in Kipf & Welling's Table 3 order plus naive and row.
CONV_REGISTRY: Dict[str, ConvSpec] = {s.name: s for s in _SPECS}


def make_conv(name: str, in_channels: int, out_channels: int, **kwargs) -> GraphConvBase:
    """Builds the registered layer ``name`` (see :data:`CONV_REGISTRY`).

    Args:
        name (str): a key of :data:`CONV_REGISTRY`: ``"cheb3"``, ``"cheb2"``, ``"first_order"``,
            ``"single_parameter"``, ``"kipf"``, ``"first_order_term"``, ``"mlp"``, ``"naive"``
            or ``"row"``.
        in_channels (int): input features per node.
        out_channels (int): output features per node.
        **kwargs (optional): the layer's own options (``bias``, ``cached``, ...); they override
            the registry's (e.g. ``lambda_max`` of ``"cheb3"``), not a preset's fixed ones.

    Returns:
        GraphConvBase: a new layer of the registered class, freshly initialized.
    """
    check_choice("model", name, tuple(CONV_REGISTRY))
    return CONV_REGISTRY[name].build(in_channels, out_channels, **kwargs)
