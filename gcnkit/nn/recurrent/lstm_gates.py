r"""The LSTM's gate equations, written once, with a fused backward pass for large states.

:class:`~gcnkit.nn.recurrent.lstm.LSTMCell` computes its gates only through :func:`lstm_gates`.
With the pre-activations ``z = U x_t + W h_{t-1} = [z^g, z^f, z^c, z^o]`` (summed by the
recurrent map's GEMM; ``*`` any leading shape, ``H`` hidden width)::

    g = σ(z^g + w^g ⊙ s),  f = σ(z^f + w^f ⊙ s)       (w: optional peephole weights)
    s' = f ⊙ s + g ⊙ a(z^c)
    q = σ(z^o + w^o ⊙ s'),  h' = tanh(s') ⊙ q

The equations are the function ``_lstm``. From :data:`~gcnkit.nn.recurrent.fused.FUSED_MIN_NUMEL`
state entries on, it runs inside an autograd function whose hand-derived backward writes the four
gates' gradients into one ``[*, 4H]`` tensor (autograd would concatenate them); for smaller
states autograd differentiates it.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from gcnkit.functional.linear import derived
from gcnkit.nn.recurrent.fused import activate, activation_backward, first_order, sigmoid_backward, tanh, use_fused


def _lstm(z: Tensor, s: Tensor, activation: str, peephole: Optional[Tensor] = None):
    """Returns ``(h', s')`` and the intermediates ``(g, f, a, q, tanh(s'))``."""
    zg, zf, zc, zo = z.chunk(4, dim=-1)
    if peephole is not None:
        w_g, w_f, w_o = derived("rows", (peephole,), peephole.unbind)  # once per sequence
        zg, zf = zg + w_g * s, zf + w_f * s
    g, f, a = torch.sigmoid(zg), torch.sigmoid(zf), activate(zc, activation)
    s_new = torch.addcmul(f * s, g, a)
    if peephole is not None:
        zo = zo + w_o * s_new
    q, ts = torch.sigmoid(zo), tanh(s_new)
    return ts * q, s_new, (g, f, a, q, ts)


class _LSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, s: Tensor, peephole: Optional[Tensor], activation: str):
        h_new, s_new, inter = _lstm(z, s, activation, peephole)
        ctx.save_for_backward(s, s_new, peephole, *inter)
        ctx.activation = activation
        ctx.set_materialize_grads(False)
        return h_new, s_new

    @staticmethod
    @first_order
    def backward(ctx, g_h: Optional[Tensor], g_s_new: Optional[Tensor]):
        if g_h is None and g_s_new is None:
            return None, None, None, None
        s, s_new, w, g, f, a, q, ts = ctx.saved_tensors
        H = s.size(-1)
        g_z = torch.empty(s.shape[:-1] + (4 * H,), dtype=s.dtype, device=s.device)
        dz_g, dz_f, dz_c, dz_o = g_z.split(H, dim=-1)
        if g_h is None:
            if g_s_new is None:  # pragma: no cover - (both None returned above)
                raise AssertionError("unreachable: no incoming gradient")
            dz_o.zero_()
            g_s = g_s_new.clone() if w is not None else g_s_new
        else:
            sigmoid_backward(g_h * ts, q, dz_o)  # output gate
            g_s = activation_backward(g_h * q, ts, "tanh")  # through tanh(s')
            if g_s_new is not None:
                g_s = g_s.add_(g_s_new)
        if w is not None:  # s' also enters the output gate through w^o
            g_s.addcmul_(dz_o, w[2])
        sigmoid_backward(g_s * a, g, dz_g)
        sigmoid_backward(g_s * s, f, dz_f)
        activation_backward(g_s * g, a, ctx.activation, dz_c)
        g_prev = g_s * f
        g_w = None
        if w is not None:
            g_prev.addcmul_(dz_g, w[0]).addcmul_(dz_f, w[1])
            if ctx.needs_input_grad[2]:
                lead = tuple(range(s.dim() - 1))
                g_w = torch.stack([(dz_g * s).sum(lead), (dz_f * s).sum(lead), (dz_o * s_new).sum(lead)])
        return g_z, g_prev, g_w, None


def lstm_gates(z: Tensor, s: Tensor, activation: str = "tanh",
               peephole: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""One LSTM update from the pre-activations of all four gates.

    Args:
        z: :math:`U x_t + W h_{t-1}`, :math:`(*, 4H)`, gates in order ``g, f, c, o``.
        s: the cell state :math:`s_{t-1}`, :math:`(*, H)`.
        activation: :math:`a`, ``"tanh"`` or ``"sigmoid"``.
        peephole: optional ``[3, H]`` weights :math:`w^g, w^f, w^o`.

    Returns:
        ``(h_t, s_t)``, each :math:`(*, H)`.
    """
    if use_fused(s):
        return _LSTM.apply(z, s, peephole, activation)
    return _lstm(z, s, activation, peephole)[:2]
