"""Train/validation/test masks shaped like Planetoid's public split (a number of training nodes
per class, then validation and test nodes), and the checks of their sizes: used by the synthetic
graphs (:mod:`gcnkit.data.synthetic`) and by the Planetoid loader's random splits."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from gcnkit.functional.validation import check_seed

#: Planetoid public split sizes.
TRAIN_PER_CLASS, NUM_VAL, NUM_TEST = 20, 500, 1000


def planetoid_masks(
    y: Tensor,
    num_classes: int,
    num_train_per_class: Optional[int] = None,
    num_val: Optional[int] = None,
    num_test: Optional[int] = None,
    seed: int = 0,
) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Random train/val/test masks shaped like Planetoid's public split.

    By default 20 training nodes per class, 500 validation and 1000 test nodes. If the graph has
    fewer than :obj:`20 * C + 1500` nodes, all three sizes are scaled down proportionally (at least
    one training node per class, one validation and one test node). Explicit sizes override this.

    Args:
        y (Tensor): Labels :math:`(|\mathcal{V}|)`.
        num_classes (int): :obj:`C`.
        num_train_per_class, num_val, num_test (int, optional): Sizes. (default: ``None``)
        seed (int): (default: ``0``)

    Returns:
        (train_mask, val_mask, test_mask), disjoint bool tensors :math:`(|\mathcal{V}|)`.

    Raises:
        ValueError: If the requested sizes do not fit, or :obj:`y` has labels outside
            :obj:`[0, num_classes)` (a class left out of training).
    """
    seed = check_seed("seed", seed)
    _check_labels(y, num_classes)
    n = y.numel()
    wanted = TRAIN_PER_CLASS * num_classes + NUM_VAL + NUM_TEST
    scale = min(1.0, n / wanted)
    auto = (num_val is None, num_test is None)
    if num_train_per_class is None:
        num_train_per_class = max(1, int(TRAIN_PER_CLASS * scale))
    if num_val is None:
        num_val = max(1, int(NUM_VAL * scale))
    if num_test is None:
        num_test = max(1, int(NUM_TEST * scale))
    left = n - num_train_per_class * num_classes  # the floors of one node each can overshoot a tiny graph
    if auto[1] and num_val + num_test > left:
        num_test = max(1, left - num_val)
    if auto[0] and num_val + num_test > left:
        num_val = max(1, left - num_test)
    check_split_sizes(y, num_classes, num_train_per_class, num_val, num_test)

    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    train = torch.zeros(n, dtype=torch.bool)
    for c in range(num_classes):
        idx = perm[y[perm] == c][:num_train_per_class]
        train[idx] = True
    rest = perm[~train[perm]]
    val = torch.zeros(n, dtype=torch.bool)
    test = torch.zeros(n, dtype=torch.bool)
    val[rest[:num_val]] = True
    test[rest[num_val:num_val + num_test]] = True
    return train, val, test


def check_split_sizes(y: Tensor, num_classes: int, num_train_per_class: int, num_val: int,
                      num_test: int) -> None:
    """Refuses sizes of a per-class random split (as Planetoid's) that are not whole numbers >= 1
    or that do not fit the labels ``y``: every class must have ``num_train_per_class`` nodes, and
    the three parts together at most ``y.numel()``."""
    check_sizes(num_train_per_class=num_train_per_class, num_val=num_val, num_test=num_test)
    _check_labels(y, num_classes)
    counts = torch.bincount(y, minlength=num_classes)
    if int(counts.min()) < num_train_per_class:
        raise ValueError(
            f"Cannot take {num_train_per_class} training nodes per class: the "
            f"smallest class has {int(counts.min())} nodes.")
    if num_train_per_class * num_classes + num_val + num_test > y.numel():
        raise ValueError(
            f"Split sizes {num_train_per_class}*{num_classes} train + "
            f"{num_val} val + {num_test} test exceed {y.numel()} nodes.")


def _check_labels(y: Tensor, num_classes: int) -> None:
    """``y`` is a 1-d integer label tensor with every label in ``[0, num_classes)``: a label
    >= ``num_classes`` would be a class that gets no training nodes."""
    check_sizes(num_classes=num_classes)
    if not isinstance(y, Tensor) or y.dim() != 1 or y.dtype.is_floating_point or y.dtype.is_complex \
            or y.dtype == torch.bool:
        got = f"{y.dtype} of shape {tuple(y.shape)}" if isinstance(y, Tensor) else type(y).__name__
        raise TypeError(f"y must be a 1-d integer tensor of class labels, got {got}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"y has labels {int(y.min())} to {int(y.max())} but num_classes={num_classes} "
                         f"(labels must be in [0, {num_classes}))")


def check_sizes(**sizes) -> None:
    """Every split size (and count) is a whole number >= 1: 0 test nodes would give a NaN
    accuracy, 0 training nodes a model trained on nothing, a negative one a silently other split."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
