r"""The GRU's gate equations, fused: forward and hand-derived backward in few memory passes.

:class:`~gcnkit.nn.recurrent.gru.GRUCell` computes its gates only through these functions (the
equations are written here once). Autograd applied to the plain expressions makes about twice as
many passes over the ``[*, H]`` tensors: the backward of a ``chunk`` of the gates concatenates
their gradients, ``lerp`` saves and recomputes differences, and the activations are separate
nodes. On one CPU core these passes cost about as much as the GEMMs of a T-GCN step.

Notation (``*`` any leading shape, ``H`` hidden width)::

    reset="before" (Cho et al. 2014; T-GCN, GConvGRU), around the candidate map W; the cell
    passes the pre-activations z_g = ux_g + wh and z_c = ux_c + W(r ⊙ h), each summed by the
    recurrent map's GEMM (see gcnkit.functional.linear.linear's ``add``):
        [r, u] = σ(z_g)                           gru_gates_before(z_g, h) -> (u, r ⊙ h)
        n = a(z_c),  h' = u ⊙ h + (1 - u) ⊙ n     gru_update(z_c, u, h)
    reset="after" (torch.nn.GRUCell, cuDNN), one recurrent map wh = [wh_g, wh_c]:
        [r, u] = σ(ux_g + wh_g),  n = a(ux_c + r ⊙ wh_c),  h' = u ⊙ h + (1 - u) ⊙ n
                                                  gru_after(ux_g, ux_c, wh, h)

The forward equations are the functions ``_gates_before``, ``_candidate`` and ``_after``. Small
states are differentiated through them by autograd; from
:data:`~gcnkit.nn.recurrent.fused.FUSED_MIN_NUMEL` entries on, the same functions run inside
autograd functions with hand-derived backward passes (see :mod:`gcnkit.nn.recurrent.fused`).
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from gcnkit.nn.recurrent.fused import activate, activation_backward, first_order, sigmoid_backward, use_fused


# ------------------------------------------------------------------ the equations, written once
def _gates_before(z_g: Tensor, h: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """``s = [r, u] = σ(z_g)``; returns ``(s, u, r ⊙ h)``."""
    s = torch.sigmoid(z_g)
    r, u = s.chunk(2, dim=-1)
    return s, u, r * h


def _candidate(z: Tensor, u: Tensor, h: Tensor, activation: str) -> Tuple[Tensor, Tensor]:
    """``n = a(z)`` and the new state ``u ⊙ h + (1 - u) ⊙ n``."""
    n = activate(z, activation)
    if not (n.dtype == h.dtype == u.dtype):  # autocast: gates in low precision, the state not
        dt = torch.promote_types(torch.promote_types(n.dtype, h.dtype), u.dtype)
        n, h, u = n.to(dt), h.to(dt), u.to(dt)
    return n, torch.lerp(n, h, u)


def _after(ux_g: Tensor, ux_c: Tensor, wh: Tensor, h: Tensor,
           activation: str) -> Tuple[Tensor, Tensor, Tensor]:
    """Reset-after: ``[r, u] = σ(ux_g + wh_g)``, ``n = a(ux_c + r ⊙ wh_c)``; returns ``(s, n, h')``."""
    wh_g, wh_c = wh.split([2 * h.size(-1), h.size(-1)], dim=-1)
    s = torch.add(ux_g, wh_g).sigmoid_()
    r, u = s.chunk(2, dim=-1)
    n, out = _candidate(torch.addcmul(ux_c, r, wh_c), u, h, activation)
    return s, n, out


# ------------------------------------------------------------------ their derivatives
def _blend_backward(g: Tensor, n: Tensor, u: Tensor, h: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Gradients of ``u ⊙ h + (1 - u) ⊙ n`` with respect to ``n``, ``u`` and ``h``."""
    g_h = g * u
    g_n = g - g_h
    g_u = (h - n).mul_(g)
    return g_n, g_u, g_h


class _GatesBefore(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z_g: Tensor, h: Tensor):
        s, u, rh = _gates_before(z_g, h)
        ctx.save_for_backward(s, h)
        ctx.set_materialize_grads(False)
        return u, rh

    @staticmethod
    @first_order
    def backward(ctx, g_u: Tensor, g_rh: Tensor):
        s, h = ctx.saved_tensors
        H = h.size(-1)
        g_s = torch.zeros_like(s) if g_u is None or g_rh is None else torch.empty_like(s)
        g_h = None
        # the gradients with respect to [r, u] first, then σ' over the whole contiguous [*, 2H]
        # in place: writing σ' into the column halves instead takes about 3x as long per element
        if g_rh is not None:
            torch.mul(g_rh, h, out=g_s[..., :H])
            g_h = g_rh * s[..., :H]
        if g_u is not None:
            g_s[..., H:].copy_(g_u)
        return sigmoid_backward(g_s, s, g_s), g_h


class _Update(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z_c: Tensor, u: Tensor, h: Tensor, activation: str):
        n, out = _candidate(z_c, u, h, activation)
        ctx.save_for_backward(n, u, h)
        ctx.activation = activation
        return out

    @staticmethod
    @first_order
    def backward(ctx, g: Tensor):
        n, u, h = ctx.saved_tensors
        g_n, g_u, g_h = _blend_backward(g, n, u, h)
        return activation_backward(g_n, n, ctx.activation), g_u, g_h, None


class _After(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ux_g: Tensor, ux_c: Tensor, wh: Tensor, h: Tensor, activation: str):
        s, n, out = _after(ux_g, ux_c, wh, h, activation)
        ctx.save_for_backward(s, wh, n, h)
        ctx.activation = activation
        return out

    @staticmethod
    @first_order
    def backward(ctx, g: Tensor):
        s, wh, n, h = ctx.saved_tensors
        H = h.size(-1)
        r, u = s[..., :H], s[..., H:]
        g_n, g_u, g_h = _blend_backward(g, n, u, h)
        g_a = activation_backward(g_n, n, ctx.activation)  # d/d(ux_c + r ⊙ wh_c)
        g_wh = torch.empty_like(wh)
        torch.mul(g_a, r, out=g_wh[..., 2 * H:])
        sigmoid_backward(g_a * wh[..., 2 * H:], r, g_wh[..., :H])
        sigmoid_backward(g_u, u, g_wh[..., H:2 * H])
        return g_wh[..., :2 * H], g_a, g_wh, g_h, None


# ------------------------------------------------------------------ the entry points
def gru_gates_before(z_g: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
    r"""Reset-before gates from their pre-activations :math:`z_g = U_g x_t + W_g h_{t-1}`:
    ``[r, u] = σ(z_g)``; returns ``(u, r ⊙ h)``.

    Shapes: ``z_g`` :math:`(*, 2H)`; ``h`` :math:`(*, H)`; outputs :math:`(*, H)`."""
    if use_fused(h):
        return _GatesBefore.apply(z_g, h)
    return _gates_before(z_g, h)[1:]


def gru_update(z_c: Tensor, u: Tensor, h: Tensor, activation: str = "tanh") -> Tensor:
    r"""Reset-before candidate and new state from the candidate's pre-activation
    :math:`z_c = U x_t + W (r_t \odot h_{t-1})`: ``n = a(z_c)``, ``u ⊙ h + (1 - u) ⊙ n``.
    Shapes: all :math:`(*, H)`."""
    if use_fused(h):
        return _Update.apply(z_c, u, h, activation)
    return _candidate(z_c, u, h, activation)[1]


def gru_after(ux_g: Tensor, ux_c: Tensor, wh: Tensor, h: Tensor, activation: str = "tanh") -> Tensor:
    r"""One reset-after GRU update from the input parts and the fused recurrent map
    ``wh = [wh_g, wh_c]``. Shapes: ``ux_g`` :math:`(*, 2H)`, ``ux_c`` and ``h`` :math:`(*, H)`,
    ``wh`` :math:`(*, 3H)`; output :math:`(*, H)`."""
    if use_fused(h):
        return _After.apply(ux_g, ux_c, wh, h, activation)
    return _after(ux_g, ux_c, wh, h, activation)[2]
