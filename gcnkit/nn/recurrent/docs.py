r"""The docstring text the recurrent cells share (attached with
:func:`~gcnkit.nn.shared_doc.shared_doc`): the arguments of
:class:`~gcnkit.nn.recurrent.base.RecurrentCellBase` and the shapes of a step, written once."""

#: ``in_channels`` and ``hidden_channels``, first in every cell's Args.
CELL_CHANNELS = r"""
in_channels (int): input width :math:`F`.
hidden_channels (int): hidden width :math:`H`.
"""

#: The operators and biases, last in every cell's Args.
CELL_OPTIONS = r"""
input_operator, hidden_operator (str or callable, optional): the maps :math:`U` and :math:`W`; see
    :func:`~gcnkit.nn.recurrent.operators.make_operator` (``"linear"``, ``"gcn"``, ``"cheb"``,
    a conv registry name or a factory). (default: ``"linear"``)
bias (bool, optional): a bias on the input map (:math:`b_{ih}`). (default: ``True``)
recurrent_bias (bool, optional): a bias on the recurrent maps too (:math:`b_{hh}`; ``None``:
    ``bias``, as ``torch.nn.*Cell``). Except inside a reset-after GRU's candidate it only
    duplicates :math:`b_{ih}`; the graph models drop it (one pass less per step). (default: ``None``)
input_kwargs, hidden_kwargs (dict, optional): options of the operators (e.g. ``{"K": 2}``).
    (default: ``None``)
"""

_INPUT = r"""
- **input:** :math:`x_t` of shape :math:`(*, F)` (with graph operators :math:`(*, |\mathcal{V}|, F)`),
  dense; with graph operators the graph, ``edge_index`` :math:`(2, |\mathcal{E}|)`, a sparse adjacency
  ``adj_t`` :math:`(|\mathcal{V}|, |\mathcal{V}|)` or a NormalizedGraph, and ``edge_weight``
  :math:`(|\mathcal{E}|)` *(optional)* (a cell with dense operators ignores them);"""

#: Shapes of a step of a cell whose state is :math:`h` (Elman, GRU).
HIDDEN_SHAPES = _INPUT + r"""
  ``state`` :math:`h_{t-1}` :math:`(*, H)` *(optional, zeros)*
- **output:** :math:`h_t` of shape :math:`(*, H)`"""

#: Shapes of a step of the LSTM cell, whose state is the pair :math:`(h, s)`.
LSTM_SHAPES = _INPUT + r"""
  ``state`` :math:`(h_{t-1}, s_{t-1})`, each :math:`(*, H)` *(optional, zeros)*
- **output:** :math:`(h_t, s_t)`, each :math:`(*, H)`"""

#: Shapes of a step of any cell.
CELL_SHAPES = _INPUT + r"""
  ``state`` the cell's: :math:`h_{t-1}` :math:`(*, H)`, or a pair :math:`(h_{t-1}, s_{t-1})` of them
  for :class:`LSTMCell` *(optional, zeros)*
- **output:** the new state, as the one passed in"""

#: Shapes of a gate map (:class:`DenseOperator`, :class:`GraphOperator`): ``op(x, graphs, add)``.
OPERATOR_SHAPES = r"""
- **input:** ``x`` :math:`(*, F_{in})`, for a graph operator :math:`(*, |\mathcal{V}|, F_{in})`;
  ``graphs`` the sequence's :class:`GraphSet` (required by a graph operator, ignored by a dense one);
  ``add`` :math:`(*, F_{out})` (:math:`(*, |\mathcal{V}|, F_{out})`) *(optional)*
- **output:** :math:`(*, F_{out})` (:math:`(*, |\mathcal{V}|, F_{out})`), plus ``add``"""
