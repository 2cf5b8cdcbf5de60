"""fused_weight / propagate_weighted: every layer as its weights first, then its propagation
(the form stacked models share), against the dense formula."""
import numpy as np
import pytest
import torch


def test_propagate_weighted_of_x_times_fused_weight_is_the_formula(layer_name, widths, graph_zoo, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(layer_name, *widths).double()
    x = torch.randn(3, n, widths[0], dtype=torch.float64)  # a leading axis: stacked models
    w = layer.fused_weight()
    assert w.shape == (len(layers.weights(layer)) * widths[1], widths[0])
    out = layer.propagate_weighted(x @ w.t(), ei, ew)
    if layer.bias is not None:
        out = out + layer.bias
    np.testing.assert_allclose(out.detach().numpy(), layers.expected(layer_name, layer, x, ei, ew, n), atol=1e-10)


@pytest.mark.parametrize("name", ["kipf", "cheb2", "mlp"])
def test_propagate_weighted_refuses_the_wrong_width(name, graph_zoo, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    layer = layers.build(name, 4, 3)
    width = layer.fused_weight().size(0)
    with pytest.raises(ValueError, match=rf"z must be dense \[\*, N, .*{width}\]"):
        layer.propagate_weighted(torch.randn(n, width + 1), ei, ew)
    with pytest.raises(ValueError, match="z must be dense"):
        layer.propagate_weighted(torch.randn(n, width).to_sparse(), ei, ew)


def test_copies_side_by_side_are_each_models_propagation(layer_name, graph_zoo, layers):
    ei, ew, n = graph_zoo["kitchen_sink"]
    models = [layers.build(layer_name, 5, 3).double() for _ in range(3)]
    x = torch.randn(n, 5, dtype=torch.float64)
    zs = [x @ m.fused_weight().t() for m in models]  # [N, m * 3] each, term-major
    terms = zs[0].size(1) // 3
    side = torch.cat([z[:, k * 3:(k + 1) * 3] for k in range(terms) for z in zs], 1)  # per term, model by model
    out = models[0].propagate_weighted(side, ei, ew, copies=3)
    assert out.shape == (n, 9)
    for i, (m, z) in enumerate(zip(models, zs)):
        torch.testing.assert_close(out[:, 3 * i:3 * (i + 1)], m.propagate_weighted(z, ei, ew))
    with pytest.raises(ValueError, match=rf"= {terms} \* 2 \* 3 = {terms * 6}\]"):
        models[0].propagate_weighted(side, ei, ew, copies=2)
