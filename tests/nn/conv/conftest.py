"""Layer cases shared by the conv tests: every layer with the formula it must compute.

A test that takes an argument ``layer_name`` runs once per entry of ``LAYER_SPECS``; the
``layers`` fixture builds the layer and computes its dense float64 reference output.
"""
import numpy as np
import pytest
import torch

# name -> (class name, constructor kwargs, formula spec)
#   ("gcn", norm, self_loop_weight, add_identity):  (Â + c I) X W^T + b
#   ("cheb", K, lambda_max[, remove_self_loops]):    sum_k T_k(L~) X W_k^T + b   (lambda_max "eig": numpy;
#                                                    the graph's self-loops dropped unless False)
LAYER_SPECS = {
    "kipf": ("KipfGCNConv", {}, ("gcn", "sym", 1.0, False)),
    "kipf_improved": ("KipfGCNConv", {"self_loop_weight": 2.0}, ("gcn", "sym", 2.0, False)),
    "naive": ("NaiveGCNConv", {}, ("gcn", "none", 0.0, False)),
    "row": ("RowGCNConv", {}, ("gcn", "row", 1.0, False)),
    "single_parameter": ("SingleParameterConv", {}, ("gcn", "sym", 0.0, True)),
    "first_order_term": ("FirstOrderTermConv", {}, ("gcn", "sym", 0.0, False)),
    "general_col": ("GeneralGCNConv", {"norm": "col", "self_loop_weight": 0.5}, ("gcn", "col", 0.5, False)),
    "general_none_identity": ("GeneralGCNConv", {"norm": "none", "self_loop_weight": 2.0, "add_identity": True},
                              ("gcn", "none", 2.0, True)),
    "cheb0": ("ChebyshevConv", {"K": 0}, ("cheb", 0, 2.0)),
    "cheb1": ("ChebyshevConv", {"K": 1}, ("cheb", 1, 2.0)),
    "cheb2": ("ChebyshevConv", {"K": 2}, ("cheb", 2, 2.0)),
    "cheb3": ("ChebyshevConv", {"K": 3}, ("cheb", 3, 2.0)),
    "cheb2_eig": ("ChebyshevConv", {"K": 2, "lambda_max": "eig"}, ("cheb", 2, "eig")),
    "cheb3_eig": ("ChebyshevConv", {"K": 3, "lambda_max": "eig"}, ("cheb", 3, "eig")),
    "cheb2_keep_loops": ("ChebyshevConv", {"K": 2, "remove_self_loops": False}, ("cheb", 2, 2.0, False)),
    "cheb3_eig_keep_loops": ("ChebyshevConv", {"K": 3, "lambda_max": "eig", "remove_self_loops": False},
                             ("cheb", 3, "eig", False)),
    "first_order": ("FirstOrderConv", {}, ("cheb", 1, 2.0)),
    "mlp": ("MLPConv", {}, ("cheb", 0, 2.0)),
}
LAYER_NAMES = tuple(LAYER_SPECS)


GCN_LAYER_NAMES = tuple(n for n, (_, _, spec) in LAYER_SPECS.items() if spec[0] == "gcn")
CHEB_LAYER_NAMES = tuple(n for n, (_, _, spec) in LAYER_SPECS.items() if spec[0] == "cheb")
# (in_channels, out_channels): out < in multiplies by W first, out > in propagates first
WIDTHS = ((5, 3), (3, 6))


def pytest_generate_tests(metafunc):
    for arg, names in (("layer_name", LAYER_NAMES), ("gcn_layer", GCN_LAYER_NAMES),
                       ("cheb_layer", CHEB_LAYER_NAMES)):
        if arg in metafunc.fixturenames:
            metafunc.parametrize(arg, names)
    if "widths" in metafunc.fixturenames:
        metafunc.parametrize("widths", WIDTHS, ids=[f"{i}to{o}" for i, o in WIDTHS])


@pytest.fixture(autouse=True)
def _single_thread(single_thread):
    """Every test here on one thread (see ``single_thread`` in tests/conftest.py)."""


def _to_numpy(t):
    if t.layout != torch.strided:
        t = t.to_dense()
    return t.detach().double().cpu().numpy()


class Layers:
    """Builds layers by case name and computes their dense float64 reference outputs."""

    def __init__(self, oracle):
        self.oracle = oracle

    @staticmethod
    def build(name, in_channels, out_channels, **kwargs):
        import gcnkit.nn.conv as conv

        cls_name, options, _ = LAYER_SPECS[name]
        layer = getattr(conv, cls_name)(in_channels, out_channels, **{**options, **kwargs})
        if layer.bias is not None:  # a non-zero bias, so that the bias is tested too
            with torch.no_grad():
                layer.bias.normal_()
        return layer

    @staticmethod
    def weights(layer):
        """The weight matrices ``[out, in]`` in formula order."""
        if hasattr(layer, "lins"):
            return [lin.weight for lin in layer.lins]
        return [layer.lin.weight]

    def operator(self, spec, edge_index, edge_weight, num_nodes):
        """The dense propagation matrices the spec multiplies ``X W_k^T`` with."""
        o = self.oracle
        if spec[0] == "gcn":
            _, norm, slw, add_identity = spec
            a = o.normalized(edge_index, edge_weight, num_nodes, norm, slw)
            return [a + np.eye(num_nodes) if add_identity else a]
        _, K, lam, *keep = spec
        remove = keep[0] if keep else True
        if K == 0:
            return [np.eye(num_nodes)]
        if lam == "eig":
            lam = o.lambda_max(edge_index, edge_weight, num_nodes, remove)
        return o.chebyshev_polynomials(o.scaled_laplacian(edge_index, edge_weight, num_nodes, lam, remove), K)

    def expected(self, name_or_spec, layer, x, edge_index, edge_weight, num_nodes):
        """Dense float64 output of the formula, for ``x`` ``[N, F]`` or ``[*, N, F]``."""
        spec = LAYER_SPECS[name_or_spec][2] if isinstance(name_or_spec, str) else name_or_spec
        mats = self.operator(spec, edge_index, edge_weight, num_nodes)
        xs = _to_numpy(x)
        out = sum(np.matmul(m, xs) @ _to_numpy(w).T for m, w in zip(mats, self.weights(layer)))
        if layer.bias is not None:
            out = out + _to_numpy(layer.bias)
        return out


@pytest.fixture(scope="session")
def layers(oracle):
    return Layers(oracle)


def undirected_graph(n=6, seed=0, weighted=True):
    """A random undirected (symmetric) weighted graph without self-loops or duplicates."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.triu(torch.rand(n, n, generator=gen) < 0.5, diagonal=1)
    s, t = mask.nonzero().t()
    w = torch.rand(s.numel(), generator=gen, dtype=torch.float64) + 0.2
    ei = torch.stack([torch.cat([s, t]), torch.cat([t, s])])
    return ei, (torch.cat([w, w]) if weighted else None), n


@pytest.fixture
def undirected():
    return undirected_graph()


@pytest.fixture
def undirected_graphs():
    """Undirected weighted graphs without self-loops or duplicates (the last one with isolated
    nodes): where PyG's ChebConv defines the same operator as ours."""
    ei, ew, _ = undirected_graph(6, 3)
    return [undirected_graph(n, seed) for n, seed in ((6, 0), (9, 1), (12, 2))] + [(ei, ew, 9)]


def gradcheck_layer(layer, x, *graph_args, wrt_x=True, wrt_edge_weight=False):
    """``torch.autograd.gradcheck`` of ``layer(x, *graph_args)`` in float64 with respect to every
    parameter, and ``x`` (dense) and/or the edge weights (``graph_args[1]``) when asked."""
    layer = layer.double()
    names, params = zip(*layer.named_parameters())
    params = tuple(p.detach().clone().requires_grad_() for p in params)
    graph_args = list(graph_args)
    extra = []
    if wrt_x:
        extra.append(x.detach().clone().requires_grad_())
    if wrt_edge_weight:
        extra.append(graph_args[1].detach().clone().requires_grad_())

    def f(*inputs):
        ps, rest = inputs[:len(params)], list(inputs[len(params):])
        xx = rest.pop(0) if wrt_x else x
        args = list(graph_args)
        if wrt_edge_weight:
            args[1] = rest.pop(0)
        return torch.func.functional_call(layer, dict(zip(names, ps)), (xx, *args))

    return torch.autograd.gradcheck(f, params + tuple(extra))


@pytest.fixture(scope="session")
def gradcheck():
    return gradcheck_layer


class WidthSpy:
    """Records the width of every matrix a graph operator (the normalized adjacency, or the scaled
    Laplacian built from it) is multiplied with."""

    def __init__(self, monkeypatch):
        import gcnkit.functional.chebyshev as cheb
        import gcnkit.functional.normalize as norm

        self.widths = []
        original = norm.csr_matmul

        def spy(a, x):
            self.widths.append(x.size(-1))
            return original(a, x)

        monkeypatch.setattr(norm, "csr_matmul", spy)
        monkeypatch.setattr(cheb, "csr_matmul", spy)


@pytest.fixture
def width_spy(monkeypatch):
    return WidthSpy(monkeypatch)


@pytest.fixture
def pyg_cheb_pair():
    """``make(in, out, K)``: a ChebyshevConv (random bias) and torch_geometric's ChebConv(K + 1)
    with the same parameters (same layout: ``lins.k.weight``, ``bias``)."""
    from torch_geometric.nn import ChebConv

    from gcnkit.nn.conv import ChebyshevConv

    def make(in_channels, out_channels, K):
        ours = ChebyshevConv(in_channels, out_channels, K)
        torch.nn.init.normal_(ours.bias)
        pyg = ChebConv(in_channels, out_channels, K + 1, normalization="sym")
        pyg.load_state_dict(ours.state_dict())
        return ours, pyg
    return make
