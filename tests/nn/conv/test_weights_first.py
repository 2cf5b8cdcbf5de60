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
