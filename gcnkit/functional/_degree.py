"""The one place where a power of the degree matrix, D^p, is computed, and where weighted degrees are
checked before it."""
from __future__ import annotations

import torch
from torch import Tensor


def degree_power(deg: Tensor, p: float) -> Tensor:
    r"""Returns the diagonal of :math:`D^p` for weighted degrees ``deg``.

    Zero-degree nodes get 0 (never ``inf`` or ``NaN``): an isolated node contributes and receives
    nothing. Its gradient there is 0 too (the base is masked before the power, so the backward
    pass never meets ``0 * inf = NaN``). Negative degrees must have been rejected by the caller.
    """
    zero = deg == 0
    return deg.masked_fill(zero, 1.0).pow(p).masked_fill(zero, 0.0)


def checked_degrees(deg: Tensor, w: Tensor, along: Tensor, norm: str) -> Tensor:
    """The weighted degrees (float64 sums) a normalization can divide by: an overflow (finite
    float64 weights whose sum is beyond the dtype) and a negative degree are errors; with negative
    weights, a degree within the summation's rounding bound of 0 (``count * eps * sum |w|``:
    weights that cancel) is 0, as exactly cancelling ones give (its D^p would otherwise be the
    rounding error's)."""
    if not bool(torch.isfinite(deg).all()):
        idx = (~torch.isfinite(deg)).nonzero().view(-1)[:5].tolist()
        raise ValueError(f"normalize_adjacency(norm={norm!r}): the weighted degrees of nodes {idx} overflow "
                         f"{deg.dtype} (finite edge weights whose sum is beyond {torch.finfo(deg.dtype).max:.3g}); "
                         f"scale the edge weights down")
    if bool((w < 0).any()):
        magnitude = torch.zeros_like(deg).index_add(0, along, w.detach().abs())
        count = torch.bincount(along, minlength=deg.numel()).to(deg.dtype)
        rounding = deg.detach().abs() <= count * torch.finfo(deg.dtype).eps * magnitude
        deg = deg.masked_fill(rounding, 0.0)
    negative = deg < 0
    if bool(negative.any()):
        idx = negative.nonzero().view(-1)[:5].tolist()
        raise ValueError(f"normalize_adjacency(norm={norm!r}): {int(negative.sum())} node(s) have a "
                         f"negative weighted degree (e.g. nodes {idx}); {norm} normalization needs "
                         f"non-negative degrees. Use norm='none' or fix the edge weights.")
    return deg
