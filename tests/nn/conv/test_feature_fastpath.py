"""Dense bag-of-words features are multiplied as CSR, converted once per feature tensor."""
import pytest
import torch
from torch_geometric.nn import GCNConv

from gcnkit.functional.sparse import CSRMatrix
from gcnkit.nn import KipfGCNConv
from gcnkit.nn.conv import base


def _graph_and_features(n=400, f=300):
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, n, (2, 2000), generator=g)
    x = (torch.rand(n, f, generator=g) < 0.02).float()
    return ei, x


def test_sparse_dense_features_equal_pyg_and_convert_once(monkeypatch):
    ei, x = _graph_and_features()
    conv, ref = KipfGCNConv(300, 16), GCNConv(300, 16)
    ref.load_state_dict(conv.state_dict())
    calls = []
    real = base._dense_as_csr
    monkeypatch.setattr(base, "_dense_as_csr", lambda t: calls.append(1) or real(t))
    for _ in range(3):
        torch.testing.assert_close(conv(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)
    assert len(calls) == 1
    assert isinstance(base.as_features(x), CSRMatrix)
    x[0, :5] = 3.0  # in place: the cached conversion must not be reused
    for _ in range(2):
        torch.testing.assert_close(conv(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)
    assert len(calls) == 2
    for _ in range(3):  # a tensor made anew per call (dropout) is never converted
        conv(x * 1.0, ei)
    assert len(calls) == 2


def test_gradients_with_respect_to_weights_match_dense():
    ei, x = _graph_and_features()
    conv = KipfGCNConv(300, 16)
    conv(x, ei).pow(2).sum().backward()
    g_sparse = conv.lin.weight.grad.clone()
    conv.lin.weight.grad = None
    conv(x.clone().requires_grad_(), ei).pow(2).sum().backward()  # requires grad: stays dense
    torch.testing.assert_close(g_sparse, conv.lin.weight.grad, atol=1e-4, rtol=1e-4)


def test_dense_or_grad_requiring_features_pass_through():
    x = torch.randn(400, 300)
    assert base.as_features(x) is x  # not sparse enough
    y = (torch.rand(400, 300) < 0.02).float().requires_grad_()
    assert base.as_features(y) is y


def test_dtype_mismatch_is_the_same_error_on_every_call():
    # a float64 x into a float32 layer used to raise on the first call only, then be cast down
    ei, x = _graph_and_features()
    conv = KipfGCNConv(300, 16)
    x64 = x.double()
    for _ in range(3):
        with pytest.raises(TypeError, match=r"x is torch.float64 but KipfGCNConv's parameters are torch.float32"):
            conv(x64, ei)


def test_propagate_only_takes_the_same_dense_tensor_again():
    from gcnkit.nn.conv import ChebyshevConv

    from gcnkit.functional import normalize_adjacency

    ei, x = _graph_and_features()
    a = normalize_adjacency(ei, None, 400).to_dense()
    conv = KipfGCNConv(300, 16)
    for _ in range(3):  # used to raise "propagate_only takes dense features" from the 2nd call
        torch.testing.assert_close(conv.propagate_only(x, ei), a @ x, atol=1e-5, rtol=1e-5)
    cheb = ChebyshevConv(300, 16, 2)
    for _ in range(3):
        basis = cheb.propagate_only(x, ei)
        assert basis.shape == (400, 900)
        torch.testing.assert_close(basis[:, :300], x)  # T_0 X = X


def test_clear_caches_forgets_features_written_behind_the_version_counter():
    from gcnkit.nn.conv import clear_caches

    ei, x = _graph_and_features()
    conv = KipfGCNConv(300, 16)
    conv(x, ei), conv(x, ei)  # converted to CSR and cached
    x.data.mul_(3.0)  # bypasses the version counter: documented limit
    clear_caches()
    torch.testing.assert_close(conv(x, ei), conv(x.clone(), ei))


def test_cached_false_keeps_no_feature_copy():
    """``cached=False`` is the documented remedy for writes behind the version counter (a NumPy
    buffer refilled by a loader, ``.data``): it must cover the features' CSR copies too."""
    import numpy as np

    base.clear_caches()
    ei, x = _graph_and_features()
    buf = x.numpy()  # shares x's memory
    conv = KipfGCNConv(300, 16, cached=False)
    conv(x, ei), conv(x, ei)  # a cached layer would convert x to CSR here and keep it
    buf[:] = (np.random.default_rng(1).random(buf.shape) < 0.02).astype(np.float32)
    torch.testing.assert_close(conv(x, ei), conv(x.clone(), ei))
    x.data[:5] = 7.0
    torch.testing.assert_close(conv(x, ei), conv(x.clone(), ei))
    sparse = x.to_sparse_csr()  # torch.sparse features: converted at every call, not kept
    conv(sparse, ei)
    sparse.values().data.mul_(2.0)
    torch.testing.assert_close(conv(sparse, ei), conv(2 * x, ei))
    assert len(base.feature_cache) == 0 and len(base._seen_features) == 0


def test_a_dense_tensor_left_dense_is_not_kept_alive_by_the_cache():
    import gc
    import weakref

    ei, _ = _graph_and_features()
    x = torch.randn(400, 300)  # not sparse: stays dense
    conv = KipfGCNConv(300, 16)
    conv(x, ei), conv(x, ei)
    ref = weakref.ref(x)
    del x
    gc.collect()
    assert ref() is None
