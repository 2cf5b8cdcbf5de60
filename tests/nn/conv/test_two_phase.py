"""propagate_only / transform: the layer split into its graph part and its weights."""
import pytest
import torch

from gcnkit.nn.conv import CONV_REGISTRY, make_conv

EI = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 0, 4], [1, 0, 2, 1, 3, 2, 4, 3, 4, 0]])
EW = torch.tensor([1.0, 1.0, 0.5, 0.5, 2.0, 2.0, 1.0, 1.0, 0.3, 0.3])


@pytest.mark.parametrize("name", sorted(CONV_REGISTRY))
@pytest.mark.parametrize("channels", [(3, 8), (8, 3), (12, 16)])  # narrow inputs and wide
def test_transform_of_propagate_only_is_forward(name, channels):
    torch.manual_seed(0)
    conv = make_conv(name, *channels).double()
    x = torch.randn(2, 5, channels[0], dtype=torch.float64, requires_grad=True)
    z = conv.propagate_only(x, EI, EW)
    assert z.shape[:-1] == x.shape[:-1] and z.size(-1) % channels[0] == 0  # m propagated terms
    out = conv.transform(z)
    ref = conv(x, EI, EW)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad(out, x, g, retain_graph=True)[0],
                               torch.autograd.grad(ref, x, g, retain_graph=True)[0])
    # the output in column blocks (the recurrent cells' gates), values and gradients
    sizes = (1, channels[1] - 1)
    parts = conv.transform(z, split=sizes)
    for a, r in zip(parts, ref.split(sizes, dim=-1)):
        torch.testing.assert_close(a, r)
    got = torch.autograd.grad(parts, [x] + list(conv.parameters()), g.split(sizes, dim=-1), retain_graph=True)
    want = torch.autograd.grad(ref, [x] + list(conv.parameters()), g, retain_graph=True)
    for a, r in zip(got, want):
        torch.testing.assert_close(a, r)


def test_propagate_only_of_gcn_is_the_normalized_adjacency():
    from gcnkit.functional import normalize_adjacency

    conv = make_conv("kipf", 3, 4)
    x = torch.randn(5, 3)
    torch.testing.assert_close(conv.propagate_only(x, EI, EW),
                               normalize_adjacency(EI, EW, 5).to_dense() @ x)


@pytest.mark.parametrize("name", sorted(CONV_REGISTRY))
@pytest.mark.parametrize("channels", [(3, 8), (12, 16), (12, 40)])  # Chebyshev: GEMMs summed; concatenated
@pytest.mark.parametrize("sum_min", [0, 1 << 62])  # Chebyshev: summed GEMMs from any size / never
def test_propagate_transform_is_forward_plus_add(name, channels, sum_min, monkeypatch):
    """The recurrent maps' call: ``add + conv(x)`` (a Chebyshev basis without concatenation),
    values and gradients of x, add and the weights."""
    import gcnkit.nn.conv.cheb as cheb

    monkeypatch.setattr(cheb, "_SUM_MIN_NUMEL", sum_min)
    torch.manual_seed(0)
    conv = make_conv(name, *channels).double()
    x = torch.randn(2, 5, channels[0], dtype=torch.float64, requires_grad=True)
    add = torch.randn(2, 5, channels[1], dtype=torch.float64, requires_grad=True)
    ours, ref = conv.propagate_transform(x, EI, EW, add=add), add + conv(x, EI, EW)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(conv.propagate_transform(x, EI, EW), conv(x, EI, EW))
    leaves = [x, add] + list(conv.parameters())
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(ours, leaves, g), torch.autograd.grad(ref, leaves, g)):
        torch.testing.assert_close(a, r)
