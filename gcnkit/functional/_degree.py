"""The one place where a power of the degree matrix, D^p, is computed."""
from __future__ import annotations

from torch import Tensor


def degree_power(deg: Tensor, p: float) -> Tensor:
    r"""Returns the diagonal of :math:`D^p` for weighted degrees ``deg``.

    Zero-degree nodes get 0 (never ``inf`` or ``NaN``): an isolated node contributes and receives
    nothing. Its gradient there is 0 too (the base is masked before the power, so the backward
    pass never meets ``0 * inf = NaN``). Negative degrees must have been rejected by the caller.
    """
    zero = deg == 0
    return deg.masked_fill(zero, 1.0).pow(p).masked_fill(zero, 0.0)
