r"""Chebyshev spectral graph convolutions and their first-order/zero-order presets."""
from __future__ import annotations

import numbers
from typing import Literal, Optional, Sequence, Tuple, Union, overload

import torch
from torch import Tensor

from gcnkit.functional._cheb_checks import check_batch
from gcnkit.functional.chebyshev import chebyshev_basis, chebyshev_combine
from gcnkit.functional.lambda_max import lambda_max_per_node
from gcnkit.functional.graph_input import GraphInput
from gcnkit.functional.linear import derived, linear, linear_sum
from gcnkit.functional.validation import check_bool
from gcnkit.nn.conv import docs
from gcnkit.nn.conv.base import Features, GraphConvBase
from gcnkit.nn.conv.node_dim import nodes_on_node_dim
from gcnkit.nn.conv.preset import preset_options
from gcnkit.nn.conv.weights import glorot_linear, sparse_aware_linear, weight_of
from gcnkit.nn.shared_doc import shared_doc

LambdaMax = Union[float, Literal["eig"]]


#: Bases from this many entries per term on have their GEMMs summed (see ``_basis_linear``).
_SUM_MIN_NUMEL = 1 << 15

#: Adds the Args and Shapes every Chebyshev layer shares.
_cheb_doc = shared_doc(args_head=docs.CHANNELS, args=docs.OPTIONS, shapes=docs.CHEB_SHAPES)


@_cheb_doc
class ChebyshevConv(GraphConvBase):
    r"""The Chebyshev spectral graph convolution (Defferrard et al. 2016) in Kipf & Welling's
    notation: :math:`X' = \sum_{k=0}^{K} T_k(\tilde{L}) X \Theta_k + b`, with
    :math:`L = I - D^{-1/2} A D^{-1/2}`, :math:`\tilde{L} = 2L/\lambda_{max} - I`
    and :math:`T_0 = I`, :math:`T_1 = \tilde{L}`, :math:`T_k = 2\tilde{L} T_{k-1} - T_{k-2}`.

    Self-loops: none are added. With ``remove_self_loops=True`` (default) those the graph has are
    dropped before :math:`L` is built, as PyG's ``ChebConv`` does; ``False`` keeps them in
    :math:`A` (and :math:`D`), as Kipf's code does with the graph it loads (the presets of
    :data:`~gcnkit.nn.conv.CONV_REGISTRY` for his Table 3). On a graph without self-loops (Cora and
    CiteSeer as PyG's ``Planetoid`` loads them) the two agree.

    ``K`` is the paper's (the polynomial degree, ``K + 1`` weight matrices): PyG's ``ChebConv``
    counts terms instead, so ``ChebyshevConv(K)`` equals ``torch_geometric.nn.ChebConv(K + 1)``
    (same ``lins`` parameter layout) on undirected graphs (symmetric weights); on a directed graph
    :math:`D` holds in-degrees here (gcnkit's convention, as ``gcn_norm``), out-degrees in PyG's
    ``get_laplacian``. So even on an undirected graph the gradient with respect to the weight of
    one directed edge :math:`j \to i` differs from PyG's; only the sum over both directions,
    :math:`\partial/\partial w_{ij} + \partial/\partial w_{ji}`, agrees. ``K = 0`` is a per-node
    linear map (Kipf's MLP row) and ``K = 1`` with ``lambda_max = 2`` Kipf's first-order model
    :math:`X\Theta_0 - D^{-1/2} A D^{-1/2} X \Theta_1` (sign absorbed by :math:`\Theta_1`).

    :math:`\lambda_{max}`: a number (default 2.0, the bound PyG uses for ``sym``), or ``"eig"``:
    the largest eigenvalue of :math:`L` by ARPACK, once per graph (what Kipf's code does for its
    Chebyshev rows), a constant for autograd (learnable edge weights get the gradient of
    :math:`\tilde{L}` at that fixed scaling; see
    :func:`~gcnkit.functional.chebyshev.laplacian_lambda_max`). On a mini-batch (PyG's ``Batch``,
    a disjoint union of graphs) ``"eig"`` needs ``batch=``: with it each graph gets its own
    :math:`\lambda_{max}` (computed once per graph and ``batch``), without it the whole batch's.
    ``forward(..., lambda_max=)`` overrides the layer's value for that call, as in PyG's
    ``ChebConv``: a positive number, or a tensor of one value or of one per graph (indexed by
    ``batch``, e.g. from ``torch_geometric.transforms.LaplacianLambdaMax``), a constant for
    autograd; per graph, row :math:`i` of :math:`\tilde{L}` is scaled by
    :math:`2/\lambda_{batch[i]}`, which is each graph's own :math:`\tilde{L}`. When ``out_channels <
    in_channels`` (or ``x`` is sparse), all
    :math:`X\Theta_k` come from one fused matmul and the sum is evaluated by Clenshaw's recurrence
    at the output width; otherwise the basis :math:`T_k X` is propagated at the input width.

    Args:
        K (int): the polynomial degree, ``K + 1`` weight matrices (PyG's ``ChebConv(K + 1)``).
        lambda_max (float or str, optional): :math:`\lambda_{max}`, a positive number or ``"eig"``
            (see above; ``forward(..., lambda_max=)`` overrides it). (default: ``2.0``)
        remove_self_loops (bool, optional): drop the graph's own self-loops before building
            :math:`L` (see above). (default: ``True``)
    """

    norm = "sym"
    self_loop_weight = 0.0
    two_phase = True

    def __init__(self, in_channels: int, out_channels: int, K: int, *, lambda_max: LambdaMax = 2.0,
                 remove_self_loops: bool = True, bias: bool = True, cached: bool = True, **kwargs):
        if not isinstance(K, numbers.Integral) or isinstance(K, bool) or K < 0:  # NumPy's integers too
            raise ValueError(f"K must be a non-negative integer (the polynomial degree), got {K!r}")
        K = int(K)
        if not (lambda_max == "eig" or (isinstance(lambda_max, numbers.Real) and not isinstance(lambda_max, bool)
                                        and 0 < lambda_max < float("inf"))):
            raise ValueError(f"lambda_max must be a positive finite number or 'eig', got {lambda_max!r}")
        super().__init__(in_channels, out_channels, bias=bias, cached=cached, **kwargs)
        self.K: int = K
        self.lambda_max: LambdaMax = lambda_max if lambda_max == "eig" else float(lambda_max)
        self.remove_self_loops = check_bool("remove_self_loops", remove_self_loops)
        self.lins: torch.nn.ModuleList = torch.nn.ModuleList(
            [glorot_linear(self.in_channels, self.out_channels) for _ in range(K + 1)])
        self.reset_parameters()

    @nodes_on_node_dim
    def forward(self, x: Features, edge_index: Optional[GraphInput] = None,
                edge_weight: Optional[Tensor] = None, batch: Optional[Tensor] = None,
                lambda_max: Optional[Union[float, Tensor]] = None) -> Tensor:
        x = self.features(x)
        if self.K == 0:
            return self.add_bias(sparse_aware_linear(x, weight_of(self.lins[0])))
        graph, lam = self._graph_and_lambda(x, edge_index, edge_weight, batch, lambda_max)
        if isinstance(x, Tensor) and self.out_channels >= self.in_channels:
            # the basis [T_0 X, ..., T_K X] at the input width, then its weights (_basis_linear)
            return self._basis_linear(chebyshev_basis(graph, x, self.K, lam))
        z = sparse_aware_linear(x, self.fused_weight()).split(self.out_channels, dim=-1)  # one fused matmul
        return self.add_bias(chebyshev_combine(graph, z, lam))

    def _graph_and_lambda(self, x: Features, edge_index: Optional[GraphInput], edge_weight: Optional[Tensor],
                          batch: Optional[Tensor] = None, lambda_max: Optional[Union[float, Tensor]] = None):
        """The graph and lambda_max: a float, or each node's graph's value ``[N]`` (a mini-batch)."""
        if edge_index is None:
            raise ValueError(f"{self.__class__.__name__} with K={self.K} needs a graph (edge_index)")
        graph = self.graph(edge_index, edge_weight, x, norm="sym", self_loop_weight=0.0,
                           remove_self_loops=self.remove_self_loops)
        if isinstance(lambda_max, str):
            raise ValueError(f"forward's lambda_max must be a positive finite number or a tensor, got "
                             f"{lambda_max!r} (pass lambda_max='eig' to the constructor)")
        if lambda_max is None and self.lambda_max != "eig":
            lam = self.lambda_max  # a number: the same for every graph of a batch
            if batch is not None:
                check_batch(batch, graph.num_nodes)
        else:  # "eig" (per graph of batch, when given) or forward's lambda_max
            lam = lambda_max_per_node(graph, batch, self.lambda_max if lambda_max is None else lambda_max)
        return graph, lam  # a 0.0 from "eig" (L = 0) is scaled_laplacian's L~ = -I

    def propagate_only(self, x: Tensor, edge_index: Optional[GraphInput] = None,
                       edge_weight: Optional[Tensor] = None) -> Tensor:
        r"""The basis :math:`[T_0(\tilde{L}) X, \dots, T_K(\tilde{L}) X]` concatenated on the feature
        axis (dense ``x``); see :meth:`GraphConvBase.propagate_only`."""
        checked = self.features(x, auto=False)
        if not isinstance(checked, Tensor):
            raise TypeError("propagate_only takes dense features")
        x = checked
        if self.K == 0:
            return x
        graph, lam = self._graph_and_lambda(x, edge_index, edge_weight)
        return torch.cat(chebyshev_basis(graph, x, self.K, lam), dim=-1)

    def _basis_linear(self, basis, add: Optional[Tensor] = None) -> Tensor:
        """The weights applied to the basis: GEMMs accumulated into one output while the output is
        at most as wide as the concatenated basis (the GRU maps of GConvGRU: 4–10% of a Los-loop
        training step), one GEMM of the concatenation for wider outputs, where the K passes of
        accumulation over the output would cost more than the copy (GConvLSTM's four gates), and
        for small inputs, where the extra calls cost more than the copy saves (one sequence of a
        small graph: Chickenpox's 20 nodes)."""
        weights = [weight_of(lin) for lin in self.lins]
        if self.out_channels <= len(basis) * self.in_channels and basis[0].numel() >= _SUM_MIN_NUMEL:
            return linear_sum(basis, weights, self.bias, add=add)
        weight = derived("cat1", weights, lambda: torch.cat(weights, 1))
        return linear(torch.cat(basis, dim=-1), weight, self.bias, add=add)

    def propagate_transform(self, x: Tensor, edge_index: Optional[GraphInput] = None,
                            edge_weight: Optional[Tensor] = None, *, add: Optional[Tensor] = None) -> Tensor:
        r""":math:`\sum_k T_k(\tilde{L}) X \Theta_k + b` (plus ``add``) without concatenating the basis."""
        checked = self.features(x, auto=False)
        if not isinstance(checked, Tensor):
            raise TypeError("propagate_transform takes dense features")
        x = checked
        if self.K == 0:
            return self.transform(x, add=add)
        graph, lam = self._graph_and_lambda(x, edge_index, edge_weight)
        return self._basis_linear(chebyshev_basis(graph, x, self.K, lam), add)

    @overload
    def transform(self, z: Tensor, split: None = None, *, add: Optional[Tensor] = None) -> Tensor: ...
    @overload
    def transform(self, z: Tensor, split: Sequence[int], *, add: None = None) -> Tuple[Tensor, ...]: ...
    def transform(self, z: Tensor, split: Optional[Sequence[int]] = None, *,
                  add: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, ...]]:
        weight = weight_of(self.lins[0]) if self.K == 0 else torch.cat([weight_of(lin) for lin in self.lins], 1)
        return linear(z, weight, self.bias, split, add=add)

    @property
    def hops(self) -> int:
        return self.K

    def fused_weight(self) -> Tensor:
        return torch.cat([weight_of(lin) for lin in self.lins], 0)

    def propagate_weighted(self, z: Tensor, edge_index: Optional[GraphInput] = None,
                           edge_weight: Optional[Tensor] = None, *, copies: int = 1) -> Tensor:
        r""":math:`\sum_k T_k(\tilde{L}) Z_k` for ``z = [X\Theta_0, ..., X\Theta_K]`` (by Clenshaw's
        recurrence); see :meth:`GraphConvBase.propagate_weighted`."""
        block = self._term_width(z, self.K + 1, copies)
        if self.K == 0:
            return z
        graph, lam = self._graph_and_lambda(z, edge_index, edge_weight)
        return chebyshev_combine(graph, z.split(block, dim=-1), lam)

    def extra_repr(self) -> str:
        s = f"K={self.K}, lambda_max={self.lambda_max}"
        if self.K > 0 and not self.remove_self_loops:
            s += ", remove_self_loops=False"
        return s if self.bias is not None else s + ", bias=False"


@_cheb_doc
class FirstOrderConv(ChebyshevConv):
    r"""Kipf & Welling's first-order model, ``ChebyshevConv`` with ``K=1``, ``lambda_max=2``:
    :math:`X' = X\Theta_0 + \tilde{L} X \Theta_1 + b = X\Theta_0 - D^{-1/2} A D^{-1/2} X\Theta_1 + b`
    (their eq. 6). Table 3 writes :math:`X\Theta_0 + D^{-1/2} A D^{-1/2} X\Theta_1`: the same model
    with :math:`\Theta_1` negated; the minus sign keeps the weights interchangeable with
    ``torch_geometric.nn.ChebConv(K=2)``. See :class:`ChebyshevConv`.

    Args:
        K, lambda_max: fixed, ``1`` and ``2.0``; :class:`ChebyshevConv` chooses them (passing another
            value here is a ``TypeError``). ``remove_self_loops`` (default ``True``) is taken through
            ``**kwargs``, as :class:`ChebyshevConv`'s.
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, cached: bool = True,
                 **kwargs):
        super().__init__(in_channels, out_channels, bias=bias, cached=cached,
                         **preset_options(self, ChebyshevConv, kwargs, K=1, lambda_max=2.0))


@_cheb_doc
class MLPConv(ChebyshevConv):
    r"""The graph-free baseline :math:`X' = X\Theta + b` (``ChebyshevConv`` with ``K=0``): Kipf &
    Welling's MLP row, accepting (and ignoring) a graph so it drops into any GNN.

    Args:
        K: fixed, ``0``; :class:`ChebyshevConv` chooses it (passing another value here is a ``TypeError``).
            :class:`ChebyshevConv`'s ``lambda_max`` and ``remove_self_loops`` are taken through
            ``**kwargs`` (no effect without a graph).
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, cached: bool = True,
                 **kwargs):
        super().__init__(in_channels, out_channels, bias=bias, cached=cached,
                         **preset_options(self, ChebyshevConv, kwargs, K=0))
