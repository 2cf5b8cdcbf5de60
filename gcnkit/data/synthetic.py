"""Synthetic node-classification graphs that need no files.

* :func:`csbm`: a contextual stochastic block model with controllable edge homophily and feature
  signal-to-noise ratio.
* :func:`karate_club`: Zachary's karate club (networkx), labelled by club.

Both take train/val/test masks shaped like Planetoid's public split
(:func:`~gcnkit.data.split_masks.planetoid_masks`).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from gcnkit.data.split_masks import (NUM_TEST, NUM_VAL, TRAIN_PER_CLASS, check_sizes,  # noqa: F401
                                     check_split_sizes, planetoid_masks)  # (re-exported: they lived here)
from gcnkit.functional.validation import check_real, check_seed

def _sample_edges(y: np.ndarray, num_classes: int, num_edges: int,
                  homophily: float, rng: np.random.Generator) -> np.ndarray:
    """Samples :obj:`num_edges` distinct undirected pairs (u < v):
    Binomial(:obj:`num_edges`, :obj:`homophily`) of them within a class and
    the rest across classes, each set drawn without repeats from its own pool
    (dropping repeats from one mixed draw would drop the smaller pool's pairs
    more often and bias the fraction)."""
    n = y.size
    members = [np.flatnonzero(y == c) for c in range(num_classes)]
    sizes = np.array([m.size for m in members], dtype=np.int64)
    intra_pool = int((sizes * (sizes - 1) // 2).sum())
    pools = {True: intra_pool, False: n * (n - 1) // 2 - intra_pool}
    n_in = int(rng.binomial(num_edges, homophily))
    wanted = {True: n_in, False: num_edges - n_in}
    for intra in (True, False):
        if wanted[intra] > pools[intra]:
            raise ValueError(
                f"Could not sample {num_edges} distinct edges: "
                f"{wanted[intra]} {'within' if intra else 'across'}-class "
                f"pairs are needed (homophily={homophily}) but only "
                f"{pools[intra]} exist; lower avg_degree or homophily.")

    def draw(m: int, intra: bool) -> np.ndarray:
        u = rng.integers(0, n, m)
        cls = y[u] if intra else (y[u] + rng.integers(1, num_classes, m)) % num_classes
        v = np.empty(m, dtype=np.int64)
        for c in range(num_classes):
            sel = cls == c
            v[sel] = members[c][rng.integers(0, members[c].size, sel.sum())]
        pairs = np.stack([np.minimum(u, v), np.maximum(u, v)], 1)
        return pairs[pairs[:, 0] != pairs[:, 1]]

    def enumerate_pool(intra: bool) -> np.ndarray:
        if intra:
            parts = []
            for m in members:
                i, j = np.triu_indices(m.size, 1)
                parts.append(np.stack([m[i], m[j]], 1))
            return np.concatenate(parts)
        i, j = np.triu_indices(n, 1)
        keep = y[i] != y[j]
        return np.stack([i[keep], j[keep]], 1)

    out = []
    for intra in (True, False):
        need, pool = wanted[intra], pools[intra]
        if need == 0:
            continue
        if 2 * need > pool:  # dense: choose from the whole pool
            if pool > 50_000_000:
                raise ValueError(f"avg_degree is too high to sample: {need} of "
                                 f"{pool} possible pairs.")
            all_pairs = enumerate_pool(intra)
            out.append(all_pairs[np.sort(rng.choice(pool, need, replace=False))])
            continue
        found = np.empty((0, 2), dtype=np.int64)
        while len(found) < need:  # at most half the pool: a few rounds
            allp = np.concatenate([found, draw(2 * (need - len(found)) + 16, intra)])
            _, first = np.unique(allp[:, 0] * n + allp[:, 1], return_index=True)
            found = allp[np.sort(first)][:need]  # first occurrences, in order
        out.append(found)
    return np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64)


def csbm(
    num_nodes: int = 2000,
    num_classes: int = 4,
    avg_degree: float = 5.0,
    homophily: float = 0.8,
    snr: float = 1.0,
    num_features: int = 64,
    seed: int = 0,
    num_train_per_class: Optional[int] = None,
    num_val: Optional[int] = None,
    num_test: Optional[int] = None,
) -> Data:
    r"""A contextual stochastic block model graph.

    * Labels: :obj:`num_classes` balanced classes (sizes differ by at most one), randomly assigned
      to nodes.
    * Edges: :obj:`round(num_nodes * avg_degree / 2)` distinct undirected edges without self-loops,
      uniformly without repeats: a Binomial(edges, :obj:`homophily`) number of them within classes,
      the rest across, so the edge homophily (fraction of intra-class edges) is :obj:`homophily` in
      expectation at any accepted :obj:`avg_degree`. :obj:`edge_index` holds both directions,
      sorted, no duplicates.
    * Features: :math:`x_i = \mu_{y_i} + \varepsilon_i`, :math:`\varepsilon_i \sim \mathcal{N}(0, I)`,
      with orthogonal class means scaled so that :math:`\|\mu_a - \mu_b\| = \text{snr}` for every
      pair of classes (:obj:`snr=0`: features carry no label information).
    * Masks: see :func:`planetoid_masks`.

    Deterministic given :obj:`seed`.

    Args:
        num_nodes (int): (default: ``2000``)
        num_classes (int): At least 2. (default: ``4``)
        avg_degree (float): (default: ``5.0``)
        homophily (float): In [0, 1]. (default: ``0.8``)
        snr (float): (default: ``1.0``)
        num_features (int): At least :obj:`num_classes`. (default: ``64``)
        seed (int): (default: ``0``)
        num_train_per_class, num_val, num_test (int, optional): See :func:`planetoid_masks`. (default: ``None``)

    Returns:
        :class:`~torch_geometric.data.Data` with :obj:`x` (float32), :obj:`y`, :obj:`edge_index`,
        the three masks, :obj:`num_classes` and :obj:`name="csbm"`.
    """
    check_sizes(num_nodes=num_nodes, num_classes=num_classes, num_features=num_features)
    seed = check_seed("seed", seed)  # a plain int: torch's manual_seed refuses NumPy's
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 (got {num_classes}).")
    if num_nodes < 2 * num_classes:
        raise ValueError(f"num_nodes={num_nodes} is too small for "
                         f"{num_classes} classes.")
    homophily, avg_degree, snr = (check_real(k, v) for k, v in
                                  (("homophily", homophily), ("avg_degree", avg_degree), ("snr", snr)))
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"homophily must be in [0, 1] (got {homophily}).")
    if not 0 <= avg_degree <= num_nodes / num_classes - 1:  # NaN fails too
        raise ValueError(f"avg_degree must be in [0, num_nodes/num_classes - "
                         f"1] = [0, {num_nodes / num_classes - 1:g}] (got "
                         f"{avg_degree}).")
    if not 0 <= snr < float("inf"):  # NaN fails too
        raise ValueError(f"snr must be finite and >= 0 (got {snr}).")
    if num_features < num_classes:
        raise ValueError(f"num_features ({num_features}) must be >= "
                         f"num_classes ({num_classes}) for orthogonal means.")

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(num_nodes) % num_classes)

    num_edges = int(round(num_nodes * avg_degree / 2))
    pairs = _sample_edges(y, num_classes, num_edges, homophily, rng)
    ei = np.concatenate([pairs, pairs[:, ::-1]]).T
    order = np.lexsort((ei[1], ei[0]))
    edge_index = torch.from_numpy(np.ascontiguousarray(ei[:, order]))

    q, _ = np.linalg.qr(rng.standard_normal((num_features, num_classes)))
    means = (snr / np.sqrt(2.0)) * q.T  # [C, F], pairwise distance = snr
    x = means[y] + rng.standard_normal((num_nodes, num_features))

    y_t = torch.from_numpy(y.astype(np.int64))
    train, val, test = planetoid_masks(y_t, num_classes, num_train_per_class,
                                       num_val, num_test, seed=seed)
    data = Data(x=torch.from_numpy(x).float(), y=y_t, edge_index=edge_index,
                train_mask=train, val_mask=val, test_mask=test)
    data.num_classes = num_classes
    data.name = "csbm"
    return data


def edge_homophily(edge_index: Tensor, y: Tensor) -> float:
    r"""Fraction of edges whose endpoints share a label.

    Args:
        edge_index (Tensor): :math:`(2, |\mathcal{E}|)`.
        y (Tensor): Labels :math:`(|\mathcal{V}|)`.

    Returns:
        float: In [0, 1]; NaN without edges.
    """
    if edge_index.numel() == 0:
        return float("nan")
    return float((y[edge_index[0]] == y[edge_index[1]]).float().mean())


def karate_club(num_train_per_class: int = 4, num_val: int = 10,
                seed: int = 0) -> Data:
    r"""Zachary's karate club with two classes by :obj:`"club"`.

    From :func:`networkx.karate_club_graph` (34 nodes, 78 undirected edges): class 0 is ``'Mr. Hi'``
    (17 nodes), class 1 ``'Officer'`` (17 nodes). Features are the identity matrix.
    :obj:`num_train_per_class` random nodes per class train, :obj:`num_val` validate, the rest test.
    (PyG's :class:`~torch_geometric.datasets.KarateClub` instead uses four modularity-based
    communities.)

    Args:
        num_train_per_class (int): (default: ``4``)
        num_val (int): (default: ``10``)
        seed (int): (default: ``0``)

    Returns:
        Data: As :func:`csbm`'s, with :obj:`name="karate"`.
    """
    import networkx as nx

    seed = check_seed("seed", seed)
    g = nx.karate_club_graph()
    n = g.number_of_nodes()
    y = torch.tensor([0 if g.nodes[i]["club"] == "Mr. Hi" else 1
                      for i in range(n)])
    edges = torch.tensor(sorted(g.edges()), dtype=torch.long).t()
    ei = torch.cat([edges, edges.flip(0)], dim=1)
    ei = ei[:, torch.argsort(ei[0] * n + ei[1])]
    check_sizes(num_train_per_class=num_train_per_class, num_val=num_val)
    num_test = n - 2 * num_train_per_class - num_val
    if num_test < 1:
        raise ValueError(f"Karate club has {n} nodes; {num_train_per_class} "
                         f"train per class + {num_val} val leaves no test "
                         f"nodes.")
    train, val, test = planetoid_masks(y, 2, num_train_per_class, num_val,
                                       num_test, seed=seed)
    data = Data(x=torch.eye(n), y=y, edge_index=ei, train_mask=train,
                val_mask=val, test_mask=test)
    data.num_classes = 2
    data.name = "karate"
    return data
