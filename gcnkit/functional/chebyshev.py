r"""Chebyshev polynomials of the scaled graph Laplacian (Defferrard et al. 2016).

With :math:`S = D^{-1/2} A D^{-1/2}` (``normalize_adjacency(norm="sym", self_loop_weight=0)``),
:math:`L = I - S` and :math:`\tilde{L} = 2L/\lambda_{max} - I = (2/\lambda_{max} - 1) I -
(2/\lambda_{max}) S`, built from :math:`S` as one CSR matrix once per graph and
:math:`\lambda_{max}` (no second normalization).
:math:`\lambda_{max}` is either given (2.0, PyG ``ChebConv``'s default for ``sym``, the bound
that turns the ``K=1`` model into Kipf's first-order model) or computed as the largest
eigenvalue of :math:`L` with ARPACK (``scipy.sparse.linalg.eigsh``; a dense solver for small
graphs), as Kipf's ``gcn`` code does;
it is computed once per graph and kept on the :class:`NormalizedGraph`
(:mod:`gcnkit.functional.lambda_max`, whose functions this module re-exports).

On a mini-batch (a disjoint union of graphs, ``batch[i]`` the graph of node ``i``) each graph has
its own :math:`\lambda_{max}`: :func:`lambda_max_per_node` gives each node its graph's value
(computed per graph, or from a per-graph tensor such as PyG's ``LaplacianLambdaMax`` gives), and
:func:`scaled_laplacian` scales row ``i`` by :math:`2/\lambda_{batch[i]}`, which on a block-diagonal
:math:`L` is each graph's own :math:`\tilde{L}`.
"""
from __future__ import annotations

import weakref
from typing import List, Sequence, Union

import torch
from torch import Tensor

from gcnkit.functional._cheb_checks import check_laplacian_graph
from gcnkit.functional.lambda_max import (laplacian_lambda_max, laplacian_lambda_max_per_graph,  # noqa: F401
                                          lambda_max_per_node, zero_tolerance)
from gcnkit.functional.normalize import NormalizedGraph
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.spmm import csr_matmul
from gcnkit.functional.validation import check_int


def scaled_laplacian(graph: NormalizedGraph, lambda_max: Union[float, Tensor]) -> CSRMatrix:
    r""":math:`\tilde{L} = (2/\lambda_{max} - 1) I - (2/\lambda_{max}) \hat{A}` as one CSR matrix, built
    from the normalized graph once per :math:`\lambda_{max}` (and kept on it), so that each
    Chebyshev step is a single sparse matmul. ``lambda_max`` may be a tensor ``[N]``, each node's
    value (a mini-batch's per-graph values, see :func:`lambda_max_per_node`): row ``i`` is then
    scaled by :math:`a_i = 2/\lambda_i`, :math:`\tilde{L} = \mathrm{diag}(a) L - I`; that matrix is
    kept for the last such tensor (the same tensor object, unmodified, reuses it). Values must be
    positive and finite; 0 (:func:`laplacian_lambda_max`'s value where :math:`L = 0`) only on rows
    of :math:`L` that are 0, where it gives :math:`\tilde{L} = -I` as any value would there."""
    check_laplacian_graph(graph, "scaled_laplacian")
    if isinstance(lambda_max, Tensor):
        return _scaled_laplacian_per_node(graph, lambda_max)
    lambda_max = float(lambda_max)
    if not 0.0 <= lambda_max < float("inf") or (lambda_max == 0.0 and not bool(_zero_laplacian_rows(graph).all())):
        # 0 is laplacian_lambda_max's value where L = 0 (see _assemble_scaled_laplacian), and only there
        raise ValueError(f"lambda_max must be a positive finite number, got {lambda_max}{_ZERO_HINT}")
    key = ("scaled_laplacian", lambda_max or 2.0, graph.device, graph.dtype, _differentiable(graph))
    cached = graph.extras.get(key)
    if cached is not None:
        return cached
    lap = _assemble_scaled_laplacian(graph, lambda_max)
    if _keepable(graph):
        graph.extras[key] = lap
    return lap


def _differentiable(graph: NormalizedGraph) -> bool:
    """Whether a matrix made from ``graph`` now carries autograd history (part of its key: one
    made under ``no_grad`` from values that require grad would pass no gradient to them)."""
    return graph.adj.value.requires_grad and torch.is_grad_enabled()


def _keepable(graph: NormalizedGraph) -> bool:
    """Whether a matrix made from ``graph`` now may be kept on it: always without autograd history;
    with it, only on a graph computed by autograd (normalized from learnable weights: made per
    forward, as a recurrent model does once per sequence, so the graph and what is derived from it
    go through one backward). A graph of leaf values that require grad outlives a backward, which
    frees the history of a kept matrix: that one's is made per call."""
    return not _differentiable(graph) or graph._source.adj.value.grad_fn is not None


def _scaled_laplacian_per_node(graph: NormalizedGraph, lambda_max: Tensor) -> CSRMatrix:
    n = graph.num_nodes
    if lambda_max.shape != (n,):
        raise ValueError(f"a per-node lambda_max must have shape [{n}], got {tuple(lambda_max.shape)}")
    key = ("scaled_laplacian_per_node", graph.device, graph.dtype, _differentiable(graph))
    cached = graph.extras.get(key)
    if cached is not None and cached[0]() is lambda_max and cached[1] == lambda_max._version:
        return cached[2]
    values = lambda_max.detach().to(graph.device, torch.float64)
    bad = ~torch.isfinite(values) | (values < 0)
    zero = values == 0
    if bool(zero.any()):  # (a pass over every edge: only where a 0 needs its row of L checked)
        bad |= zero & ~_zero_laplacian_rows(graph)
    if bool(bad.any()):
        raise ValueError(f"a per-node lambda_max must be positive and finite: {int(bad.sum())} of its {n} "
                         f"values are not (node {int(bad.nonzero()[0])}: {float(values[bad][0])}){_ZERO_HINT}")
    lap = _assemble_scaled_laplacian(graph, values)
    if _keepable(graph) and not lambda_max.is_inference():
        graph.extras[key] = (weakref.ref(lambda_max), lambda_max._version, lap)
    return lap


_ZERO_HINT = (" (0 only where L = I - A_hat is 0, every node with only a self-loop: laplacian_lambda_max's "
              "value there)")


def _zero_laplacian_rows(graph: NormalizedGraph) -> Tensor:
    r"""Which rows of :math:`L = I - \hat{A}` are 0 within rounding (the node has only a self-loop),
    as :func:`laplacian_lambda_max` rounds an eigenvalue to 0: where a value of 0 means
    :math:`\tilde{L} = -I` and any other value would give the same row."""
    adj, n = graph.adj, graph.num_nodes
    value = adj.value.detach().double()
    on = adj.row == adj.col
    off_identity = torch.where(on, (1.0 - value).abs(), value.abs())
    worst = torch.zeros(n, dtype=torch.float64, device=value.device).scatter_reduce_(0, adj.row, off_identity, "amax")
    has_loop = torch.zeros(n, dtype=torch.bool, device=value.device).index_fill_(0, adj.row[on], True)
    return has_loop & (worst < zero_tolerance(graph._source.dtype))


def _assemble_scaled_laplacian(graph: NormalizedGraph, lambda_max: Union[float, Tensor]) -> CSRMatrix:
    r""":math:`\tilde{L} = \mathrm{diag}(a)(I - \hat{A}) - I` with :math:`a = 2/\lambda_{max}`, one value
    or one per row (node); :math:`\lambda_{max} = 0` (:math:`L = 0`) gives :math:`\tilde{L} = -I`, as
    any positive value would, so it is taken as 2."""
    adj, n = graph.adj, graph.num_nodes
    diag = torch.arange(n, device=adj.device)
    if isinstance(lambda_max, Tensor):
        a_rows = 2.0 / lambda_max.masked_fill(lambda_max == 0, 2.0)
        off, on = adj.value * (-a_rows).to(adj.dtype)[adj.row], (a_rows - 1.0).to(adj.dtype)
    else:
        a = 2.0 / (lambda_max or 2.0)
        off, on = adj.value * -a, adj.value.new_full((n,), a - 1.0)
    return CSRMatrix.from_coo(torch.cat([adj.row, diag]), torch.cat([adj.col, diag]), torch.cat([off, on]), (n, n))


def chebyshev_basis(graph: NormalizedGraph, x: Tensor, K: int, lambda_max: Union[float, Tensor]) -> List[Tensor]:
    r""":math:`[T_0(\tilde{L}) X, \dots, T_K(\tilde{L}) X]` (``K`` propagations).

    Args:
        graph (NormalizedGraph): made with ``norm="sym"``, ``self_loop_weight=0.0``.
        x (Tensor): :math:`(*, |\mathcal{V}|, F)`.
        K (int): the degree, :math:`\geq 0`.
        lambda_max (float or Tensor): a number or each node's value ``[N]`` (see :func:`scaled_laplacian`).

    Returns:
        List[Tensor]: ``K + 1`` tensors shaped as ``x`` (the first is ``x`` itself).
    """
    check_laplacian_graph(graph, "chebyshev_basis")
    K = check_int("K", K, 0)
    out = [x]
    if K == 0:
        return out
    lap = scaled_laplacian(graph.like(x), lambda_max)  # on x's device and dtype, as propagate
    out.append(csr_matmul(lap, x))
    for _ in range(2, K + 1):
        out.append(torch.sub(csr_matmul(lap, out[-1]), out[-2], alpha=0.5).mul_(2.0))
    return out


def chebyshev_combine(graph: NormalizedGraph, z: Sequence[Tensor], lambda_max: Union[float, Tensor]) -> Tensor:
    r""":math:`\sum_{k=0}^{K} T_k(\tilde{L}) Z_k` by Clenshaw's recurrence: ``K`` propagations
    at the width of ``Z_k`` (used when multiplying by the weights first shrinks the width).

    Args:
        graph, lambda_max: as for :func:`chebyshev_basis`.
        z (Sequence[Tensor]): :math:`Z_0, \dots, Z_K`, each :math:`(*, |\mathcal{V}|, F)`.

    Returns:
        Tensor: :math:`(*, |\mathcal{V}|, F)` (``z[0]`` itself for ``K = 0``).
    """
    check_laplacian_graph(graph, "chebyshev_combine")
    K = len(z) - 1
    if K < 0:
        raise ValueError("chebyshev_combine needs at least one term (z = [Z_0, ..., Z_K])")
    if K == 0:
        return z[0]
    lap = scaled_laplacian(graph.like(z[0]), lambda_max)
    b1, b2 = z[K], None
    for k in range(K - 1, 0, -1):
        nxt = torch.add(z[k], csr_matmul(lap, b1), alpha=2.0)
        b1, b2 = (nxt if b2 is None else nxt.sub_(b2)), b1
    out = z[0] + csr_matmul(lap, b1)
    return out if b2 is None else out.sub_(b2)
