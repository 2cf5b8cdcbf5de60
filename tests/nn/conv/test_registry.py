"""The name -> layer registry, and what every layer shares: repr, reset_parameters, PyG base class."""
import copy
import io

import numpy as np
import pytest
import torch
from torch_geometric.nn import MessagePassing

from gcnkit.nn.conv import (CONV_REGISTRY, ChebyshevConv, FirstOrderConv, FirstOrderTermConv, GeneralGCNConv,
                            KipfGCNConv, MLPConv, NaiveGCNConv, RowGCNConv, SingleParameterConv, make_conv)

# name -> (class, the registry case in tests/nn/conv/conftest.py with the same formula)
EXPECTED = {
    "cheb3": (ChebyshevConv, "cheb3_eig"),
    "cheb2": (ChebyshevConv, "cheb2_eig"),
    "first_order": (FirstOrderConv, "first_order"),
    "single_parameter": (SingleParameterConv, "single_parameter"),
    "kipf": (KipfGCNConv, "kipf"),
    "first_order_term": (FirstOrderTermConv, "first_order_term"),
    "mlp": (MLPConv, "mlp"),
    "naive": (NaiveGCNConv, "naive"),
    "row": (RowGCNConv, "row"),
}


def test_registry_has_kipf_welling_table3_plus_naive_and_row():
    assert list(CONV_REGISTRY) == list(EXPECTED)  # Table 3 order, then the two extra rows
    for name, spec in CONV_REGISTRY.items():
        assert spec.name == name and spec.formula


@pytest.mark.parametrize("name", list(EXPECTED))
def test_make_conv_builds_the_registered_formula(name, graph_zoo, layers):
    cls, case = EXPECTED[name]
    layer = make_conv(name, 4, 3)
    assert type(layer) is cls and isinstance(layer, MessagePassing)
    assert (layer.in_channels, layer.out_channels) == (4, 3)
    layer = layer.double()
    torch.nn.init.normal_(layer.bias)
    ei, ew, n = graph_zoo["undirected"]
    x = torch.randn(n, 4, dtype=torch.float64)
    np.testing.assert_allclose(layer(x, ei, ew).detach().numpy(), layers.expected(case, layer, x, ei, ew, n),
                               atol=1e-8)


def test_chebyshev_rows_use_the_paper_K_and_the_eigenvalue():
    assert (make_conv("cheb2", 3, 2).K, make_conv("cheb3", 3, 2).K) == (2, 3)
    assert make_conv("cheb3", 3, 2).lambda_max == "eig"
    assert len(make_conv("cheb3", 3, 2).lins) == 4


def test_make_conv_passes_options_through():
    layer = make_conv("kipf", 4, 3, bias=False, self_loop_weight=2.0)
    assert layer.bias is None and layer.self_loop_weight == 2.0
    assert make_conv("cheb2", 4, 3, lambda_max=2.0).lambda_max == 2.0  # overrides the registered option


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown model='gat'; choose one of 'cheb3'.*'kipf'.*'row'"):
        make_conv("gat", 4, 3)


# --------------------------------------------------------------------------- repr
def test_repr_kipf():
    assert repr(KipfGCNConv(1433, 16)) == "KipfGCNConv(1433, 16, norm=sym, self_loop_weight=1.0)"
    assert str(KipfGCNConv(1433, 16, self_loop_weight=2.0)) == \
        "KipfGCNConv(1433, 16, norm=sym, self_loop_weight=2.0)"


@pytest.mark.parametrize("layer, expected", [
    (NaiveGCNConv(8, 4), "NaiveGCNConv(8, 4, norm=none, self_loop_weight=0.0)"),
    (RowGCNConv(8, 4), "RowGCNConv(8, 4, norm=row, self_loop_weight=1.0)"),
    (SingleParameterConv(8, 4), "SingleParameterConv(8, 4, norm=sym, self_loop_weight=0.0, add_identity=True)"),
    (FirstOrderTermConv(8, 4, bias=False), "FirstOrderTermConv(8, 4, norm=sym, self_loop_weight=0.0, bias=False)"),
    (GeneralGCNConv(8, 4, norm="col", self_loop_weight=0.5), "GeneralGCNConv(8, 4, norm=col, self_loop_weight=0.5)"),
    (ChebyshevConv(8, 4, 3, lambda_max="eig"), "ChebyshevConv(8, 4, K=3, lambda_max=eig)"),
    (FirstOrderConv(8, 4), "FirstOrderConv(8, 4, K=1, lambda_max=2.0)"),
    (MLPConv(8, 4), "MLPConv(8, 4, K=0, lambda_max=2.0)"),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_repr(layer, expected):
    assert repr(layer) == expected


def test_repr_inside_a_model():
    model = torch.nn.Sequential(KipfGCNConv(1433, 16))
    assert "KipfGCNConv(1433, 16, norm=sym, self_loop_weight=1.0)" in repr(model)


# --------------------------------------------------------------------------- reset_parameters
def test_reset_parameters_changes_every_weight(layer_name, layers):
    layer = layers.build(layer_name, 6, 5)
    with torch.no_grad():
        for p in layer.parameters():
            p.fill_(0.5)
    layer.reset_parameters()
    for name, p in layer.named_parameters():
        if name == "bias":
            assert (p == 0).all()
        else:
            assert not torch.isclose(p, torch.tensor(0.5)).any(), name
            # glorot: uniform in +-sqrt(6 / (fan_in + fan_out))
            assert p.abs().max() <= (6.0 / (6 + 5)) ** 0.5
    before = [p.detach().clone() for n, p in layer.named_parameters() if n != "bias"]
    layer.reset_parameters()
    after = [p for n, p in layer.named_parameters() if n != "bias"]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))


def test_every_layer_is_a_message_passing_module(layer_name, layers):
    layer = layers.build(layer_name, 3, 2)
    assert isinstance(layer, MessagePassing)
    assert layer.flow == "source_to_target"


def test_deepcopy_and_torch_save_round_trip(layer_name, layers, graph_zoo):
    # e.g. keeping the best model during early stopping, or checkpointing
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(layer_name, 4, 3)
    x = torch.randn(n, 4)
    expected = layer(x, ei, ew.float())
    buf = io.BytesIO()
    torch.save(layer, buf)
    buf.seek(0)
    for clone in (copy.deepcopy(layer), torch.load(buf, weights_only=False)):
        assert repr(clone) == repr(layer)
        torch.testing.assert_close(clone(x, ei, ew.float()), expected)
