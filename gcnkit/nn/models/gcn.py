"""A GCN node classifier built from any registered propagation model."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Union, overload

import torch
from torch import Tensor

from gcnkit.functional.features import dropout, sparse_dropout
from gcnkit.functional.graph_input import GraphInput, refuse_tracing
from gcnkit.functional.receptive_field import ReceptiveField, dropout_rows
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.functional.validation import check_int, check_real
from gcnkit.nn.conv.base import GraphConvBase, as_features
from gcnkit.nn.conv.registry import make_conv

if TYPE_CHECKING:
    class ConvList(torch.nn.ModuleList):
        """For the type checker only (a plain ``torch.nn.ModuleList`` at run time): the layers."""

        def __iter__(self) -> Iterator[GraphConvBase]: ...
        @overload
        def __getitem__(self, idx: slice) -> torch.nn.ModuleList: ...
        @overload
        def __getitem__(self, idx: int) -> GraphConvBase: ...
        def __getitem__(self, idx): ...


class GCN(torch.nn.Module):
    r"""Kipf & Welling's two-layer model
    :math:`Z = \mathrm{softmax}(\hat{A}\,\mathrm{ReLU}(\hat{A} X W^{(0)}) W^{(1)})` — returned as
    logits (apply ``cross_entropy``/``log_softmax`` to the rows you need, as PyG's models do) —
    with the propagation rule ``conv`` taken from
    :data:`gcnkit.nn.conv.CONV_REGISTRY` (``"kipf"`` is the renormalization trick). Dropout is
    applied to the input of every layer; on sparse input features (a :class:`CSRMatrix`, or a
    torch.sparse tensor, converted once per tensor) it is sparse dropout on the stored values.

    Args:
        in_channels (int): input features per node.
        hidden_channels (int): width of the hidden layers (Kipf: 16).
        out_channels (int): classes (logits per node); keyword-only, as everything after
            ``hidden_channels``: PyTorch Geometric's ``models.GCN`` takes ``num_layers`` third, so
            a ported ``GCN(F, 32, 2)`` is an error rather than a model with 2 outputs.
        conv (str): the propagation rule, a key of :data:`~gcnkit.nn.conv.CONV_REGISTRY`.
        num_layers (int): graph convolutions (default 2).
        dropout (float): on every layer's input (default 0.5, Kipf's; PyG's model: 0.0).
        bias (bool): learn a bias per layer (default ``False``, as Kipf's code; PyG's: ``True``).
        **conv_kwargs: passed on to every layer (e.g. ``self_loop_weight=2.0``).

    Shapes:
        - **input:** ``x`` :math:`(|\mathcal{V}|, F_{in})` dense or sparse; a graph accepted by the
          layers (``edge_index``, sparse ``adj_t`` or ``NormalizedGraph``)
        - **output:** :math:`(|\mathcal{V}|, C)` logits
    """

    def __init__(self, in_channels: int, hidden_channels: int, *, out_channels: int, conv: str = "kipf",
                 num_layers: int = 2, dropout: float = 0.5, bias: bool = False, **conv_kwargs):
        super().__init__()
        num_layers = check_int("num_layers", num_layers, 1)
        dropout = check_real("dropout", dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs: ConvList = torch.nn.ModuleList(  # type: ignore[assignment]  # (of GraphConvBase layers)
            make_conv(conv, widths[i], widths[i + 1], bias=bias, **conv_kwargs) for i in range(num_layers))
        self.conv_name = conv
        self.dropout = dropout
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Union[Tensor, CSRMatrix], edge_index: GraphInput,
                edge_weight: Optional[Tensor] = None, *, field: Optional[ReceptiveField] = None) -> Tensor:
        """With ``field`` (a :class:`~gcnkit.functional.receptive_field.ReceptiveField` of at least
        :attr:`hops` hops), ``x`` and ``edge_index`` are ``field.x`` and ``field.graph``: rows
        ``field.targets`` of the output are the whole graph's at the targets, dropout masks
        included (each drawn at the whole graph's size)."""
        refuse_tracing()  # (also for the MLP rule, which has no graph: its dropout cannot be traced)
        if isinstance(x, Tensor) and x.layout in (torch.sparse_coo, torch.sparse_csr):
            # a CSRMatrix (sparse dropout, the transpose built once), kept unless a layer keeps nothing
            x = as_features(x, cache=all(conv.cached for conv in self.convs))
        node_rows, value_rows = dropout_rows(field, x, self.hops)
        for i, conv in enumerate(self.convs):
            if isinstance(x, CSRMatrix):
                x = sparse_dropout(x, self.dropout, self.training, rows=value_rows)
            else:
                x = dropout(x, self.dropout, self.training, rows=node_rows)
            x = conv(x, edge_index, edge_weight)
            if i < len(self.convs) - 1:
                x = x.relu()
        return x  # type: ignore[return-value]  # (num_layers >= 1: the last layer's dense output)

    if TYPE_CHECKING:  # calls are checked against forward's parameters (torch types Module.__call__
        # as Any); *args/**kwargs take what a subclass's forward adds (tests/test_typing.py keeps
        # the two in step)
        def __call__(self, x: Union[Tensor, CSRMatrix], edge_index: GraphInput,
                     edge_weight: Optional[Tensor] = None, *args: Any, field: Optional[ReceptiveField] = None,
                     **kwargs: Any) -> Tensor: ...

    @property
    def hops(self) -> int:
        """Propagations from input to output: the radius of an output's receptive field."""
        return sum(conv.hops for conv in self.convs)

    def first_layer_parameters(self) -> List[torch.nn.Parameter]:
        """The first layer's parameters: those Kipf's protocol applies L2 to."""
        return list(self.convs[0].parameters())

    def other_parameters(self) -> List[torch.nn.Parameter]:
        return [p for conv in self.convs[1:] for p in conv.parameters()]

    def extra_repr(self) -> str:
        return f"conv={self.conv_name}, dropout={self.dropout}"
