"""The layers on CUDA: the CPU's outputs and gradients, normalization against the dense formula
in each dtype, sparse features. Skipped without CUDA."""
import copy

import numpy as np
import pytest
import torch

from gcnkit.functional import normalize_adjacency
from gcnkit.nn import KipfGCNConv, RowGCNConv


@pytest.mark.gpu
def test_cuda_equals_cpu(layer_name, layers, graph_zoo):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(layer_name, 4, 3)
    layer_cuda = copy.deepcopy(layer).cuda()
    x = torch.randn(n, 4)
    expected = layer(x, ei, ew.float())
    (expected * torch.arange(3.0)).sum().backward()  # weighted: a gradient that depends on the column
    out = layer_cuda(x.cuda(), ei.cuda(), ew.float().cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), expected, atol=1e-5, rtol=1e-5)
    (out * torch.arange(3.0, device="cuda")).sum().backward()
    for (name, p), q in zip(layer.named_parameters(), layer_cuda.parameters()):
        assert q.grad is not None and q.grad.device.type == "cuda", name
        torch.testing.assert_close(q.grad.cpu(), p.grad, atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_cuda_normalization_and_sparse_features(graph_zoo, oracle, dtype):
    ei, ew, n = graph_zoo["kitchen_sink"]
    g = normalize_adjacency(ei.cuda(), ew.cuda(), n)
    assert g.device.type == "cuda"
    np.testing.assert_allclose(g.to_dense().cpu().numpy(), oracle.normalized(ei, ew, n), atol=1e-12)
    x = torch.randn(n, 4, dtype=dtype)
    tol = 3e-2 if dtype == torch.bfloat16 else 1e-5
    torch.testing.assert_close(g.matmul(x.cuda()).cpu().double(),
                               torch.from_numpy(oracle.normalized(ei, ew, n)) @ x.double(), atol=tol, rtol=tol)
    conv = KipfGCNConv(4, 3)
    xd = torch.randn(n, 4).relu()
    expected = conv(xd, ei, ew.float())
    conv = conv.cuda()
    torch.testing.assert_close(conv(xd.to_sparse_csr().cuda(), ei.cuda(), ew.float().cuda()).cpu(), expected,
                               atol=1e-5, rtol=1e-5)
    row = RowGCNConv(4, 3)
    expected = row(xd, ei)
    out = row.cuda()(xd.cuda(), ei.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), expected, atol=1e-5, rtol=1e-5)
