"""Several independent GCN models of one architecture, evaluated as one module (many seeds at once)."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.nn.utils import parametrize

from gcnkit.functional.features import stacked_dropout
from gcnkit.functional.graph_input import GraphInput, refuse_tracing
from gcnkit.functional.receptive_field import ReceptiveField, dropout_rows
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.spmm import csr_matmul
from gcnkit.functional.stacked import stacked_csr_linear
from gcnkit.nn.conv.base import as_features
from gcnkit.nn.models.gcn import GCN


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the gradient contiguous: the transposed product's gradient
    would otherwise reach dropout and ReLU in another layout than their saved tensors, and
    elementwise kernels over mismatched layouts take ~10x as long."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous()


class StackedGCN(torch.nn.Module):
    r"""``S`` independent :class:`GCN` models of one architecture (say, one per seed) as one module:
    layer :math:`l` holds the models' weights stacked, :math:`W^{(l)} \in \mathbb{R}^{S \times
    F_{in} \times m F_{out}}` (each model's :meth:`~gcnkit.nn.conv.GraphConvBase.fused_weight`,
    transposed), and computes for every model :math:`s`

    .. math::
        H_s^{(l+1)} = \mathcal{P}\big(\mathrm{dropout}_s(H_s^{(l)})\, W_s^{(l)}\big) + b_s^{(l)},

    with :math:`\mathcal{P}` the layer's propagation
    (:meth:`~gcnkit.nn.conv.GraphConvBase.propagate_weighted`: :math:`\hat{A} Z`, or the Chebyshev
    sum by Clenshaw's recurrence) shared by all models: one sparse matmul over ``[S, N, C]`` per
    propagation, one batched product per layer (on sparse input features, the ``S`` sparse
    products :math:`X_s W_s` with each model's own sparse dropout are one call of
    :func:`~gcnkit.functional.stacked.stacked_csr_linear`), one optimizer step for all. ReLU
    between layers, as :class:`GCN`.

    Model :math:`s` computes what ``models[s]`` computes (to float rounding), and with
    ``generators[s]`` holding the random state its own training would have, it draws the same
    dropout masks (:func:`~gcnkit.train.seed_batch.train_seeds` trains seeds this way). The
    ``models`` given are copied, not shared: :meth:`to_models` returns the trained ones. The
    propagation runs through a copy of the first model's layers (:attr:`template`, whose own
    weights are not used). Layers with one weight matrix (the GCN family) keep the activations
    node-major, ``[N, S, C]``, so that each propagation is one product at ``S C`` columns; the
    Chebyshev layers keep them model-major, ``[S, N, C]``, where each of their ``K + 1`` terms
    stays contiguous per model. A parameter frozen (``requires_grad=False``) in one model must be
    frozen in all: each layer's weights are one parameter (a ``ValueError`` names the first that
    differs).

    Args:
        models (sequence of GCN): the :math:`S \geq 1` models, of one architecture (equal ``repr``),
            dtype and device, without parametrizations or hooks; copied, not shared.

    Shapes:
        - **input:** ``x`` :math:`(|\mathcal{V}|, F_{in})` dense or sparse, shared by the models;
          a graph accepted by the layers
        - **output:** :math:`(S, |\mathcal{V}|, C)` logits, one block per model
    """

    _template: GCN  # (set with object.__setattr__: not a submodule)

    def __init__(self, models: Sequence[GCN]):
        super().__init__()
        models = list(models)
        if not models or not all(isinstance(m, GCN) for m in models):
            raise TypeError(f"StackedGCN takes a non-empty list of GCN models, got "
                            f"{[type(m).__name__ for m in models] or 'none'}")
        first = models[0]
        p0 = next(first.parameters())
        for i, m in enumerate(models):
            if i and repr(m) != repr(first):
                raise ValueError(f"models[{i}] differs in architecture from models[0]:\n{m}\nagainst\n{first}")
            for name, module in m.named_modules():
                if parametrize.is_parametrized(module) or module._forward_pre_hooks or module._forward_hooks:
                    raise ValueError(f"models[{i}].{name} has a parametrization or hooks (pruning, weight norm, ...): "
                                     f"StackedGCN stacks plain weights and would drop them; train such models alone")
            for (name, p), q in zip(m.named_parameters(), first.parameters()):
                if (p.dtype, p.device) != (p0.dtype, p0.device):
                    raise ValueError(f"models[{i}] has a {p.dtype} parameter on {p.device}, models[0] {p0.dtype} on "
                                     f"{p0.device}: put all models on one dtype and device")
                if p.requires_grad != q.requires_grad:
                    raise ValueError(f"models[{i}].{name} has requires_grad={p.requires_grad}, models[0]'s "
                                     f"{q.requires_grad}: the models' weights are stacked into one parameter per "
                                     f"layer, so freeze the same parameters in every model")
        template = copy.deepcopy(first)
        object.__setattr__(self, "_template", template)  # propagation only: not a submodule
        self.dropout = first.dropout
        self.conv_name = first.conv_name
        self.num_models = len(models)
        with torch.no_grad():
            self.weights = torch.nn.ParameterList(torch.nn.Parameter(
                torch.stack([m.convs[i].fused_weight().t() for m in models]).contiguous(),
                requires_grad=all(p.requires_grad for m in models for p in m.convs[i].parameters()
                                  if p is not m.convs[i].bias)) for i in range(len(first.convs)))
            self.biases = torch.nn.ParameterList(torch.nn.Parameter(
                torch.stack([m.convs[i].bias for m in models]).unsqueeze(1).clone(),
                requires_grad=all(m.convs[i].bias.requires_grad for m in models))
                for i in range(len(first.convs)) if first.convs[i].bias is not None)

    def _apply(self, fn, *args, **kwargs):  # .to(), .double(), ...: the template follows
        super()._apply(fn, *args, **kwargs)
        self._template._apply(fn, *args, **kwargs)
        return self

    @property
    def template(self) -> GCN:
        """A :class:`GCN` of the models' architecture (a copy of the first model, whose layers do the
        propagation; its weights are not the stacked ones): what per-architecture code reads,
        such as which normalized graph the layers need."""
        return self._template

    def forward(self, x: Union[Tensor, CSRMatrix], edge_index: GraphInput, edge_weight: Optional[Tensor] = None,
                generators: Optional[Sequence[Optional[torch.Generator]]] = None, *,
                field: Optional[ReceptiveField] = None) -> Tensor:
        """The models' logits ``[S, N, C]``; in training mode model ``s`` draws its dropout masks from
        ``generators[s]`` (``None``, or no list: torch's default generator). ``field``: ``x`` and
        ``edge_index`` are a receptive field's, as for :meth:`GCN.forward`."""
        refuse_tracing()
        s = self.weights[0].size(0)
        if generators is None:
            generators = [None] * s
        elif len(generators) != s:
            raise ValueError(f"generators must hold one generator (or None) per model ({s}), got {len(generators)}")
        if isinstance(x, Tensor) and x.layout in (torch.sparse_coo, torch.sparse_csr):
            x = as_features(x, cache=all(conv.cached for conv in self.template.convs))
        self._check_features(x)
        node_rows, value_rows = dropout_rows(field, x, self.template.hops)
        p = self.dropout if self.training else 0.0
        convs = self.template.convs
        bias = iter(self.biases)
        n = x.shape[0] if isinstance(x, CSRMatrix) else x.size(0)
        # one term per layer (the GCN family): activations node-major [N, S, C], the models' columns side
        # by side, so that a propagation is one wide sparse product; several terms (Chebyshev): model-major
        # [S, N, C], where each term's block stays contiguous per model
        node_major = all(w.size(2) == conv.out_channels for conv, w in zip(convs, self.weights))
        h: Tensor = x  # type: ignore[assignment]  # (replaced by each layer's dense output before it is read)
        for i, (conv, weight) in enumerate(zip(convs, self.weights)):
            f, mc, c = weight.size(1), weight.size(2), conv.out_channels
            if i == 0 and p == 0.0 and isinstance(x, CSRMatrix) and not node_major:
                # several terms (Chebyshev, m C = 64 columns a model): the per-model product, as in
                # training, rather than permuting the weights to [F, S m C] for one wide product
                # (a strided copy of 2.4M values for CiteSeer's K = 3 layer; 15% of its epoch)
                z = stacked_csr_linear(x, x.value.to(weight.dtype).expand(s, -1), weight)
            elif i == 0 and p == 0.0:  # the models share the input: one product [N, F] x [F, S m C]
                wide = weight.transpose(0, 1).reshape(f, s * mc)
                z = csr_matmul(x.to(dtype=wide.dtype), wide) if isinstance(x, CSRMatrix) else x @ wide
                z = z.view(n, s, mc).transpose(0, 1)
            elif i == 0 and isinstance(x, CSRMatrix):  # each model's sparse dropout, one product
                values = stacked_dropout(x.value.to(weight.dtype).expand(s, -1), p, generators, rows=value_rows)
                z = stacked_csr_linear(x, values, weight)
            elif i == 0:
                # (x is dense here: the sparse cases of the first layer are above)
                z = torch.bmm(stacked_dropout(x.expand(s, *x.shape),  # type: ignore[union-attr]
                                              p, generators, rows=node_rows), weight)
            elif node_major:  # W^T h^T: the transposed product is the faster one for narrow outputs
                hs = _ContiguousGrad.apply(stacked_dropout(h, p, generators, dim=1, rows=node_rows))
                z = torch.bmm(weight.transpose(1, 2), hs.permute(1, 2, 0)).transpose(1, 2)
            else:
                z = torch.bmm(stacked_dropout(h, p, generators, rows=node_rows), weight)
            if node_major:  # z [S, N, C] -> [N, S C]
                h = conv.propagate_weighted(z.transpose(0, 1).reshape(n, s * c), edge_index, edge_weight, copies=s)
                h = h.view(n, s, c)
            else:
                h = conv.propagate_weighted(z, edge_index, edge_weight)
            if conv.bias is not None:
                h = h + (next(bias).transpose(0, 1) if node_major else next(bias))
            if i < len(convs) - 1:
                h = h.relu()
        return h.transpose(0, 1) if node_major else h

    if TYPE_CHECKING:  # calls are checked against forward's parameters (torch types Module.__call__
        # as Any); *args/**kwargs take what a subclass's forward adds (tests/test_typing.py keeps
        # the two in step)
        def __call__(self, x: Union[Tensor, CSRMatrix], edge_index: GraphInput, edge_weight: Optional[Tensor] = None,
                     generators: Optional[Sequence[Optional[torch.Generator]]] = None, *args: Any,
                     field: Optional[ReceptiveField] = None, **kwargs: Any) -> Tensor: ...

    def _check_features(self, x: Union[Tensor, CSRMatrix]) -> None:
        """The errors a lone GCN gives (instead of a product's shape mismatch)."""
        weight = self.weights[0]
        if not isinstance(x, (Tensor, CSRMatrix)) or (isinstance(x, Tensor) and x.dim() != 2):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be node features [N, F] (dense or sparse), shared by the models; got {got}")
        if x.shape[1] != weight.size(1):
            raise ValueError(f"x has {x.shape[1]} features per node but the models expect in_channels="
                             f"{weight.size(1)} (shape {tuple(x.shape)})")
        if isinstance(x, Tensor) and x.dtype != weight.dtype:
            raise TypeError(f"x is {x.dtype} but the models' parameters are {weight.dtype}; cast x "
                            f"(x.to({weight.dtype})) or the models")

    @torch.no_grad()
    def select_(self, keep: Union[Sequence[int], Tensor], optimizer: Optional[torch.optim.Optimizer] = None
                ) -> "StackedGCN":
        """Keeps only the models ``keep`` (in place; the optimizer's per-parameter state, such as
        Adam's moments, is cut to match), so models that are done cost nothing more."""
        s = self.weights[0].size(0)
        keep = torch.as_tensor(keep, device=self.weights[0].device)
        if keep.dtype == torch.bool or keep.is_floating_point() or keep.dim() != 1 or keep.numel() == 0:
            raise ValueError(f"keep must be a non-empty list of model indices (not a mask), got {keep.tolist()}")
        if int(keep.min()) < 0 or int(keep.max()) >= s:
            raise ValueError(f"keep holds indices outside [0, {s}): {keep.tolist()}")
        keep = keep.long()
        renamed = {}
        for params in (self.weights, self.biases):
            for i, old in enumerate(params):  # new Parameters: autograd keeps each leaf's shape
                new = torch.nn.Parameter(old.detach().index_select(0, keep), requires_grad=old.requires_grad)
                params[i] = new
                renamed[old] = new
        if optimizer is not None:
            for group in optimizer.param_groups:
                group["params"] = [renamed.get(p, p) for p in group["params"]]
            for old, new in renamed.items():
                state = optimizer.state.pop(old, None)
                if state is not None:
                    optimizer.state[new] = {k: v.index_select(0, keep) if isinstance(v, Tensor) and v.dim() > 0
                                            and v.size(0) == s else v for k, v in state.items()}
        self.num_models = int(keep.numel())
        return self

    def first_layer_parameters(self) -> List[torch.nn.Parameter]:
        """The first layer's weights (and bias): those Kipf's protocol applies L2 to."""
        has_bias = self.template.convs[0].bias is not None
        return [self.weights[0]] + ([self.biases[0]] if has_bias else [])

    def other_parameters(self) -> List[torch.nn.Parameter]:
        first = {id(p) for p in self.first_layer_parameters()}
        return [p for p in self.parameters() if id(p) not in first]

    @torch.no_grad()
    def to_models(self) -> List[GCN]:
        """The stacked models as separate :class:`GCN` modules (copies of the current weights)."""
        out = []
        for s in range(self.weights[0].size(0)):
            m = copy.deepcopy(self.template).to(self.weights[0].device)
            bias = iter(self.biases)
            for conv, weight in zip(m.convs, self.weights):
                fused = weight[s].t()
                rows = 0
                for p in (p for p in conv.parameters() if p is not conv.bias):
                    p.copy_(fused[rows:rows + p.size(0)])
                    rows += p.size(0)
                if conv.bias is not None:
                    conv.bias.copy_(next(bias)[s, 0])
            out.append(m)
        return out

    def extra_repr(self) -> str:
        return f"num_models={self.num_models}, conv={self.conv_name}, dropout={self.dropout}"
