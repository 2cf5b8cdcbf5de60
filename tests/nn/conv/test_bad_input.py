"""Bad input: every case is a ValueError/TypeError whose message names the problem."""
import math

import numpy as np
import pytest
import torch

from gcnkit.functional import normalize_adjacency
from gcnkit.nn.conv import (ChebyshevConv, GeneralGCNConv, KipfGCNConv, MLPConv, RowGCNConv, make_conv)

N, F_IN = 5, 4
EI = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])

# (id, exception, message regex, edge_index, edge_weight)
BAD_GRAPHS = [
    ("shape_3xE", ValueError, r"edge_index must have shape \[2, E\], got \(3, 5\)", torch.zeros(3, 5, dtype=torch.long),
     None),
    ("shape_1d", ValueError, r"edge_index must have shape \[2, E\], got \(10,\)", torch.zeros(10, dtype=torch.long),
     None),
    ("shape_3d", ValueError, r"edge_index must have shape \[2, E\]", torch.zeros(2, 5, 1, dtype=torch.long), None),
    ("dtype_float", TypeError, r"edge_index must have dtype torch.long.*torch.float32", EI.float(), None),
    ("dtype_bool", TypeError, r"edge_index must have dtype torch.long.*torch.bool", EI.bool(), None),
    ("not_a_tensor", TypeError, r"edge_index must be a torch.Tensor.*list", EI.tolist(), None),
    ("negative_index", ValueError, r"negative node ind.*-1", torch.tensor([[0, -1], [1, 2]]), None),
    # (a layer takes the number of nodes from x, and says so)
    ("out_of_range", ValueError, r"edge_index refers to node 7 but (num_nodes=5|x has 5 nodes \(shape \(5, 4\)\))",
     torch.tensor([[0, 7], [1, 2]]),
     None),
    ("weight_length", ValueError, r"edge_weight must have shape \[E\] = \[5\].*\(4,\)", EI, torch.ones(4)),
    ("weight_2d", ValueError, r"edge_weight must have shape \[E\] = \[5\].*\(5, 1\)", EI, torch.ones(5, 1)),
    ("weight_int", TypeError, r"edge_weight must be a floating-point tensor", EI, torch.ones(5, dtype=torch.long)),
    ("weight_nan", ValueError, r"edge_weight has 1 non-finite values \(1 NaN, 0 inf\)", EI,
     torch.tensor([1.0, math.nan, 1.0, 1.0, 1.0])),
    ("weight_inf", ValueError, r"edge_weight has 2 non-finite values \(0 NaN, 2 inf\)", EI,
     torch.tensor([1.0, math.inf, -math.inf, 1.0, 1.0])),
]
GRAPH_LAYERS = ("kipf", "naive", "row", "single_parameter", "first_order_term", "general_col", "cheb2",
                "cheb3_eig", "first_order")


@pytest.mark.parametrize("layer_case", GRAPH_LAYERS)
@pytest.mark.parametrize("case, exc, match, edge_index, edge_weight", BAD_GRAPHS, ids=[c[0] for c in BAD_GRAPHS])
def test_bad_graph_input_to_layers(layers, layer_case, case, exc, match, edge_index, edge_weight):
    layer = layers.build(layer_case, F_IN, 3)
    with pytest.raises(exc, match=match):
        layer(torch.randn(N, F_IN), edge_index, edge_weight)


@pytest.mark.parametrize("case, exc, match, edge_index, edge_weight", BAD_GRAPHS, ids=[c[0] for c in BAD_GRAPHS])
def test_bad_graph_input_to_normalize_adjacency(case, exc, match, edge_index, edge_weight):
    with pytest.raises(exc, match=match):
        normalize_adjacency(edge_index, edge_weight, N)


def test_num_nodes_smaller_than_the_largest_index():
    with pytest.raises(ValueError, match=r"edge_index refers to node 4 but num_nodes=3"):
        normalize_adjacency(EI, None, 3)
    with pytest.raises(ValueError, match=r"num_nodes must be >= 0"):
        normalize_adjacency(EI, None, -1)
    # through a layer, the number of nodes is x's, and the message says so (not num_nodes, which
    # the caller never passed)
    with pytest.raises(ValueError, match=r"edge_index refers to node 4 but x has 3 nodes \(shape \(3, 4\)\): "
                                         r"indices must be < 3$"):
        KipfGCNConv(F_IN, 2)(torch.randn(3, F_IN), EI)


def test_common_porting_mistakes_are_named():
    conv = KipfGCNConv(F_IN, 2)
    x = torch.randn(6, F_IN)
    for adj in (torch.eye(6), torch.eye(6, dtype=torch.long)):  # a dense adjacency in place of edge_index
        with pytest.raises(ValueError, match=r"got \(6, 6\): a dense adjacency matrix\? pass adj.t\(\).to_sparse_csr"):
            conv(x, adj)
    with pytest.raises(TypeError, match=r"not PyG's bipartite \(x_src, x_dst\)"):
        conv((x, x), EI)


@pytest.mark.parametrize("layer_name_", ["kipf", "cheb2", "mlp", "first_order"])
def test_feature_width_not_matching_in_channels(layers, layer_name_):
    layer = layers.build(layer_name_, F_IN, 3)
    msg = r"x has 6 features per node but the layer expects in_channels=4"
    with pytest.raises(ValueError, match=msg):
        layer(torch.randn(N, 6), EI)
    with pytest.raises(ValueError, match=msg):
        layer(torch.randn(2, N, 6), EI)
    with pytest.raises(ValueError, match=msg):
        layer(torch.randn(N, 6).to_sparse_csr(), EI)


def test_bad_features():
    layer = KipfGCNConv(F_IN, 3)
    with pytest.raises(ValueError, match=r"x must have shape \[N, in_channels\]"):
        layer(torch.randn(F_IN), EI)
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor, got torch.int64"):
        layer(torch.ones(N, F_IN, dtype=torch.long), EI)
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got list"):
        layer([[0.0] * F_IN] * N, EI)
    with pytest.raises(ValueError, match=r"sparse features must be 2-D"):
        layer(torch.randn(2, N, F_IN).to_sparse(), EI)
    # integer sparse features: as dense ones (they made an integer graph, and "eig" a raw error)
    xi = torch.ones(N, F_IN, dtype=torch.long).to_sparse()
    for conv in (layer, ChebyshevConv(F_IN, 3, 2, lambda_max="eig")):
        with pytest.raises(TypeError, match=r"x must be a floating-point tensor, got sparse torch.int64"):
            conv(xi, EI)


def test_sparse_features_of_another_dtype_are_refused_as_dense_ones():
    # was: cast to the layer's dtype, silently and at every call (dense features were refused)
    from gcnkit.functional import CSRMatrix
    x64 = torch.rand(N, F_IN, dtype=torch.float64)
    msg = r"x is torch.float64 but (KipfGCNConv|ChebyshevConv)'s parameters are torch.float32; convert one"
    for conv in (KipfGCNConv(F_IN, 3), ChebyshevConv(F_IN, 3, 2)):
        for x in (x64, x64.to_sparse(), x64.to_sparse_csr(), CSRMatrix.from_torch(x64.to_sparse())):
            with pytest.raises(TypeError, match=msg):
                conv(x, EI)
        # the remedies the message names, and autocast, which mixes dtypes itself
        expected = conv(x64.float(), EI)
        torch.testing.assert_close(conv(CSRMatrix.from_torch(x64.to_sparse()).to(torch.float32), EI), expected)
        torch.testing.assert_close(conv(x64.to_sparse().to(torch.float32), EI), expected)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert conv(x64.to_sparse_csr(), EI).shape == (N, 3)
        torch.testing.assert_close(conv.double()(x64.to_sparse(), EI), conv(x64, EI))


@pytest.mark.parametrize("kwargs, match", [
    (dict(in_channels=4.7), "in_channels must be an integer, got 4.7"),  # was: 4
    (dict(out_channels="3"), "out_channels must be an integer, got '3'"),
    (dict(in_channels=True), "in_channels must be an integer, got True"),  # was: 1
    (dict(cached="no"), "cached must be True or False, got 'no'"),  # was: True
])
def test_constructor_arguments_are_not_coerced(kwargs, match):
    args = {"in_channels": 4, "out_channels": 3, **kwargs}
    with pytest.raises(TypeError, match=match):
        KipfGCNConv(**args)
    with pytest.raises(TypeError, match=match):
        ChebyshevConv(K=1, **args)
    with pytest.raises(TypeError, match="add_identity must be True or False, got 'no'"):
        GeneralGCNConv(4, 3, add_identity="no")
    with pytest.raises(TypeError, match="remove_self_loops must be True or False, got 2"):
        ChebyshevConv(4, 3, 1, remove_self_loops=2)
    import numpy as np
    assert KipfGCNConv(np.int64(4), 3, cached=np.bool_(True)).in_channels == 4  # NumPy's are whole numbers


def test_bad_sparse_adjacency():
    layer = KipfGCNConv(F_IN, 3)
    adj = torch.sparse_coo_tensor(EI.flip(0), torch.ones(5), (N, N)).coalesce()
    with pytest.raises(ValueError, match=r"edge_weight must be None when the graph is given as a sparse adjacency"):
        layer(torch.randn(N, F_IN), adj, torch.ones(5))
    with pytest.raises(ValueError, match=r"sparse adjacency must be square \[N, N\], got \(5, 6\)"):
        layer(torch.randn(N, F_IN), torch.sparse_coo_tensor(EI.flip(0), torch.ones(5), (N, N + 1)))
    with pytest.raises(ValueError, match=r"x has 6 nodes but the sparse adjacency is 5 x 5"):
        layer(torch.randn(N + 1, F_IN), adj)
    bad = torch.sparse_coo_tensor(EI.flip(0), torch.tensor([1.0, math.nan, 1.0, 1.0, 1.0]), (N, N))
    with pytest.raises(ValueError, match=r"the sparse adjacency \(its values, the edge weights\) has 1 non-finite"):
        layer(torch.randn(N, F_IN), bad)


def test_negative_degree_through_a_layer_names_count_and_norm():
    w = torch.tensor([-2.0, 1.0, 1.0, 1.0, 1.0])  # node 1 receives -2 + its self-loop 1
    with pytest.raises(ValueError, match=r"norm='row'.*1 node\(s\) have a negative weighted degree"):
        RowGCNConv(F_IN, 3)(torch.randn(N, F_IN), EI, w)
    GeneralGCNConv(F_IN, 3, norm="none")(torch.randn(N, F_IN), EI, w)  # fine without normalization


# --------------------------------------------------------------------------- unknown option values
def test_unknown_norm():
    msg = r"unknown norm='foo'; choose one of 'sym', 'row', 'col', 'none'"
    with pytest.raises(ValueError, match=msg):
        GeneralGCNConv(F_IN, 3, norm="foo")
    with pytest.raises(ValueError, match=msg):
        normalize_adjacency(EI, None, N, norm="foo")


@pytest.mark.parametrize("K", [-1, 1.5, "2", True])
def test_bad_K(K):
    with pytest.raises(ValueError, match=r"K must be a non-negative integer"):
        ChebyshevConv(F_IN, 3, K)


def test_numpy_K_and_lambda_max_are_accepted():
    """K and lambda_max read from a NumPy array or config (np.int64, np.float32) are numbers too."""
    import numpy as np

    conv = ChebyshevConv(F_IN, 3, np.int64(2), lambda_max=np.float32(2.0))
    assert conv.K == 2 and type(conv.K) is int and len(conv.lins) == 3
    assert conv.lambda_max == 2.0 and type(conv.lambda_max) is float


@pytest.mark.parametrize("lambda_max", [-1, 0, 0.0, -2.0, "foo", None, math.inf, math.nan, True, "max"])
def test_bad_lambda_max(lambda_max):
    with pytest.raises(ValueError, match=rf"lambda_max must be a positive finite number or 'eig', got {lambda_max!r}"):
        ChebyshevConv(F_IN, 3, 2, lambda_max=lambda_max)


@pytest.mark.parametrize("kwargs, match", [
    ({"improved": True}, r"no improved=.*self_loop_weight=2.0"),
    ({"add_self_loops": False}, r"no add_self_loops=.*self_loop_weight=0.0.*FirstOrderTermConv"),
    ({"normalize": False}, r"no normalize=.*NaiveGCNConv, or GeneralGCNConv\(\.\.\., norm='none', self_loop_weight=0"),
])
def test_pyg_gcnconv_options_name_their_gcnkit_spelling(kwargs, match):
    with pytest.raises(TypeError, match=match):
        KipfGCNConv(F_IN, 3, **kwargs)


def test_pyg_options_without_an_effect_here():
    with pytest.raises(ValueError, match=r"does not decompose its layers.*decomposed_layers=4"):
        KipfGCNConv(F_IN, 3, decomposed_layers=4)
    with pytest.raises(ValueError, match=r"lazy initialization is not supported"):
        KipfGCNConv(-1, 3)
    with pytest.raises(NotImplementedError, match=r"TorchScript.*torch.compile"):
        torch.jit.script(KipfGCNConv(F_IN, 3))
    with pytest.raises(TypeError, match=r"node_dim must be an int"):
        KipfGCNConv(F_IN, 3, node_dim="0")
    with pytest.raises(TypeError, match=r"no normalization=.*GCNConv/ChebConv option.*'rw' and None are not"):
        ChebyshevConv(F_IN, 3, 2, normalization="sym")


@pytest.mark.parametrize("capture", ["torch.jit.trace", "torch.export"])
def test_trace_and_export_are_refused_by_name(capture):
    """A trace would fix one graph's node count and the sparse kernels' branches (wrong, or an
    index error, on the next graph) and cannot record the custom autograd functions; export stops
    on data-dependent sizes: both are refused with the alternatives named, by the layers, the
    models (GCN and StackedGCN also with the graph-free MLP rule, the recurrent ones) and the cells,
    dense ones included."""
    import warnings

    from gcnkit.nn.models import GCN, GConvGRU, StackedGCN
    from gcnkit.nn.recurrent import GRUCell, LSTMCell

    ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
    cases = [(KipfGCNConv(F_IN, 3), (torch.randn(N, F_IN), ei)),
             (ChebyshevConv(F_IN, 3, 2), (torch.randn(N, F_IN), ei)),
             (GConvGRU(F_IN, 3), (torch.randn(2, N, F_IN), ei)),
             (GRUCell(F_IN, 3, input_operator="gcn", hidden_operator="gcn"), (torch.randn(N, F_IN), ei)),
             (LSTMCell(F_IN, 3), (torch.randn(2, F_IN),)),
             (GCN(F_IN, 8, out_channels=3, conv="mlp"), (torch.randn(N, F_IN), ei)),
             (StackedGCN([GCN(F_IN, 8, out_channels=3, conv="mlp")]), (torch.randn(N, F_IN), ei))]
    for module, args in cases:
        with pytest.raises(NotImplementedError, match=rf"cannot be captured by {capture}: .*torch\.compile"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's warnings before the refusal
                if capture == "torch.jit.trace":
                    torch.jit.trace(module, args)
                else:
                    torch.export.export(module, args)


def test_sparse_adjacency_layouts():
    adj = torch.sparse_coo_tensor(EI.flip(0), torch.ones(5), (N, N))
    conv = KipfGCNConv(F_IN, 3)
    x = torch.randn(N, F_IN)
    with pytest.raises(ValueError, match=r"COO or CSR.*sparse_csc.*to_sparse_csr"):
        conv(x, adj.to_sparse_csc())
    # an integer adjacency is its edge counts: the same graph as float ones
    counts = torch.sparse_coo_tensor(EI.flip(0), torch.ones(5, dtype=torch.long), (N, N))
    torch.testing.assert_close(conv(x, counts), conv(x, EI))


def test_unknown_registry_name():
    with pytest.raises(ValueError, match=r"unknown model='gcn2'; choose one of"):
        make_conv("gcn2", F_IN, 3)


@pytest.mark.parametrize("in_channels, out_channels", [(0, 3), (3, 0), (-1, 2)])
def test_non_positive_channels(in_channels, out_channels):
    with pytest.raises(ValueError, match=r"in_channels and out_channels must be positive"):
        KipfGCNConv(in_channels, out_channels)
    with pytest.raises(ValueError, match=r"in_channels and out_channels must be positive"):
        MLPConv(in_channels, out_channels)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_self_loop_weight(value):
    with pytest.raises(ValueError, match=r"self_loop_weight must be finite"):
        normalize_adjacency(EI, None, N, self_loop_weight=value)


@pytest.mark.parametrize("kwargs, match", [
    ({"flow": "target_to_source"}, r"unknown flow='target_to_source'; choose one of 'source_to_target'"),
    ({"aggr": "mean"}, r"unknown aggr='mean'; choose one of 'add', 'sum'"),
])
def test_message_passing_options_the_layers_would_ignore(kwargs, match):
    # the fast path always sums messages from sources into targets: other values used to be
    # accepted and silently ignored
    for cls in (KipfGCNConv, ChebyshevConv):
        args = (F_IN, 3, 2) if cls is ChebyshevConv else (F_IN, 3)
        with pytest.raises(ValueError, match=match):
            cls(*args, **kwargs)


@pytest.mark.parametrize("in_channels", [1, 2, 4])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_features_of_another_dtype_than_the_layer_are_a_clear_error(in_channels, dtype):
    # was a GEMM's "mat1 and mat2 must have the same dtype", or for in_channels=1 a silently
    # promoted float32 result
    x = torch.randn(N, in_channels).to(dtype)
    for conv in (KipfGCNConv(in_channels, 3), ChebyshevConv(in_channels, 3, 2), RowGCNConv(in_channels, 3)):
        with pytest.raises(TypeError, match=rf"x is {dtype} but {type(conv).__name__}'s parameters are "
                                            rf"torch.float32; convert one"):
            conv(x, EI)
        assert conv.to(dtype)(x, EI).dtype == dtype  # converted: fine
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast mixes them itself
        KipfGCNConv(in_channels, 3)(torch.randn(N, in_channels).bfloat16(), EI)


@pytest.mark.parametrize("num_nodes", [3.7, "3", True])
def test_num_nodes_must_be_an_integer(num_nodes):
    with pytest.raises(TypeError, match="num_nodes must be an integer"):
        normalize_adjacency(torch.tensor([[0, 1], [1, 2]]), num_nodes=num_nodes)
    with pytest.raises(TypeError, match="self_loop_weight must be a number"):
        normalize_adjacency(torch.tensor([[0, 1], [1, 2]]), self_loop_weight="2")
    assert normalize_adjacency(torch.tensor([[0, 1], [1, 2]]), num_nodes=np.int64(4)).num_nodes == 4
    g = normalize_adjacency(torch.tensor([[0, 1], [1, 2]]), num_nodes=torch.tensor(5),
                            self_loop_weight=torch.tensor(2.))
    assert g.num_nodes == 5 and g.self_loop_weight == 2.0  # 0-d tensors (data.num_nodes may be one)


@pytest.mark.parametrize("preset, kwargs, match", [
    ("KipfGCNConv", {"norm": "row"}, r"KipfGCNConv fixes norm='sym': use GeneralGCNConv"),
    ("NaiveGCNConv", {"self_loop_weight": 1.0}, r"NaiveGCNConv fixes self_loop_weight=0.0: use GeneralGCNConv"),
    ("RowGCNConv", {"norm": "sym"}, r"RowGCNConv fixes norm='row': "),
    ("NaiveGCNConv", {"norm": "sym", "self_loop_weight": 2.0},
     r"NaiveGCNConv fixes norm='none', self_loop_weight=0.0: "),
    ("FirstOrderTermConv", {"add_identity": True}, r"FirstOrderTermConv fixes add_identity=False"),
    ("SingleParameterConv", {"add_identity": 1}, r"SingleParameterConv fixes add_identity=True"),
    ("FirstOrderConv", {"K": 1.0}, r"FirstOrderConv fixes K=1"),
    ("FirstOrderConv", {"lambda_max": torch.tensor(2.0)}, r"FirstOrderConv fixes lambda_max=2.0"),
    ("SingleParameterConv", {"add_identity": False}, r"SingleParameterConv fixes add_identity=True"),
    ("FirstOrderTermConv", {"self_loop_weight": 1.0}, r"FirstOrderTermConv fixes self_loop_weight=0.0"),
    ("FirstOrderConv", {"K": 2}, r"FirstOrderConv fixes K=1: use ChebyshevConv"),
    ("FirstOrderConv", {"lambda_max": 1.5}, r"FirstOrderConv fixes lambda_max=2.0: use ChebyshevConv"),
    ("MLPConv", {"K": 1}, r"MLPConv fixes K=0: use ChebyshevConv"),
])
def test_a_preset_refuses_the_options_it_fixes_by_name(preset, kwargs, match):
    """A preset's fixed option passed again is named with the general layer that takes it (it was
    Python's "GeneralGCNConv.__init__() got multiple values for keyword argument 'norm'")."""
    import gcnkit.nn.conv as conv

    with pytest.raises(TypeError, match=match):
        getattr(conv, preset)(F_IN, 3, **kwargs)


@pytest.mark.parametrize("preset, general, kwargs", [
    ("KipfGCNConv", "GeneralGCNConv", {"norm": "sym"}),
    ("NaiveGCNConv", "GeneralGCNConv", {"norm": "none", "self_loop_weight": 0}),
    ("RowGCNConv", "GeneralGCNConv", {"norm": "row"}),
    ("SingleParameterConv", "GeneralGCNConv", {"norm": "sym", "self_loop_weight": 0.0, "add_identity": True}),
    ("FirstOrderTermConv", "GeneralGCNConv", {"norm": "sym", "self_loop_weight": 0.0, "add_identity": False}),
    ("FirstOrderConv", "ChebyshevConv", {"K": 1, "lambda_max": 2}),
    ("MLPConv", "ChebyshevConv", {"K": np.int64(0)}),
])
def test_a_preset_accepts_its_fixed_options_spelled_out(preset, general, kwargs):
    """Passing a preset's fixed option with the value it fixes builds the preset: the same layer as
    the general one with those options."""
    import gcnkit.nn.conv as conv

    torch.manual_seed(0)
    layer = getattr(conv, preset)(F_IN, 3, **kwargs)
    ref = getattr(conv, general)(F_IN, 3, **kwargs)
    ref.load_state_dict(layer.state_dict())
    assert repr(layer).split("(", 1)[1] == repr(ref).split("(", 1)[1]
    x, ei = torch.randn(5, F_IN), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    torch.testing.assert_close(layer(x, ei), ref(x, ei))


@pytest.mark.parametrize("preset", ["KipfGCNConv", "RowGCNConv", "NaiveGCNConv"])
def test_presets_that_do_not_fix_add_identity_take_it(preset):
    """``add_identity`` is a GeneralGCNConv option these presets leave open (as their docstrings
    say): ``(Â + I) X W``, as a graph cell's ``input_kwargs={"add_identity": True}`` asks."""
    import gcnkit.nn.conv as conv

    torch.manual_seed(0)
    plain, with_identity = getattr(conv, preset)(F_IN, 3), getattr(conv, preset)(F_IN, 3, add_identity=True)
    with_identity.load_state_dict(plain.state_dict())
    x, ei = torch.randn(5, F_IN), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    torch.testing.assert_close(with_identity(x, ei), plain(x, ei) + x @ plain.lin.weight.T)


def test_the_split_forms_without_a_graph_name_edge_index():
    """``propagate_only``/``propagate_transform``/``propagate_weighted`` default ``edge_index`` to
    None as the base class does (for the graph-free MLP rule); a layer that needs a graph names it."""
    x = torch.randn(5, F_IN)
    for layer, exc, match in ((KipfGCNConv(F_IN, 3), TypeError, r"KipfGCNConv\.propagate_(only|weighted) needs "
                                                                r"a graph: edge_index .*got None"),
                              (ChebyshevConv(F_IN, 3, 1), ValueError, r"ChebyshevConv with K=1 needs a graph")):
        for call in (lambda: layer.propagate_only(x), lambda: layer.propagate_transform(x),
                     lambda: layer.propagate_weighted(x @ layer.fused_weight().T)):
            with pytest.raises(exc, match=match):
                call()
    torch.testing.assert_close(MLPConv(F_IN, 3).propagate_only(x), x)


@pytest.mark.parametrize("crow", [[0, 2, 1, 3, 3], [0, 1, 2, 3, 5], [1, 2, 3, 4, 4], [0, 1, 2, 3]])
def test_a_csr_adjacency_with_inconsistent_row_pointers_is_refused(crow):
    # torch builds CSR tensors without checking them: these gave "repeats can not be negative", a
    # stack error, or ([1, 2, 3, 4, 4]) no error at all, read as other rows
    adj = torch.sparse_csr_tensor(torch.tensor(crow), torch.tensor([1, 2, 3]), torch.ones(3), (4, 4))
    with pytest.raises(ValueError, match="the sparse CSR adjacency: inconsistent row pointers"):
        KipfGCNConv(3, 2)(torch.randn(4, 3), adj)
