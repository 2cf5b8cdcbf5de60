"""Pure functions: the one normalization, sparse propagation, Chebyshev polynomials."""
from gcnkit.functional.cache import GraphCache, graph_cache
from gcnkit.functional.chebyshev import chebyshev_basis, chebyshev_combine, laplacian_lambda_max
from gcnkit.functional.graph_input import resolve_graph
from gcnkit.functional.normalize import NORMS, NormalizedGraph, normalize_adjacency
from gcnkit.functional.receptive_field import ReceptiveField, receptive_field
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.spmm import csr_matmul, finite_operands


def propagate(graph: NormalizedGraph, x):
    r""":math:`\hat{A} X` for a :class:`NormalizedGraph` and ``x`` ``[N, F]`` or ``[*, N, F]``.

    Args:
        graph (NormalizedGraph): the operator :math:`\hat{A}`.
        x (Tensor or CSRMatrix): node features, dense ``[N, F]`` / ``[*, N, F]`` or sparse ``[N, F]``.

    Returns:
        Tensor: :math:`(*, |\mathcal{V}|, F)` as ``x``; sparse CSR for sparse ``x``.
    """
    return graph.matmul(x)


__all__ = [
    "NORMS", "NormalizedGraph", "normalize_adjacency", "propagate", "CSRMatrix", "csr_matmul", "finite_operands",
    "GraphCache", "graph_cache", "resolve_graph", "chebyshev_basis", "chebyshev_combine",
    "laplacian_lambda_max", "ReceptiveField", "receptive_field",
]
