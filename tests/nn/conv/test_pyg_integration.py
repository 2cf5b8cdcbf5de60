"""The layers inside PyG: Sequential, BasicGNN, PyG's message path, torch.compile (CUDA: test_cuda_layers.py)."""
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import Sequential
from torch_geometric.nn.models.basic_gnn import BasicGNN

from gcnkit.functional import normalize_adjacency
from gcnkit.nn.conv import ChebyshevConv, KipfGCNConv, make_conv


class KipfGCN(BasicGNN):
    """A user's model: PyG's BasicGNN with gcnkit's layer."""

    supports_edge_weight = True
    supports_edge_attr = False

    def init_conv(self, in_channels, out_channels, **kwargs):
        return KipfGCNConv(in_channels, out_channels, **kwargs)


def test_inside_pyg_sequential(graph_zoo):
    ei, ew, n = graph_zoo["kitchen_sink"]
    ew = ew.float()
    conv1, conv2 = KipfGCNConv(4, 8), ChebyshevConv(8, 3, 2)
    model = Sequential("x, edge_index, edge_weight", [
        (conv1, "x, edge_index, edge_weight -> x"),
        torch.nn.ReLU(),
        (conv2, "x, edge_index, edge_weight -> x"),
    ])
    x = torch.randn(n, 4)
    out = model(x, ei, ew)
    torch.testing.assert_close(out, conv2(conv1(x, ei, ew).relu(), ei, ew))
    out.sum().backward()
    assert conv1.lin.weight.grad is not None
    # the signature, without weights
    model = Sequential("x, edge_index", [(KipfGCNConv(4, 8), "x, edge_index -> x"), torch.nn.ReLU(),
                                         (KipfGCNConv(8, 3), "x, edge_index -> x")])
    assert model(x, ei).shape == (n, 3)


@pytest.mark.parametrize("with_weight", [False, True])
def test_basic_gnn_subclass_through_init_conv(graph_zoo, with_weight):
    ei, ew, n = graph_zoo["kitchen_sink"]
    ew = ew.float() if with_weight else None
    model = KipfGCN(in_channels=4, hidden_channels=8, num_layers=3, out_channels=2, dropout=0.5)
    assert all(isinstance(c, KipfGCNConv) for c in model.convs)
    assert [(c.in_channels, c.out_channels) for c in model.convs] == [(4, 8), (8, 8), (8, 2)]
    model.eval()
    x = torch.randn(n, 4)
    h = x
    for i, conv in enumerate(model.convs):
        h = conv(h, ei, ew)
        if i < 2:
            h = F.relu(h)
    torch.testing.assert_close(model(x, ei, edge_weight=ew), h)
    model.train()
    model(x, ei, edge_weight=ew).sum().backward()
    model.reset_parameters()
    # options reach the layer through BasicGNN's **kwargs
    assert KipfGCN(4, 8, 2, self_loop_weight=2.0).convs[0].self_loop_weight == 2.0


@pytest.mark.parametrize("name", ["kipf", "row", "naive", "single_parameter", "first_order_term"])
def test_pyg_message_path_equals_fast_path(graph_zoo, name):
    ei, ew, n = graph_zoo["kitchen_sink"]
    conv = make_conv(name, 4, 3).double()
    x = torch.randn(n, 4, dtype=torch.float64)
    graph = normalize_adjacency(ei, ew, n, norm=conv.norm, self_loop_weight=conv.self_loop_weight)
    h = x @ conv.lin.weight.t()
    out = conv.propagate(graph.edge_index, x=h, edge_weight=graph.edge_weight)
    if conv.add_identity:
        out = out + h
    torch.testing.assert_close(out + conv.bias, conv(x, ei, ew))
    torch.testing.assert_close(conv.propagate(graph.edge_index, x=h, edge_weight=graph.edge_weight),
                               graph.matmul(h))
    # batched features through PyG's path (node_dim=-2)
    hb = torch.randn(2, n, 3, dtype=torch.float64)
    torch.testing.assert_close(conv.propagate(graph.edge_index, x=hb, edge_weight=graph.edge_weight),
                               graph.matmul(hb))


# --------------------------------------------------------------------------- torch.compile
@pytest.fixture
def dynamo_reset():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.slow
def test_torch_compile_inductor_equals_eager(graph_zoo, dynamo_reset):
    # the default backend; graph breaks (cache lookup, sparse tensors) are expected, errors are not.
    # 10-25 s of compilation on 2 CPU cores, hence one layer only, marked slow (-m "not slow" skips it)
    ei, ew, n = graph_zoo["kitchen_sink"]
    conv = KipfGCNConv(4, 3)
    x = torch.randn(n, 4)
    compiled = torch.compile(conv)
    out = compiled(x, ei, ew.float())
    torch.testing.assert_close(out, conv(x, ei, ew.float()))
    out.sum().backward()
    assert conv.lin.weight.grad is not None


# torch.compile's own limits in the oldest supported releases (gcnkit's outputs stay correct)
_TORCH = torch.torch_version.TorchVersion(torch.__version__.split("+")[0])
_DYNAMO_2_6_BUG = pytest.mark.skipif(
    (2, 6) <= _TORCH < (2, 7), reason="torch 2.6's dynamo fails on the Chebyshev recurrence "
    "('SpeculationLog diverged'; torch 2.4 and 2.11+ compile it)")


@pytest.mark.parametrize("name, in_out", [("single_parameter", (3, 6)),
                                          pytest.param("cheb2", (5, 3), marks=_DYNAMO_2_6_BUG)])
def test_torch_compile_aot_eager_equals_eager_and_is_not_stale(graph_zoo, name, in_out, dynamo_reset):
    # aot_eager traces forward and backward as inductor does, without its (slow) code generation
    ei, ew, n = graph_zoo["undirected"]
    conv = make_conv(name, *in_out)
    x = torch.randn(n, in_out[0], requires_grad=True)
    compiled = torch.compile(conv, backend="aot_eager")
    for _ in range(2):  # the second call runs the cached code
        out = compiled(x, ei, ew.float())
        torch.testing.assert_close(out, conv(x, ei, ew.float()))
    (g_compiled,) = torch.autograd.grad(out.sum(), x)
    (g_eager,) = torch.autograd.grad(conv(x, ei, ew.float()).sum(), x)
    torch.testing.assert_close(g_compiled, g_eager)
    # the compiled layer does not keep a stale normalization either
    ei = ei.clone()
    ei[1, 0] = (ei[1, 0] + 1) % n
    torch.testing.assert_close(compiled(x, ei, ew.float()), conv(x, ei, ew.float()))
    other = torch.tensor([[0, 0, 0, 1], [1, 2, 3, 2]])
    torch.testing.assert_close(compiled(x, other), conv(x, other))


def test_torch_compile_the_other_code_paths(graph_zoo, dynamo_reset):
    # dynamo's capture (guards, graph breaks) of the paths the tests above do not compile: the
    # Chebyshev basis (propagate first), K=0, and the row normalization
    ei, ew, n = graph_zoo["undirected"]
    convs = [make_conv("first_order", 3, 6), make_conv("mlp", 6, 4), make_conv("row", 4, 2)]
    model = Sequential("x, edge_index, edge_weight", [(c, "x, edge_index, edge_weight -> x") for c in convs])
    x = torch.randn(n, 3)
    out = torch.compile(model, backend="eager")(x, ei, ew.float())
    torch.testing.assert_close(out, model(x, ei, ew.float()))


# --------------------------------------------------------------------------- CUDA
def test_pyg_explain_mode_is_a_clear_error():
    # PyG's explainers mask per-edge messages; these layers multiply by a sparse operator instead
    from gcnkit.nn import KipfGCNConv

    conv = KipfGCNConv(2, 2)
    conv.explain = True
    with pytest.raises(NotImplementedError, match="explainers cannot mask its edges"):
        conv(torch.randn(3, 2), torch.tensor([[0, 1], [1, 2]]))
    assert not conv.explain  # the failed explanation leaves the layer usable
    assert conv(torch.randn(3, 2), torch.tensor([[0, 1], [1, 2]])).shape == (3, 2)


def test_a_refused_explanation_leaves_the_whole_model_usable():
    """PyG's Explainer flags every layer; the first refuses. The second used to stay flagged, so
    the user's next forward raised the explainer error, and a second explanation met PyG's vaguer
    "Could not compute gradients for edges" (the first layer was excluded by explain=False)."""
    from torch_geometric.explain import Explainer, GNNExplainer

    from gcnkit.nn.models import GCN

    torch.manual_seed(0)
    x, ei = torch.randn(10, 4), torch.randint(0, 10, (2, 30))
    model = GCN(4, 8, out_channels=3).eval()
    expected = model(x, ei)
    explainer = Explainer(model, GNNExplainer(epochs=2), explanation_type="model", edge_mask_type="object",
                          model_config=dict(mode="multiclass_classification", task_level="node",
                                            return_type="raw"))
    for _ in range(2):
        with pytest.raises(NotImplementedError, match="explainers cannot mask its edges"):
            explainer(x, ei, index=0)
        torch.testing.assert_close(model(x, ei), expected)
        assert all(not conv.explain and conv._edge_mask is None for conv in model.convs)


@pytest.mark.parametrize("build", [lambda: KipfGCNConv(4, 3), lambda: KipfGCNConv(4, 8),
                                   lambda: ChebyshevConv(4, 3, 2), lambda: ChebyshevConv(4, 8, 2)])
@pytest.mark.parametrize("tool", ["prune", "weight_norm"])
def test_torch_pruning_and_hook_based_weight_norm(build, tool):
    """torch.nn.utils.prune and the hook-based weight_norm recompute the weight in a forward
    pre-hook of the Linear module, which the layers never call: they must still train with the
    recomputed weight (pruning used to fail at the second backward and never see the updates)."""
    import warnings

    from torch.nn.utils import prune

    torch.manual_seed(0)
    conv = build()
    lins = [conv.lin] if hasattr(conv, "lin") else list(conv.lins)
    for lin in lins:
        if tool == "prune":
            prune.l1_unstructured(lin, "weight", amount=0.5)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated in favour of parametrizations
                torch.nn.utils.weight_norm(lin)
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    x = torch.randn(3, 4)
    opt = torch.optim.SGD(conv.parameters(), lr=0.1)
    learned = "weight_orig" if tool == "prune" else "weight_v"
    before = [getattr(lin, learned).detach().clone() for lin in lins]
    for _ in range(3):
        opt.zero_grad()
        conv(x, ei).square().sum().backward()
        opt.step()
    out = conv(x, ei)
    for lin, b in zip(lins, before):
        assert not torch.equal(getattr(lin, learned), b)  # the updates reach the parameter
        if tool == "prune":
            expected = lin.weight_orig * lin.weight_mask
        else:
            expected = lin.weight_g * lin.weight_v / lin.weight_v.norm(dim=1, keepdim=True)
        torch.testing.assert_close(lin.weight, expected)  # recomputed for this forward
    args = (4, conv.out_channels) + ((2,) if isinstance(conv, ChebyshevConv) else ())
    reference = type(conv)(*args)
    with torch.no_grad():
        for lin, ref_lin in zip(lins, [reference.lin] if hasattr(reference, "lin") else reference.lins):
            ref_lin.weight.copy_(lin.weight)
        reference.bias.copy_(conv.bias)
    torch.testing.assert_close(out, reference(x, ei))


class _LowRank(torch.nn.Module):
    """A LoRA-style adapter: W + B A."""

    def __init__(self, out_f, in_f, rank=2):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(rank, in_f))
        self.b = torch.nn.Parameter(torch.randn(out_f, rank))

    def forward(self, w):
        return w + self.b @ self.a


def test_hooks_on_or_replacements_of_the_linear_modules_are_refused_not_ignored():
    """The layers read lin.weight instead of calling lin: a module put in its place would be
    silently skipped (PyG's GCNConv calls it), so it is an error; a forward hook on it (profilers
    hook every submodule) does not run, which a warning says once per module."""
    import warnings

    from gcnkit.nn.conv import weights

    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    x = torch.randn(3, 4)

    class Adapter(torch.nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    for build in (lambda: KipfGCNConv(4, 3), lambda: ChebyshevConv(4, 3, 1)):
        conv = build()
        lin = conv.lin if hasattr(conv, "lin") else conv.lins[0]
        weights._warned_hooks.discard(id(lin))
        lin.register_forward_hook(lambda *a: None)
        lin.register_forward_pre_hook(lambda *a: None)
        with pytest.warns(UserWarning, match="forward hooks registered on them do not run"):
            out = conv(x, ei)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            torch.testing.assert_close(conv(x, ei), out)  # once per module
        if hasattr(conv, "lin"):
            conv.lin = Adapter(4, 3, bias=False)
        else:
            conv.lins[0] = Adapter(4, 3, bias=False)
        with pytest.raises(TypeError, match="a Adapter in their place"):
            conv(x, ei)
    # a forward hook on the conv itself runs
    conv, seen = KipfGCNConv(4, 3), []
    conv.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    conv(x, ei)
    assert seen == [(3, 3)]


def test_a_parametrized_weight_is_honoured_as_pyg_calls_it():
    """torch.nn.utils.parametrize (here a low-rank adapter W + BA) changes lin.weight itself: the
    layer must use it, as PyG's GCNConv (which calls lin) does, with gradients to the adapter."""
    from torch.nn.utils import parametrize
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    x = torch.randn(4, 5)
    ours, peer = KipfGCNConv(5, 3), GCNConv(5, 3)
    with torch.no_grad():
        peer.lin.weight.copy_(ours.lin.weight)
    for conv in (ours, peer):
        torch.manual_seed(1)
        parametrize.register_parametrization(conv.lin, "weight", _LowRank(3, 5))
    out, ref = ours(x, ei), peer(x, ei)
    torch.testing.assert_close(out, ref)
    out.square().sum().backward()
    ref.square().sum().backward()
    adapter = ours.lin.parametrizations.weight[0]
    assert adapter.a.grad is not None
    torch.testing.assert_close(adapter.a.grad, peer.lin.parametrizations.weight[0].a.grad)


def test_torch_func_transforms_are_a_clear_error():
    """torch.func cannot run through custom autograd functions without setup_context (the sparse
    products): a clear NotImplementedError naming the alternative, not a torch-internal error."""
    from torch.func import functional_call, grad, vmap

    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    x = torch.randn(3, 4)
    for conv in (KipfGCNConv(4, 2), ChebyshevConv(4, 2, 2)):
        params = dict(conv.named_parameters())
        with pytest.raises(NotImplementedError, match=r"torch.func.grad/vmap/jacrev cannot run.*torch.autograd.grad"):
            grad(lambda p: functional_call(conv, p, (x, ei)).sum())(params)
        with pytest.raises(NotImplementedError, match="without torch.func support"):
            vmap(lambda xi: conv(xi, ei))(torch.randn(5, 3, 4))
        assert conv(x, ei).shape == (3, 2)  # and outside them, as before


@pytest.mark.skipif(_TORCH < (2, 7), reason="torch 2.4 and 2.6 recompile the layer for every new graph "
                    "(speed only: the outputs are right); torch 2.11 and 2.13 do not")
def test_torch_compile_does_not_recompile_per_new_graph():
    """Mini-batches bring a new edge_index tensor each time: the graph cache's lookup is kept out
    of the compiled frames (it used to guard on id(tensor), recompiling per graph until dynamo's
    recompile limit sent the layer back to eager)."""
    import torch._dynamo.utils as dynamo_utils

    torch.manual_seed(0)
    torch._dynamo.reset()
    dynamo_utils.counters.clear()
    conv = KipfGCNConv(8, 4)
    compiled = torch.compile(conv, backend="eager")
    x = torch.randn(20, 8)

    def run(n):
        for _ in range(n):
            ei = torch.randint(0, 20, (2, 40))
            torch.testing.assert_close(compiled(x, ei), conv(x, ei))
    run(4)
    graphs = dynamo_utils.counters["stats"]["unique_graphs"]
    run(12)
    assert dynamo_utils.counters["stats"]["unique_graphs"] == graphs
    torch._dynamo.reset()


@pytest.mark.parametrize("edges", [[[], []], [[0], [1]], [[0, 2], [1, 2]], [[0, 1, 1], [1, 0, 2]]])
@pytest.mark.parametrize("name", ["kipf", "naive", "cheb2", "first_order", "single_parameter", "row"])
def test_pyg_edge_index_of_few_edges_is_read_as_a_plain_index(name, edges):
    # was: an EdgeIndex of 0 or 1 edges (after self-loops were dropped or none added) failed inside
    # PyG's Index arithmetic (an AssertionError without a message)
    from torch_geometric import EdgeIndex

    torch.manual_seed(0)
    conv = make_conv(name, 4, 2)
    x = torch.randn(3, 4)
    plain = torch.tensor(edges, dtype=torch.long).view(2, -1)
    expected = conv(x, plain)
    assert torch.equal(conv(x, EdgeIndex(plain, sparse_size=(3, 3))), expected)
    g = normalize_adjacency(EdgeIndex(plain, sparse_size=(3, 3)), num_nodes=3, self_loop_weight=0.0)
    assert type(g.edge_index) is torch.Tensor and torch.equal(g.to_dense(), normalize_adjacency(
        plain, num_nodes=3, self_loop_weight=0.0).to_dense())
