"""Layer and model options are checked, not coerced: ``"2"``, ``True`` or ``"no"`` where a number or
a bool is expected is a TypeError naming the option (``float()``/``bool()`` used to turn them into
2.0, 1.0 and True), and a number out of range a ValueError at construction."""
import math

import numpy as np
import pytest
import torch

from gcnkit.functional.features import dropout, sparse_dropout
from gcnkit.functional.sparse import CSRMatrix
from gcnkit.nn.conv import ChebyshevConv, GeneralGCNConv, KipfGCNConv, RowGCNConv
from gcnkit.nn.models import GCN, TGCN, GConvGRU, GConvLSTM
from gcnkit.nn.recurrent import LSTMCell, run_sequence
from gcnkit.nn.recurrent.operators import DenseOperator

EI = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])


@pytest.mark.parametrize("value", ["2", True, None])
def test_self_loop_weight_must_be_a_number(value):
    # was: "2" -> 2.0, True -> 1.0 (None a raw float() error)
    for build in (lambda: KipfGCNConv(2, 3, self_loop_weight=value),
                  lambda: RowGCNConv(2, 3, self_loop_weight=value),
                  lambda: GeneralGCNConv(2, 3, norm="none", self_loop_weight=value),
                  lambda: TGCN(2, 3, self_loop_weight=value),
                  lambda: TGCN(2, 3, variant="pygt", self_loop_weight=value)):
        with pytest.raises(TypeError, match=f"self_loop_weight must be a number, got {value!r}"):
            build()


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
def test_self_loop_weight_must_be_finite_and_non_negative_at_construction(value):
    # was: accepted, NaN failing only at the first forward
    with pytest.raises(ValueError, match="self_loop_weight must be a finite number >= 0"):
        KipfGCNConv(2, 3, self_loop_weight=value)
    with pytest.raises(ValueError, match="self_loop_weight must be a finite number >= 0"):
        TGCN(2, 3, self_loop_weight=value)


def test_valid_self_loop_weights_are_kept():
    assert KipfGCNConv(2, 3, self_loop_weight=np.float32(2.0)).self_loop_weight == 2.0
    assert KipfGCNConv(2, 3, self_loop_weight=torch.tensor(0.5)).self_loop_weight == 0.5
    assert KipfGCNConv(2, 3, self_loop_weight=0).self_loop_weight == 0.0
    model = TGCN(2, 3, self_loop_weight=2)
    assert model.cell.input_map.conv.self_loop_weight == 2.0 == model.cell.hidden_map.conv.self_loop_weight


@pytest.mark.parametrize("value", ["no", 2, None, 0.0])
def test_bias_must_be_a_bool(value):
    # was: "no" (and 2) created a bias, None silently none (0 and 1 are taken, as torch.nn.Linear does)
    for build in (lambda: KipfGCNConv(2, 3, bias=value), lambda: ChebyshevConv(2, 3, 1, bias=value),
                  lambda: DenseOperator(2, 3, bias=value), lambda: GCN(2, 4, out_channels=3, bias=value)):
        with pytest.raises(TypeError, match=f"bias must be True or False, got {value!r}"):
            build()
    assert KipfGCNConv(2, 3, bias=np.bool_(False)).bias is None
    assert KipfGCNConv(2, 3, bias=0).bias is None and KipfGCNConv(2, 3, bias=1).bias is not None
    assert KipfGCNConv(2, 3, bias=torch.tensor(False)).bias is None
    assert DenseOperator(2, 3, bias=False).bias is None


def test_dense_operator_widths_are_integers():
    with pytest.raises(TypeError, match="in_channels must be an integer, got 2.5"):  # was: 2
        DenseOperator(2.5, 3)
    with pytest.raises(ValueError, match="out_channels must be >= 1"):
        DenseOperator(2, 0)


@pytest.mark.parametrize("num_layers, exc, match", [
    (True, TypeError, "num_layers must be an integer, got True"),  # was: one layer
    (2.5, TypeError, "num_layers must be an integer, got 2.5"),  # was: a raw TypeError
    ("2", TypeError, "num_layers must be an integer, got '2'"),
    (0, ValueError, "num_layers must be >= 1, got 0"),
])
def test_gcn_num_layers(num_layers, exc, match):
    with pytest.raises(exc, match=match):
        GCN(2, 4, out_channels=3, num_layers=num_layers)


@pytest.mark.parametrize("value, exc, match", [
    ("0.5", TypeError, "dropout must be a number, got '0.5'"),  # was: a raw comparison TypeError
    (None, TypeError, "dropout must be a number, got None"),
    (True, TypeError, "dropout must be a number, got True"),
    (1.0, ValueError, r"dropout must be in \[0, 1\), got 1.0"),
    (math.nan, ValueError, r"dropout must be in \[0, 1\), got nan"),
])
def test_gcn_dropout(value, exc, match):
    with pytest.raises(exc, match=match):
        GCN(2, 4, out_channels=3, dropout=value)


def test_gcn_accepts_numpy_and_tensor_numbers():
    model = GCN(2, 4, out_channels=3, num_layers=np.int64(3), dropout=np.float64(0.25))
    assert len(model.convs) == 3 and model.dropout == 0.25
    assert len(GCN(2, 4, out_channels=3, num_layers=torch.tensor(1)).convs) == 1


def test_functional_dropout_options():
    x = torch.randn(4, 3)
    with pytest.raises(TypeError, match="dropout probability must be a number, got '0.5'"):
        dropout(x, "0.5")
    with pytest.raises(TypeError, match="training must be True or False, got 'no'"):
        dropout(x, 0.5, "no")
    with pytest.raises(TypeError, match="training must be True or False, got 'no'"):
        sparse_dropout(CSRMatrix.from_torch(x.to_sparse()), 0.5, "no")
    assert dropout(x, 0.5, False) is x


def test_return_sequence_must_be_a_bool():
    x = torch.randn(5, 4, 2)
    model = GConvGRU(2, 3)
    for value in ("no", 2, None):
        # was: the full sequence for "no" and 2, the last step for None
        with pytest.raises(TypeError, match=f"return_sequence must be True or False, got {value!r}"):
            model(x, EI, return_sequence=value)
        with pytest.raises(TypeError, match=f"return_sequence must be True or False, got {value!r}"):
            run_sequence(model.cell, x, EI, return_sequence=value)
    assert model(x, EI, return_sequence=np.bool_(False))[0].shape == (4, 3)
    assert model(x, EI, return_sequence=0)[0].shape == (4, 3)
    assert model(x.unsqueeze(0), EI, return_sequence=False)[0].shape == (1, 4, 3)  # the batched path


@pytest.mark.parametrize("value", ["no", 2, None])
def test_peephole_must_be_a_bool(value):
    # was: "no" kept the peepholes on
    with pytest.raises(TypeError, match=f"peephole must be True or False, got {value!r}"):
        GConvLSTM(2, 3, peephole=value)
    with pytest.raises(TypeError, match=f"peephole must be True or False, got {value!r}"):
        LSTMCell(2, 3, peephole=value)
    assert GConvLSTM(2, 3, peephole=False).cell.peephole_weight is None
    assert LSTMCell(2, 3, peephole=np.bool_(True)).peephole_weight.shape == (3, 3)
