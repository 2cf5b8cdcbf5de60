r"""What the fused gate functions of the GRU and LSTM cells share: when to fuse, and the
activations with their derivatives.

A fused gate function runs the cell's equations inside a ``torch.autograd.Function`` with a
hand-derived backward pass, in fewer passes over the ``[*, H]`` tensors than autograd makes
(autograd concatenates the gradients of ``chunk``-ed gates, keeps one node per activation). That
pays for large, memory-bound states; for small ones the Python of a custom function costs more
than it saves, so below :data:`FUSED_MIN_NUMEL` entries autograd differentiates the same
equations. The hand-derived backward passes are first-order only and refuse a double backward
(``create_graph=True``, e.g. a gradient penalty) with an error: raise :data:`FUSED_MIN_NUMEL`
above the state's size, and autograd differentiates the equations to any order.

On CPU, from :data:`FUSED_MIN_NUMEL` entries on, ``tanh`` is evaluated as :math:`2\sigma(2x) - 1`
(the same function, to float rounding): PyTorch's CPU ``tanh`` kernel takes about 6x as long as
its ``sigmoid`` on this project's machine (1.14 ms against 0.17 ms for 424K float32 values).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

#: Below this many state entries the gates are differentiated by autograd (one long sequence of a
#: small graph: Chickenpox's 20 x 32); from it on by the fused backward passes (batches of a
#: larger graph: Los-loop's 32 x 207 x 64).
FUSED_MIN_NUMEL = 1 << 15

_sigmoid_backward = torch.ops.aten.sigmoid_backward
_tanh_backward = torch.ops.aten.tanh_backward


def first_order(backward):
    """``torch.autograd.function.once_differentiable`` that refuses a double backward instead of
    returning constant Jacobians: torch's decorator raises only when the incoming gradient
    requires grad, so ``grad(y.sum(), params, create_graph=True)`` would silently drop the gates'
    second derivatives (a gradient penalty would be wrong)."""
    import functools

    from torch.autograd.function import once_differentiable

    inner = once_differentiable(backward)

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        if torch.is_grad_enabled():  # the engine enables grad mode only for create_graph=True
            raise RuntimeError(
                "a double backward (create_graph=True) reached gcnkit's fused gate functions, whose "
                "backward passes are first-order only; set "
                "gcnkit.nn.recurrent.fused.FUSED_MIN_NUMEL = float('inf') so that autograd "
                "differentiates the gate equations to any order")
        return inner(ctx, *grads)
    return wrapper


def use_fused(t: Tensor) -> bool:
    """Whether gates on a state like ``t`` run fused (not inside ``torch.func`` transforms, which
    differentiate the plain equations instead)."""
    return t.numel() >= FUSED_MIN_NUMEL and not torch._C._are_functorch_transforms_active()


def tanh(x: Tensor) -> Tensor:
    """``tanh(x)``, as :math:`2\\sigma(2x) - 1` for large CPU tensors."""
    if x.device.type == "cpu" and x.numel() >= FUSED_MIN_NUMEL:
        return torch.rsub(torch.mul(x, 2).sigmoid_(), -1, alpha=-2)
    return torch.tanh(x)


ACTIVATIONS = ("tanh", "sigmoid")


def activate(x: Tensor, activation: str) -> Tensor:
    """``a(x)`` for ``activation`` ``"tanh"`` or ``"sigmoid"``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation={activation!r}; choose one of 'tanh', 'sigmoid'")
    return torch.sigmoid(x) if activation == "sigmoid" else tanh(x)


def sigmoid_backward(grad: Tensor, out: Tensor, into: Optional[Tensor] = None) -> Tensor:
    """``grad * σ'(x)`` from ``out = σ(x)``, written into ``into`` when given."""
    if into is None:
        return _sigmoid_backward(grad, out)
    return _sigmoid_backward.grad_input(grad, out, grad_input=into)


def activation_backward(grad: Tensor, out: Tensor, activation: str, into: Optional[Tensor] = None) -> Tensor:
    """``grad * a'(x)`` from ``out = a(x)``, written into ``into`` when given."""
    if activation == "sigmoid":
        return sigmoid_backward(grad, out, into)
    if into is None:
        return _tanh_backward(grad, out)
    return _tanh_backward.grad_input(grad, out, grad_input=into)
