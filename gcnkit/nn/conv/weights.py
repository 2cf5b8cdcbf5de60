"""How the layers read and apply their weights: without calling their ``Linear`` modules, with
sparse features multiplied as CSR."""
from __future__ import annotations

import warnings
from typing import Union

import torch
from torch import Tensor
from torch_geometric.nn.dense.linear import Linear

from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.spmm import csr_matmul


def sparse_aware_linear(x: Union[Tensor, CSRMatrix], weight: Tensor) -> Tensor:
    r""":math:`X W^\top` for dense ``x`` ``[*, N, in]`` or a :class:`CSRMatrix` ``[N, in]``
    (then a sparse matmul whose backward uses the cached transpose)."""
    if isinstance(x, CSRMatrix):
        if weight.device != x.device:  # a silent copy (and transpose rebuild) on every call
            raise ValueError(f"sparse features are on {x.device} but the layer is on {weight.device}; "
                             f"move the features once (x.to(device)) before the loop")
        if weight.dtype != x.dtype:
            x = x.to(weight.device, weight.dtype)
        return csr_matmul(x, weight.t())
    return torch.nn.functional.linear(x, weight)


#: Linear modules whose hooks were warned about (ids; a warning per module, not per call).
_warned_hooks: set = set()


def weight_of(lin: torch.nn.Module) -> Tensor:
    """``lin.weight`` as calling ``lin`` would see it. The layers multiply by their weights
    without calling their ``Linear`` modules, which would skip the forward pre-hooks through
    which ``torch.nn.utils.prune`` and the hook-based ``weight_norm``/``spectral_norm``
    recompute the weight: those are run here (the ``parametrizations`` versions need nothing)."""
    if type(lin).forward not in (torch.nn.Linear.forward, Linear.forward):
        raise TypeError(f"gcnkit multiplies by the weight of its Linear modules (conv.lin, conv.lins[k], the "
                        f"recurrent maps' lin) without calling them, so a {type(lin).__name__} in their place "
                        f"(its forward) would be silently ignored; change the weight with "
                        f"torch.nn.utils.parametrize instead (e.g. a low-rank adapter as a parametrization), "
                        f"which gcnkit honours")
    hooks = lin._forward_pre_hooks
    if hooks:
        from torch.nn.utils.prune import BasePruningMethod
        from torch.nn.utils.spectral_norm import SpectralNorm
        from torch.nn.utils.weight_norm import WeightNorm

        known = (BasePruningMethod, SpectralNorm, WeightNorm)
        for hook in list(hooks.values()):
            if isinstance(hook, known):
                hook(lin, ())  # they read only the module
    if (lin._forward_hooks or any(not isinstance(h, known) for h in hooks.values())) \
            and id(lin) not in _warned_hooks:
        _warned_hooks.add(id(lin))  # once per module: profilers hook every submodule
        warnings.warn("gcnkit multiplies by the weight of its Linear modules (conv.lin, conv.lins[k], the "
                      "recurrent maps' lin) without calling them: forward hooks registered on them do not "
                      "run (hooks on the conv module do); change the weight with torch.nn.utils.parametrize",
                      stacklevel=3)
    return lin.weight  # type: ignore[return-value]  # Module.__getattr__ is typed Tensor | Module


def glorot_linear(in_channels: int, out_channels: int) -> Linear:
    return Linear(in_channels, out_channels, bias=False, weight_initializer="glorot")
