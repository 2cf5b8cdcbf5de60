r"""A linear map :math:`z W^\top + b` whose weight gradient stays fast when ``z`` is narrow.

For an input with very few features (a recurrent model's input side: 1 to a few channels per
node), BLAS computes the weight gradient :math:`G^\top Z` (``[out, M] @ [M, in]``) on a slow path:
with ``in = 2`` it takes 7x longer than :math:`(Z^\top G)^\top`, the same product with the
operands swapped. :func:`linear` takes the fast order for inputs of at most :data:`NARROW`
features and is ``torch.nn.functional.linear`` otherwise.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

#: Inputs with at most this many features use the swapped weight-gradient product.
NARROW = 8


class _NarrowLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        ctx.save_for_backward(z, weight)
        ctx.has_bias = bias is not None
        z2 = z.reshape(-1, z.size(-1))
        out = torch.mm(z2, weight.t()) if bias is None else torch.addmm(bias, z2, weight.t())
        return out.view(*z.shape[:-1], weight.size(0))

    @staticmethod
    def backward(ctx, grad: Tensor):
        z, weight = ctx.saved_tensors
        g2 = grad.reshape(-1, grad.size(-1))
        grad_z = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_z = torch.mm(g2, weight).view(z.shape)
        if ctx.needs_input_grad[1]:
            grad_w = torch.mm(z.reshape(-1, z.size(-1)).t(), g2).t()
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g2.sum(0)
        return grad_z, grad_w, grad_b


def linear(z: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    r""":math:`z W^\top + b` for ``z`` of shape ``[*, in]``, ``weight`` ``[out, in]``; the same
    values and gradients as ``torch.nn.functional.linear``.

    Shapes:
        - **input:** ``[*, in]``
        - **output:** ``[*, out]``
    """
    if z.size(-1) <= NARROW and z.dim() >= 2 and z.is_contiguous() and z.layout == torch.strided:
        return _NarrowLinear.apply(z, weight, bias)
    return torch.nn.functional.linear(z, weight, bias)
