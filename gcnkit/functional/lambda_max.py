r"""The largest eigenvalue :math:`\lambda_{max}` of a graph's Laplacian :math:`L = I - S`
(:math:`S = D^{-1/2} A D^{-1/2}`), which scales the Chebyshev basis of
:mod:`gcnkit.functional.chebyshev`: computed with ARPACK (``scipy.sparse.linalg.eigsh``; a dense
solver for small graphs), as Kipf's ``gcn`` code does, once per graph and kept on the
:class:`NormalizedGraph`; on a mini-batch (a disjoint union of graphs, ``batch[i]`` the graph of
node ``i``) once per graph of the batch, or taken from a per-graph tensor such as PyG's
``LaplacianLambdaMax`` gives, and spread to the nodes by :func:`lambda_max_per_node`.
"""
from __future__ import annotations

import hashlib
import numbers
import weakref
from typing import Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from gcnkit.functional._cheb_checks import check_batch, check_graph_ids as _check_graph_ids, check_laplacian_graph
from gcnkit.functional.normalize import NormalizedGraph


@torch.compiler.disable  # host-side SciPy code: keep torch.compile from tracing into it
def laplacian_lambda_max(graph: NormalizedGraph) -> float:
    r"""Largest eigenvalue of :math:`L = I - \hat{A}` (computed once per graph, kept).

    A value within float rounding of zero (:math:`L = 0` up to rounding: every node has only a
    self-loop) is returned as exactly 0.0, which callers treat as :math:`\tilde{L} = -I`. The
    value is a constant for autograd: with edge weights that require grad, the gradient does not
    include :math:`\partial \lambda_{max} / \partial w` (as PyG's ``LaplacianLambdaMax``); pass
    a number to differentiate through a fixed scaling.

    Args:
        graph (NormalizedGraph): as for :func:`chebyshev_basis`.

    Returns:
        float: :math:`\lambda_{max}` (0.0 where :math:`L = 0`).
    """
    check_laplacian_graph(graph, "laplacian_lambda_max")
    if graph.parent is not None:  # a restriction (receptive field): the whole graph's value
        return laplacian_lambda_max(graph.parent)
    if "lambda_max" not in graph.extras:  # (shared by every device/dtype copy of the graph)
        lap = _scipy_laplacian(graph)
        graph.extras["lambda_max"] = _block_lambda_max(lap, graph._source.dtype)
    return float(graph.extras["lambda_max"])


def _scipy_laplacian(graph: NormalizedGraph):
    r""":math:`L = I - \hat{A}` as a float64 SciPy CSR matrix without stored zeros, from the
    graph's original (a bfloat16 copy asking first must not leave its rounding in the value that
    every copy shares)."""
    import scipy.sparse as sp
    adj = graph._source.adj
    n = graph.num_nodes
    s = sp.csr_matrix((adj.value.detach().double().cpu().numpy(), adj.col.cpu().numpy(),
                       adj.crow.cpu().numpy()), shape=(n, n))
    lap = sp.identity(n, format="csr") - s
    lap.eliminate_zeros()
    return lap


def zero_tolerance(dtype: torch.dtype) -> float:
    """How close to 0 a Laplacian quantity of a ``dtype`` graph counts as 0 (rounding noise)."""
    return 16 * torch.finfo(dtype).eps


def _block_lambda_max(lap, dtype: torch.dtype) -> float:
    """The largest eigenvalue of one graph's Laplacian, 0.0 within rounding of zero."""
    # a fixed starting vector: the same graph always gives the same value (ARPACK's default
    # start is random, which makes outputs differ between identical runs)
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, lap.shape[0])
    # L = 0 (every node has only a self-loop): ARPACK cannot start from it, and L = 0 up to
    # rounding has an eigenvalue of rounding noise (of either sign) that would scale L~ wildly
    tol = zero_tolerance(dtype)
    lam = 0.0 if lap.nnz == 0 else _largest_eigenvalue(lap, v0)
    return 0.0 if lam < tol else lam


def _largest_eigenvalue(lap, v0: np.ndarray) -> float:
    """ARPACK with a dense fallback. Cora and CiteSeer have lambda_max = 2 with a high
    multiplicity (bipartite components), where ``eigsh(which="LM")`` as in Kipf's code fails to
    converge on CiteSeer (after ~45 s): ``"LA"`` with a wider Krylov space converges in ~20 ms."""
    from scipy.sparse.linalg import eigs, eigsh

    n = lap.shape[0]
    symmetric = n <= 1 or abs(lap - lap.T).max() < 1e-10
    if n > 64:
        ncv = min(n - 1, 40)
        try:
            if symmetric:
                return float(eigsh(lap, k=1, which="LA", v0=v0, ncv=ncv, tol=1e-8, maxiter=100 * n,
                                   return_eigenvectors=False)[0])
            return float(eigs(lap, k=1, which="LR", v0=v0, ncv=ncv, tol=1e-8, maxiter=100 * n,
                              return_eigenvectors=False)[0].real)
        except Exception:  # ArpackNoConvergence / ArpackError: dense fallback below
            pass
    if n > 20000:
        raise RuntimeError(f"lambda_max: ARPACK did not converge on a graph of {n} nodes; pass "
                           f"lambda_max=2.0 (the bound for norm='sym') instead")
    dense = lap.toarray()
    return float(np.linalg.eigvalsh(dense).max() if symmetric else np.linalg.eigvals(dense).real.max())


def _batch_key(batch: Tensor) -> Tuple[int, bytes]:
    """A key on the content of ``batch`` (its length and a hash of its values)."""
    values = batch.detach().to("cpu", torch.long).contiguous().numpy()
    return values.size, hashlib.blake2b(values.tobytes(), digest_size=16).digest()


@torch.compiler.disable  # host-side SciPy code
def laplacian_lambda_max_per_graph(graph: NormalizedGraph, batch: Tensor) -> Tensor:
    r"""The largest eigenvalue of each graph's block of :math:`L` in a mini-batch, float64
    ``[batch.max() + 1]`` on the CPU (as :func:`laplacian_lambda_max` for each graph alone: 0.0
    where :math:`L = 0`; a graph id without nodes gets 0.0). Computed once per graph and
    ``batch`` content, and kept; an edge between two graphs of ``batch`` is a ``ValueError``."""
    check_laplacian_graph(graph, "laplacian_lambda_max_per_graph")
    batch = check_batch(batch, graph.num_nodes)
    return _lambda_max_per_graph(graph, batch, _batch_key(batch))


def _lambda_max_per_graph(graph: NormalizedGraph, batch: Tensor, key) -> Tensor:
    store = graph.extras.setdefault("lambda_max_per_graph", {})
    if key not in store:
        num_graphs = _check_graph_ids(graph, batch)
        ids = batch.detach().to("cpu", torch.long).numpy()
        order = np.argsort(ids, kind="stable")  # each graph's nodes in their order, contiguous
        bounds = np.concatenate([[0], np.cumsum(np.bincount(ids, minlength=num_graphs))])
        lap = _scipy_laplacian(graph)[order][:, order].tocsr() if num_graphs else None
        # (lap is None only without graphs, and then there are no blocks to index)
        lam = [_block_lambda_max(lap[a:b, a:b], graph._source.dtype) if b > a else 0.0  # type: ignore[index]
               for a, b in zip(bounds[:-1], bounds[1:])]
        store[key] = torch.tensor(lam, dtype=torch.float64)
    return store[key]


@torch.compiler.disable  # reads batch and lambda_max on the host (and SciPy for "eig")
def lambda_max_per_node(graph: NormalizedGraph, batch: Optional[Tensor],
                        lambda_max: Union[str, float, Tensor]) -> Union[float, Tensor]:
    r"""The :math:`\lambda_{max}` argument of :func:`~gcnkit.functional.chebyshev.scaled_laplacian`
    for a (mini-batch) graph:
    ``"eig"`` (computed, per graph of ``batch`` when given), a positive finite number, or a
    tensor ``[]``/``[1]`` (one value) or ``[num_graphs]`` (per graph, indexed by ``batch``).
    Returns a float for one value, else each node's graph's value as a float64 ``[N]`` tensor on
    the graph's device, kept per ``batch`` for ``"eig"``; 0 from ``"eig"`` (where :math:`L = 0`)
    is :func:`~gcnkit.functional.chebyshev.scaled_laplacian`'s :math:`\tilde{L} = -I`."""
    check_laplacian_graph(graph, "lambda_max_per_node")
    if batch is not None:
        batch = check_batch(batch, graph.num_nodes)
    if isinstance(lambda_max, str):
        if lambda_max != "eig":
            raise ValueError(f"lambda_max must be a positive finite number, a tensor or 'eig', got {lambda_max!r}")
        if batch is None:
            return laplacian_lambda_max(graph)
        if graph.parent is not None:
            raise ValueError("lambda_max='eig' per graph of batch is not defined on a restricted graph (a "
                             "receptive field): compute each graph's value on the whole graph and pass it")
        key = _batch_key(batch)
        per_graph = _lambda_max_per_graph(graph, batch, key)
        if per_graph.numel() <= 1:  # one graph: the whole graph's value, as without batch
            return float(per_graph[0]) if per_graph.numel() else laplacian_lambda_max(graph)
        store = graph.extras.setdefault("lambda_max_per_node", {})
        if (key, graph.device) not in store:
            store[key, graph.device] = per_graph.to(graph.device)[batch.to(graph.device)]
        return store[key, graph.device]
    if isinstance(lambda_max, Tensor):
        kept = _kept_per_node(graph, lambda_max, batch)
        if kept is not None:  # the same tensors as the last call (e.g. the next layer): no re-check
            return kept
        if (lambda_max.dim() > 1 or lambda_max.numel() == 0 or lambda_max.is_complex()
                or lambda_max.dtype == torch.bool):  # integers are values too (PyG's ChebConv takes them)
            raise ValueError(f"lambda_max must be a real tensor of shape [] or [num_graphs], got "
                             f"shape {tuple(lambda_max.shape)} and dtype {lambda_max.dtype}")
        values = lambda_max.detach()
        values = values if values.is_floating_point() else values.double()
    elif isinstance(lambda_max, numbers.Real) and not isinstance(lambda_max, bool):  # NumPy scalars too
        values = torch.tensor([float(lambda_max)], dtype=torch.float64)
    else:
        raise TypeError(f"lambda_max must be a number or a tensor, got {type(lambda_max).__name__}")
    bad = int((~(torch.isfinite(values) & (values > 0))).sum())
    if bad:
        raise ValueError(f"lambda_max must be positive and finite: {bad} of its {values.numel()} value(s) "
                         f"are not ({values.flatten()[:8].tolist()}{' ...' if values.numel() > 8 else ''})")
    if values.numel() == 1:
        return float(values.reshape(()))
    if batch is None:
        raise ValueError(f"a per-graph lambda_max ({values.numel()} values) needs batch= (the graph id of each "
                         f"node) to assign each node its graph's value")
    num_graphs = _check_graph_ids(graph, batch)
    if values.numel() < num_graphs:
        raise ValueError(f"lambda_max has {values.numel()} values but batch has {num_graphs} graphs "
                         f"(ids up to {num_graphs - 1})")
    with torch.inference_mode(False):  # a tensor to key the matrix on, also in inference mode
        per_node = values.to(graph.device, torch.float64)[batch.to(graph.device)]
    if not (lambda_max.is_inference() or batch.is_inference()):  # no version counters to key on
        graph.extras["lambda_max_per_node_tensor"] = (weakref.ref(lambda_max), lambda_max._version,
                                                      weakref.ref(batch), batch._version, per_node)
    return per_node


def _kept_per_node(graph: NormalizedGraph, lambda_max: Tensor, batch: Optional[Tensor]) -> Optional[Tensor]:
    """The per-node values made by the last call with these very tensors, unmodified since: the
    same tensor object again, so :func:`~gcnkit.functional.chebyshev.scaled_laplacian` reuses its
    matrix (the layers of a model on one mini-batch build L~ once)."""
    kept = graph.extras.get("lambda_max_per_node_tensor")
    if kept is None or batch is None or kept[0]() is not lambda_max or kept[2]() is not batch:
        return None  # (only tensors with version counters are kept)
    return kept[4] if (kept[1], kept[3]) == (lambda_max._version, batch._version) else None
