"""Options and inputs of the functional API that used to be coerced or silently misread."""
import numpy as np
import pytest
import torch

from gcnkit.functional import (CSRMatrix, chebyshev_basis, chebyshev_combine, csr_matmul, laplacian_lambda_max,
                               normalize_adjacency, propagate, resolve_graph)
from gcnkit.functional.chebyshev import laplacian_lambda_max_per_graph, lambda_max_per_node, scaled_laplacian
from gcnkit.nn.conv import ChebyshevConv, KipfGCNConv

EI = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])  # a path 0-1-2-3, both directions


@pytest.mark.parametrize("value", ["no", 2, -1, None])
def test_remove_self_loops_must_be_a_bool(value):
    # was: "no" stored (and applied) True
    with pytest.raises(TypeError, match=f"remove_self_loops must be True or False, got {value!r}"):
        normalize_adjacency(EI, remove_self_loops=value)
    with pytest.raises(TypeError, match=f"remove_self_loops must be True or False, got {value!r}"):
        resolve_graph(EI, remove_self_loops=value, cache=None)
    assert normalize_adjacency(EI, remove_self_loops=np.bool_(True)).remove_self_loops is True


def test_resolve_graph_checks_self_loop_weight_for_a_normalized_graph():
    g = normalize_adjacency(EI, self_loop_weight=2.0)
    # was: float("2") == 2.0 accepted the graph
    with pytest.raises(TypeError, match="self_loop_weight must be a number, got '2'"):
        resolve_graph(g, self_loop_weight="2")
    assert resolve_graph(g, self_loop_weight=np.float64(2.0)) is g


@pytest.mark.parametrize("kwargs, made", [
    ({}, "norm='sym', self_loop_weight=1.0"),  # normalize_adjacency's defaults add self-loops
    ({"norm": "row", "self_loop_weight": 0.0}, "norm='row', self_loop_weight=0.0"),
    ({"norm": "sym", "self_loop_weight": 2.0}, "norm='sym', self_loop_weight=2.0"),
])
def test_chebyshev_functions_refuse_another_normalization(kwargs, made):
    # was: silently the lambda_max of another operator (here 1.229 with the defaults' self-loops, 0.898
    # with self_loop_weight=2, instead of the path's 2; a row-normalized graph is not symmetric)
    g = normalize_adjacency(EI, num_nodes=4, **kwargs)
    x = torch.randn(4, 2)
    calls = {"laplacian_lambda_max": lambda: laplacian_lambda_max(g),
             "laplacian_lambda_max_per_graph":
                 lambda: laplacian_lambda_max_per_graph(g, torch.zeros(4, dtype=torch.long)),
             "lambda_max_per_node": lambda: lambda_max_per_node(g, None, 2.0),
             "scaled_laplacian": lambda: scaled_laplacian(g, 2.0),
             "chebyshev_basis": lambda: chebyshev_basis(g, x, 0, 2.0),
             "chebyshev_combine": lambda: chebyshev_combine(g, [x, x], 2.0)}
    for name, call in calls.items():
        with pytest.raises(ValueError, match=rf"{name} needs the graph of L = I - D\^-1/2 A D\^-1/2.*{made}.*"
                                             rf"normalize_adjacency\(.*norm='sym', self_loop_weight=0.0"):
            call()


def test_chebyshev_functions_take_the_graph_chebyshev_conv_builds():
    g = normalize_adjacency(EI, num_nodes=4, norm="sym", self_loop_weight=0.0, remove_self_loops=True)
    lam = laplacian_lambda_max(g)
    assert lam == pytest.approx(2.0, abs=1e-6)  # a path is bipartite: the largest eigenvalue of L is 2
    x = torch.randn(4, 3)
    conv = ChebyshevConv(3, 2, 2, lambda_max="eig")
    basis = chebyshev_basis(g, x, 2, lam)
    expected = sum(b @ lin.weight.t() for b, lin in zip(basis, conv.lins)) + conv.bias
    torch.testing.assert_close(conv(x, EI), expected)
    torch.testing.assert_close(conv(x, g), expected)  # the NormalizedGraph itself


@pytest.mark.parametrize("K, exc", [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)])
def test_chebyshev_basis_K(K, exc):
    # was: K=-1 gave two terms (T_0 X, T_1 X), True one propagation
    g = normalize_adjacency(EI, num_nodes=4, self_loop_weight=0.0)
    with pytest.raises(exc, match="K must be"):
        chebyshev_basis(g, torch.randn(4, 2), K, 2.0)
    assert len(chebyshev_basis(g, torch.randn(4, 2), np.int64(2), 2.0)) == 3


@pytest.mark.parametrize("make", [torch.Tensor.to_sparse, torch.Tensor.to_sparse_csr,
                                  lambda x: CSRMatrix.from_torch(x.to_sparse())],
                         ids=["coo", "csr", "CSRMatrix"])
def test_propagate_takes_sparse_features_as_the_layers_do(make):
    # was: "addmm: ... not implemented for Sparse + SparseCsr @ Sparse" (COO) and an AttributeError
    # (CSRMatrix); torch CSR features gave a sparse CSR product, and all three do now
    g = normalize_adjacency(EI, num_nodes=4)
    x = torch.randn(4, 3).relu()
    out = propagate(g, make(x))
    assert out.layout == torch.sparse_csr
    torch.testing.assert_close(out.to_dense(), propagate(g, x))
    torch.testing.assert_close(g.matmul(make(x)).to_dense(), g.matmul(x))


@pytest.mark.parametrize("width", [3, 40], ids=["MKL", "gather"])  # 40 >= 32: the embedding_bag path
def test_sparse_features_with_learnable_edge_weights(width):
    # was: "Sparse CSR tensors do not have is_contiguous" for float32 features of 32 or more
    # columns (forward), and in the backward pass for any width when the edge weights need grad
    torch.manual_seed(0)
    ei = torch.randint(0, 30, (2, 120))
    x = torch.rand(30, width) * (torch.rand(30, width) < 0.3)
    w = torch.rand(120, requires_grad=True)
    grads = []
    for feats in (x, x.to_sparse_csr(), x.to_sparse()):
        out = normalize_adjacency(ei, w, num_nodes=30) @ feats
        out = out if out.layout == torch.strided else out.to_dense()
        (gw,) = torch.autograd.grad(out.pow(2).sum(), w)
        grads.append((out, gw))
    for out, gw in grads[1:]:
        torch.testing.assert_close(out, grads[0][0])
        torch.testing.assert_close(gw, grads[0][1])
    g = normalize_adjacency(ei, num_nodes=30)
    torch.testing.assert_close(propagate(g, x.to_sparse_csr()).to_dense(), g.to_dense() @ x)


def test_csr_matmul_and_propagate_refuse_what_is_not_a_feature_matrix():
    g = normalize_adjacency(EI, num_nodes=4)
    with pytest.raises(TypeError, match=r"csr_matmul multiplies by a dense or sparse CSR x.*got a torch.sparse_coo"):
        csr_matmul(g.adj, torch.randn(4, 3).to_sparse())
    with pytest.raises(TypeError, match=r"x must be a dense tensor.*got list"):
        propagate(g, [[1.0]] * 4)


def test_sparse_edge_weight_is_a_clear_error():
    # was: NotImplementedError from isfinite on a sparse tensor
    w = torch.ones(6).to_sparse()
    with pytest.raises(TypeError, match=r"edge_weight must be a dense \[E\] tensor, got layout torch.sparse_coo"):
        normalize_adjacency(EI, w, 4)
    with pytest.raises(TypeError, match=r"edge_weight must be a dense \[E\] tensor"):
        KipfGCNConv(2, 3)(torch.randn(4, 2), EI, w)


def test_complex_sparse_adjacency_is_refused():
    # was: the imaginary part silently dropped (a ComplexWarning at most)
    adj = torch.sparse_coo_tensor(EI.flip(0), torch.full((6,), 1 + 2j), (4, 4))
    with pytest.raises(TypeError, match="sparse adjacency must have real values.*complex64"):
        KipfGCNConv(2, 3)(torch.randn(4, 2), adj)
    with pytest.raises(TypeError, match="sparse adjacency must have real values"):
        resolve_graph(adj.to_sparse_csr(), cache=None)


class SparseTensor:
    """Stands for ``torch_sparse.SparseTensor`` (not installable here): what gcnkit reads of it."""

    def __init__(self, row, col, value, sparse_sizes):
        self._coo, self._sizes = (row, col, value), list(sparse_sizes)

    def coo(self):
        return self._coo

    def sizes(self):
        return self._sizes

    def size(self, dim):
        return self._sizes[dim]


def test_a_torch_sparse_adj_t_is_read_as_pyg_reads_it_and_must_be_square():
    # adj_t: row = target, col = source; a directed, weighted graph gives what edge_index gives
    ei, w = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]), torch.tensor([1.0, 2.0, 0.5, 3.0])
    x = torch.randn(4, 3)
    conv = KipfGCNConv(3, 2)
    adj_t = SparseTensor(ei[1], ei[0], w, (4, 4))
    torch.testing.assert_close(conv(x, adj_t), conv(x, ei, w))
    # a non-square one (a bipartite block) was read as [N, N] when its columns stayed below N
    with pytest.raises(ValueError, match=r"a sparse adjacency must be square \[N, N\], got \(4, 6\)"):
        conv(x, SparseTensor(ei[1], ei[0], w, (4, 6)))
    with pytest.raises(ValueError, match=r"must be square \[N, N\], got \(4, 6\)"):
        conv(x, torch.sparse_coo_tensor(torch.stack([ei[1], ei[0]]), w, (4, 6)))


@pytest.mark.parametrize("lam", [0.0, torch.tensor([2.0, 0.0, 2.0, 2.0]), torch.tensor([2.0, -1.0, 2.0, 2.0]),
                                 torch.tensor([2.0, float("nan"), 2.0, 2.0])], ids=["0", "0-node", "neg", "nan"])
def test_chebyshev_functions_refuse_a_lambda_max_that_is_not_positive(lam):
    # was: 0 silently taken as 2, a negative or NaN per-node value a matrix of -inf/NaN scalings
    g = normalize_adjacency(EI, num_nodes=4, self_loop_weight=0.0)
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match=r"lambda_max must be positive.*0 only where L = I - A_hat is 0|"
                                         r"lambda_max must be a positive finite number.*0 only where"):
        chebyshev_basis(g, x, 2, lam)
    with pytest.raises(ValueError, match="positive"):
        chebyshev_combine(g, [x, x], lam)
    with pytest.raises(ValueError, match="positive"):
        scaled_laplacian(g, lam)


def test_chebyshev_functions_take_the_zero_of_laplacian_lambda_max_where_L_is_zero():
    # a mini-batch of the path 0-1-2-3 and two nodes with only a self-loop each (their L is 0)
    ei = torch.cat([EI, torch.tensor([[4, 5], [4, 5]])], 1)
    g = normalize_adjacency(ei, num_nodes=6, self_loop_weight=0.0, remove_self_loops=False)
    per_node = lambda_max_per_node(g, torch.tensor([0, 0, 0, 0, 1, 1]), "eig")
    torch.testing.assert_close(per_node, torch.tensor([2.0] * 4 + [0.0] * 2, dtype=torch.float64))
    x = torch.randn(6, 3, dtype=torch.float64)
    dense = torch.eye(6, dtype=torch.float64) - g.to_dense().double()  # L; its rows 4, 5 are 0
    expected = dense[:4] * (2.0 / per_node[:4, None]) - torch.eye(6, dtype=torch.float64)[:4]
    out = chebyshev_basis(g.to(dtype=torch.float64), x, 1, per_node)[1]
    torch.testing.assert_close(out[:4], expected @ x)
    torch.testing.assert_close(out[4:], -x[4:])  # L~ = -I there
    only_loops = normalize_adjacency(torch.arange(4).repeat(2, 1), num_nodes=4, self_loop_weight=0.0,
                                     remove_self_loops=False)
    assert laplacian_lambda_max(only_loops) == 0.0
    torch.testing.assert_close(chebyshev_basis(only_loops, x[:4].float(), 1, 0.0)[1], -x[:4].float())


def test_to_takes_a_dtype_first_as_tensor_to():
    # was: "device() received an invalid combination of arguments - got (torch.dtype)"
    g = normalize_adjacency(EI, num_nodes=4)
    assert g.to(torch.float64) is g.to(dtype=torch.float64) and g.to(torch.float64).dtype == torch.float64
    m = CSRMatrix.from_torch(torch.eye(3).to_sparse())
    assert m.to(torch.float64).dtype == torch.float64
    torch.testing.assert_close(m.to(torch.float64).to_dense(), torch.eye(3, dtype=torch.float64))
    with pytest.raises(TypeError, match="two dtypes"):
        m.to(torch.float64, torch.float32)
    with pytest.raises(TypeError, match="two dtypes"):
        g.to(torch.float64, torch.float32)
