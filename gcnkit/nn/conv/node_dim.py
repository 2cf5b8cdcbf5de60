"""PyG's ``node_dim`` for the layers, which compute with nodes on axis -2 of ``x``."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable, Concatenate, ParamSpec, TypeVar, Union

import torch
from torch import Tensor

if TYPE_CHECKING:
    from gcnkit.functional.sparse import CSRMatrix
    from gcnkit.nn.conv.base import GraphConvBase

P = ParamSpec("P")
C = TypeVar("C", bound="GraphConvBase")


def nodes_on_node_dim(forward: Callable[Concatenate[C, Union[Tensor, CSRMatrix], P], Tensor]
                      ) -> Callable[Concatenate[C, Union[Tensor, CSRMatrix], P], Tensor]:
    """Decorates a layer's ``forward`` that takes nodes on axis -2 of ``x``: with another
    ``node_dim`` (PyG's option, e.g. ``node_dim=0`` for ``[N, B, F]``), the node axis is moved to
    -2 for the computation and back on the output, as PyG's message passing would propagate
    along it."""
    @functools.wraps(forward)
    def wrapper(self: C, x: Union[Tensor, CSRMatrix], *args: P.args, **kwargs: P.kwargs) -> Tensor:
        dim = self.node_dim
        if dim == -2:
            return forward(self, x, *args, **kwargs)
        ndim = x.dim() if isinstance(x, Tensor) else 2  # a CSRMatrix is [N, F]
        if not -ndim <= dim < ndim:
            raise ValueError(f"{type(self).__name__} has node_dim={dim} but x has {ndim} axes "
                             f"(shape {tuple(x.shape)})")
        dim %= ndim
        if dim == ndim - 2:
            return forward(self, x, *args, **kwargs)
        if dim == ndim - 1:
            raise ValueError(f"{type(self).__name__}: node_dim={self.node_dim} is the feature axis of x "
                             f"(shape {tuple(x.shape)})")
        if not isinstance(x, Tensor) or x.layout != torch.strided:
            raise ValueError(f"{type(self).__name__}: sparse x holds nodes on axis 0 of [N, F]; "
                             f"node_dim={self.node_dim} is only for dense x")
        return forward(self, x.movedim(dim, -2), *args, **kwargs).movedim(-2, dim)
    return wrapper
