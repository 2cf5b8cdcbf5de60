"""Graph convolution layers, all built on :func:`gcnkit.functional.normalize_adjacency`."""
from gcnkit.nn.conv.base import GraphConvBase, clear_caches
from gcnkit.nn.conv.cheb import ChebyshevConv, FirstOrderConv, MLPConv
from gcnkit.nn.conv.gcn import (FirstOrderTermConv, GeneralGCNConv, KipfGCNConv, NaiveGCNConv,
                                RowGCNConv, SingleParameterConv)
from gcnkit.nn.conv.registry import CONV_REGISTRY, ConvSpec, make_conv

__all__ = [
    "GraphConvBase", "GeneralGCNConv", "KipfGCNConv", "NaiveGCNConv", "RowGCNConv",
    "SingleParameterConv", "FirstOrderTermConv", "ChebyshevConv", "FirstOrderConv", "MLPConv",
    "CONV_REGISTRY", "ConvSpec", "make_conv", "clear_caches",
]
