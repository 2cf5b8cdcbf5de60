r"""Chebyshev polynomials of the scaled graph Laplacian (Defferrard et al. 2016).

With :math:`S = D^{-1/2} A D^{-1/2}` (``normalize_adjacency(norm="sym", self_loop_weight=0)``),
:math:`L = I - S` and :math:`\tilde{L} = 2L/\lambda_{max} - I = (2/\lambda_{max} - 1) I -
(2/\lambda_{max}) S`, built from :math:`S` as one CSR matrix once per graph and
:math:`\lambda_{max}` (no second normalization).
:math:`\lambda_{max}` is either given (2.0, PyG ``ChebConv``'s default for ``sym``, the bound
that turns the ``K=1`` model into Kipf's first-order model) or computed as the largest
eigenvalue of :math:`L` with ARPACK (``scipy.sparse.linalg.eigsh``; a dense solver for small
graphs), as Kipf's ``gcn`` code does;
it is computed once per graph and kept on the :class:`NormalizedGraph`.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import torch
from torch import Tensor

from gcnkit.functional.normalize import NormalizedGraph
from gcnkit.functional.sparse import CSRMatrix, csr_matmul


@torch.compiler.disable  # host-side SciPy code: keep torch.compile from tracing into it
def laplacian_lambda_max(graph: NormalizedGraph) -> float:
    r"""Largest eigenvalue of :math:`L = I - \hat{A}` (computed once per graph, kept).

    A value within float rounding of zero (:math:`L = 0` up to rounding: every node has only a
    self-loop) is returned as exactly 0.0, which callers treat as :math:`\tilde{L} = -I`. The
    value is a constant for autograd: with edge weights that require grad, the gradient does not
    include :math:`\partial \lambda_{max} / \partial w` (as PyG's ``LaplacianLambdaMax``); pass
    a number to differentiate through a fixed scaling."""
    if "lambda_max" not in graph.extras:
        import scipy.sparse as sp
        adj = graph.adj
        n = graph.num_nodes
        s = sp.csr_matrix((adj.value.detach().double().cpu().numpy(), adj.col.cpu().numpy(),
                           adj.crow.cpu().numpy()), shape=(n, n))
        lap = sp.identity(n, format="csr") - s
        lap.eliminate_zeros()
        # a fixed starting vector: the same graph always gives the same value (ARPACK's default
        # start is random, which makes outputs differ between identical runs)
        v0 = np.random.default_rng(0).uniform(0.5, 1.5, n)
        # L = 0 (every node has only a self-loop): ARPACK cannot start from it, and L = 0 up to
        # rounding has an eigenvalue of rounding noise (of either sign) that would scale L~ wildly
        tol = 16 * torch.finfo(adj.dtype).eps
        lam = 0.0 if lap.nnz == 0 else _largest_eigenvalue(lap, v0)
        graph.extras["lambda_max"] = 0.0 if lam < tol else lam
    return float(graph.extras["lambda_max"])


def _largest_eigenvalue(lap, v0: np.ndarray) -> float:
    """ARPACK with a dense fallback. Cora and CiteSeer have lambda_max = 2 with a high
    multiplicity (bipartite components), where ``eigsh(which="LM")`` as in Kipf's code fails to
    converge on CiteSeer (after ~45 s): ``"LA"`` with a wider Krylov space converges in ~20 ms."""
    from scipy.sparse.linalg import eigs, eigsh

    n = lap.shape[0]
    symmetric = n <= 2 or abs(lap - lap.T).max() < 1e-10
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


def scaled_laplacian(graph: NormalizedGraph, lambda_max: float) -> CSRMatrix:
    r""":math:`\tilde{L} = (2/\lambda_{max} - 1) I - (2/\lambda_{max}) \hat{A}` as one CSR matrix, built
    from the normalized graph once per :math:`\lambda_{max}` (and kept on it), so that each
    Chebyshev step is a single sparse matmul."""
    key = ("scaled_laplacian", float(lambda_max), graph.device, graph.dtype)
    cached = graph.extras.get(key)
    if cached is not None:
        return cached
    adj = graph.adj
    a = 2.0 / lambda_max
    n = graph.num_nodes
    diag = torch.arange(n, device=adj.device)
    lap = CSRMatrix.from_coo(torch.cat([adj.row, diag]), torch.cat([adj.col, diag]),
                             torch.cat([adj.value * -a, adj.value.new_full((n,), a - 1.0)]), (n, n))
    if not lap.value.requires_grad:  # a differentiable graph is rebuilt per call
        graph.extras[key] = lap
    return lap


def chebyshev_basis(graph: NormalizedGraph, x: Tensor, K: int, lambda_max: float) -> List[Tensor]:
    r""":math:`[T_0(\tilde{L}) X, \dots, T_K(\tilde{L}) X]` (``K`` propagations)."""
    out = [x]
    if K == 0:
        return out
    lap = scaled_laplacian(graph, lambda_max)
    out.append(csr_matmul(lap, x))
    for _ in range(2, K + 1):
        out.append(torch.sub(csr_matmul(lap, out[-1]), out[-2], alpha=0.5).mul_(2.0))
    return out


def chebyshev_combine(graph: NormalizedGraph, z: Sequence[Tensor], lambda_max: float) -> Tensor:
    r""":math:`\sum_{k=0}^{K} T_k(\tilde{L}) Z_k` by Clenshaw's recurrence: ``K`` propagations
    at the width of ``Z_k`` (used when multiplying by the weights first shrinks the width)."""
    K = len(z) - 1
    if K == 0:
        return z[0]
    lap = scaled_laplacian(graph, lambda_max)
    b1, b2 = z[K], None
    for k in range(K - 1, 0, -1):
        nxt = torch.add(z[k], csr_matmul(lap, b1), alpha=2.0)
        b1, b2 = (nxt if b2 is None else nxt.sub_(b2)), b1
    out = z[0] + csr_matmul(lap, b1)
    return out if b2 is None else out.sub_(b2)
