r"""The docstring text every graph convolution shares (attached with
:func:`~gcnkit.nn.shared_doc.shared_doc`): the arguments of :class:`~gcnkit.nn.conv.GraphConvBase`
and the shapes of ``forward``, written once for the general layers and their presets."""

#: ``in_channels`` and ``out_channels``, first in every layer's Args.
CHANNELS = r"""
in_channels (int): input width :math:`F_{in}` (PyG's lazy ``-1`` is refused: pass the width).
out_channels (int): output width :math:`F_{out}`.
"""

#: ``bias``, ``cached`` and ``**kwargs``, last in every layer's Args.
OPTIONS = r"""
bias (bool, optional): learn an additive bias. (default: ``True``)
cached (bool, optional): keep the normalized graph (keyed on the graph tensors: safe) and the CSR
    copies of sparse input features between calls; ``False`` recomputes both at every
    call, for memory, or for tensors written behind autograd's version counter. (default: ``True``)
**kwargs (optional): options of PyG's :class:`~torch_geometric.nn.conv.MessagePassing`:
    ``node_dim`` (the axis of ``x`` that holds the nodes, default -2; e.g. ``node_dim=0`` for
    ``x`` of shape :math:`(|\mathcal{V}|, B, F_{in})`), ``aggr_kwargs``; ``aggr`` (``"add"`` or
    ``"sum"``), ``flow`` (``"source_to_target"``) and ``decomposed_layers`` (1) only at the values
    the layer's sparse product computes. ``torch_geometric.nn.GCNConv``/``ChebConv`` options
    (``improved``, ``add_self_loops``, ``normalize``, ``normalization``) are a ``TypeError`` that
    names what to pass instead.
"""

_FEATURES = r"""
- **input:** node features ``x``: dense :math:`(|\mathcal{V}|, F_{in})` or :math:`(*, |\mathcal{V}|,
  F_{in})` (nodes on axis ``node_dim``), or :math:`(|\mathcal{V}|, F_{in})` torch.sparse COO/CSR or
  CSRMatrix; the graph: ``edge_index`` :math:`(2, |\mathcal{E}|)`, a sparse adjacency ``adj_t``
  :math:`(|\mathcal{V}|, |\mathcal{V}|)` (torch.sparse COO/CSR, rows are targets, values are the
  weights) or a NormalizedGraph normalized with the layer's options; ``edge_weight``
  :math:`(|\mathcal{E}|)` *(optional)*, with ``edge_index`` only"""

_OUTPUT = r"""
- **output:** :math:`(|\mathcal{V}|, F_{out})` or :math:`(*, |\mathcal{V}|, F_{out})`, dense, nodes on
  the input's axis"""

#: Shapes of :class:`GraphConvBase` and the GCN family's ``forward(x, edge_index, edge_weight)``.
SHAPES = _FEATURES + _OUTPUT

#: Shapes of ``ChebyshevConv.forward(x, edge_index, edge_weight, batch, lambda_max)``.
CHEB_SHAPES = _FEATURES + r"""; ``batch`` :math:`(|\mathcal{V}|)`
  *(optional)*; ``lambda_max`` :math:`()`, :math:`(1)` or :math:`(\text{num\_graphs})` *(optional)*.
  With ``K=0`` the graph is not used (``edge_index`` may be ``None``)""" + _OUTPUT
