"""gcnkit.functional.linear against torch.nn.functional.linear (values and gradients)."""
import pytest
import torch

from gcnkit.functional.linear import NARROW, linear, linear_sum


def _inputs(seed, lead, in_features, out_features, bias):
    """Float64 ``z [*lead, in]``, ``w [out, in]``, optional ``b [out]`` requiring grad, and the
    list of them to differentiate."""
    torch.manual_seed(seed)
    z = torch.randn(*lead, in_features, dtype=torch.float64, requires_grad=True)
    w = torch.randn(out_features, in_features, dtype=torch.float64, requires_grad=True)
    b = torch.randn(out_features, dtype=torch.float64, requires_grad=True) if bias else None
    return z, w, b, [z, w] + ([b] if bias else [])


@pytest.mark.parametrize("in_features", [1, 2, NARROW, NARROW + 5])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_torch(in_features, bias):
    z, w, b, params = _inputs(0, (3, 7), in_features, 5, bias)
    g = torch.randn(3, 7, 5, dtype=torch.float64)
    ours = torch.autograd.grad(linear(z, w, b), params, g)
    ref = torch.autograd.grad(torch.nn.functional.linear(z, w, b), params, g)
    torch.testing.assert_close(linear(z, w, b), torch.nn.functional.linear(z, w, b))
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r)
    assert torch.autograd.gradcheck(lambda z, w: linear(z, w, None), (z, w))


def test_linear_non_contiguous_and_frozen_input():
    z = torch.randn(4, 6, 2).transpose(0, 1)  # non-contiguous: the plain path
    w = torch.randn(3, 2, requires_grad=True)
    torch.testing.assert_close(linear(z, w), z @ w.t())
    out = linear(z.contiguous(), w)  # z needs no grad: only the weight's is computed
    (gw,) = torch.autograd.grad(out.sum(), [w])
    torch.testing.assert_close(gw, torch.ones(6 * 4, 3).t() @ z.reshape(-1, 2))


@pytest.mark.parametrize("in_features", [1, 3, NARROW + 2])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_split_equals_split_of_torch(in_features, bias):
    z, w, b, params = _inputs(1, (2, 5), in_features, 9, bias)
    ours = linear(z, w, b, split=(6, 3))
    ref = torch.nn.functional.linear(z, w, b).split((6, 3), dim=-1)
    assert isinstance(ours, tuple) and len(ours) == 2
    gs = [torch.randn_like(r) for r in ref]
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r)
    for a, r in zip(torch.autograd.grad(ours, params, gs, retain_graph=True),
                    torch.autograd.grad(ref, params, gs, retain_graph=True)):
        torch.testing.assert_close(a, r)
    # only the second block used: the first block's gradient is zero, not missing
    for a, r in zip(torch.autograd.grad(ours[1].sum(), params), torch.autograd.grad(ref[1].sum(), params)):
        torch.testing.assert_close(a, r)
    assert torch.autograd.gradcheck(lambda z, w: linear(z, w, None, split=(2, 7)), (z, w))


def test_linear_split_must_cover_the_output():
    with pytest.raises(ValueError, match="does not sum to the 5 output features"):
        linear(torch.randn(3, 2), torch.randn(5, 2), split=(2, 2))


@pytest.mark.parametrize("in_features", [1, NARROW + 5])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_accumulates_into_add(in_features, bias):
    """``add=A`` gives A + z W^T + b (the recurrent cells' U x + W h), values and gradients of all
    four inputs, also for an ``A`` that is a column block of a wider tensor (a split gate part)."""
    z, w, b, params = _inputs(3, (3, 7), in_features, 5, bias)
    wide = torch.randn(3, 7, 8, dtype=torch.float64, requires_grad=True)
    a = wide[..., 2:7]  # not contiguous
    g = torch.randn(3, 7, 5, dtype=torch.float64)
    ours, ref = linear(z, w, b, add=a), a + torch.nn.functional.linear(z, w, b)
    torch.testing.assert_close(ours, ref)
    for x, y in zip(torch.autograd.grad(ours, params + [wide], g), torch.autograd.grad(ref, params + [wide], g)):
        torch.testing.assert_close(x, y)
    assert torch.autograd.gradcheck(lambda z, w, a: linear(z, w, b, add=a), (z, w, a.detach().requires_grad_()))


def test_linear_add_errors():
    z, w = torch.randn(4, 10), torch.randn(3, 10)
    with pytest.raises(ValueError, match=r"add has shape \(4, 2\) but z W\^T has \(4, 3\)"):
        linear(z, w, add=torch.zeros(4, 2))
    with pytest.raises(ValueError, match="split or add, not both"):
        linear(z, w, split=[1, 2], add=torch.zeros(4, 3))


def test_linear_add_that_cannot_be_viewed_as_a_matrix():
    """A step's column block of a batch of sequences ([B, T, N, 3H] -> [B, N, 2H] at one t) is
    added after the product: same values and gradients."""
    z, w, b, params = _inputs(4, (2, 5), NARROW + 4, 6, True)
    big = torch.randn(2, 3, 5, 9, dtype=torch.float64, requires_grad=True)
    a = big[:, 1, :, :6]
    with pytest.raises(RuntimeError):
        a.view(-1, 6)
    ours, ref = linear(z, w, b, add=a), a + torch.nn.functional.linear(z, w, b)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    for x, y in zip(torch.autograd.grad(ours, params + [big], g), torch.autograd.grad(ref, params + [big], g)):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("in_features", [2, NARROW + 4])
@pytest.mark.parametrize("bias, with_add", [(True, True), (False, True), (True, False), (False, False)])
def test_linear_sum_equals_linear_of_the_concatenation(in_features, bias, with_add):
    """sum_k z_k W_k^T + b (+ add), accumulated without concatenating the z_k, against
    linear(cat(z), cat(W, 1)): values and the gradients of every input."""
    torch.manual_seed(5)
    zs = [torch.randn(3, 7, in_features, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    ws = [torch.randn(6, in_features, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    b = torch.randn(6, dtype=torch.float64, requires_grad=True) if bias else None
    add = torch.randn(3, 7, 6, dtype=torch.float64, requires_grad=True) if with_add else None
    ours = linear_sum(zs, ws, b, add=add)
    ref = torch.nn.functional.linear(torch.cat(zs, -1), torch.cat(ws, 1), b)
    ref = ref if add is None else ref + add
    torch.testing.assert_close(ours, ref)
    leaves = zs + ws + [t for t in (b, add) if t is not None]
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(ours, leaves, g), torch.autograd.grad(ref, leaves, g)):
        torch.testing.assert_close(a, r)


def test_linear_sum_under_autocast_and_errors():
    zs = [torch.randn(4, 5, 16) for _ in range(2)]
    ws = [torch.randn(8, 16) for _ in range(2)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = linear_sum(zs, ws)
    torch.testing.assert_close(out.float(), zs[0] @ ws[0].t() + zs[1] @ ws[1].t(), atol=0.3, rtol=0.05)
    with pytest.raises(ValueError, match="as many weights as inputs"):
        linear_sum(zs, ws[:1])
    with pytest.raises(ValueError, match=r"add has shape \(4, 5, 7\) but the sum has \(4, 5, 8\)"):
        linear_sum(zs, ws, add=torch.zeros(4, 5, 7))


def test_linear_sum_add_that_cannot_be_viewed_as_a_matrix():
    torch.manual_seed(6)
    zs = [torch.randn(2, 5, 12, dtype=torch.float64) for _ in range(2)]
    ws = [torch.randn(6, 12, dtype=torch.float64) for _ in range(2)]
    big = torch.randn(2, 3, 5, 9, dtype=torch.float64, requires_grad=True)
    add = big[:, 1, :, :6]
    out = linear_sum(zs, ws, add=add)
    torch.testing.assert_close(out, add + zs[0] @ ws[0].t() + zs[1] @ ws[1].t())
    (g,) = torch.autograd.grad(out.sum(), big)
    assert g[:, 1, :, :6].eq(1).all() and g.sum() == add.numel()


def test_linear_sum_takes_the_concatenated_path_for_16_bit_and_odd_inputs(monkeypatch):
    """bf16: the sum is not rounded after every term (as accurate as one GEMM); rows of different
    shapes and a bias of another dtype are refused as by the concatenation."""
    import gcnkit.functional.linear as lin

    calls = []
    monkeypatch.setattr(lin, "linear", lambda *a, **k: calls.append(1) or linear(*a, **k))
    zs = [torch.randn(64, 32, dtype=torch.bfloat16) for _ in range(3)]
    ws = [torch.randn(48, 32, dtype=torch.bfloat16) for _ in range(3)]
    torch.testing.assert_close(lin.linear_sum(zs, ws), linear(torch.cat(zs, -1), torch.cat(ws, 1)))
    assert calls == [1]
    # mismatches get torch's own errors, as one linear of the concatenation would
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        lin.linear_sum([torch.randn(2, 3, 12), torch.randn(3, 2, 12)], [torch.randn(4, 12)] * 2)
    with pytest.raises(RuntimeError, match="must have the same dtype"):
        lin.linear_sum([torch.randn(5, 12)] * 2, [torch.randn(4, 12)] * 2, torch.zeros(4, dtype=torch.float64))


def test_as_matrix_agrees_with_view():
    from gcnkit.functional.linear import _as_matrix

    base = torch.randn(2, 3, 5, 12)
    cases = [base, base[..., 4:8], base.movedim(1, 0), base.movedim(1, 0)[..., :6], base[:, :1, :, :4],
             base[:1, :, :1], base.transpose(-1, -2), base[:, ::2], torch.randn(5, 1).expand(5, 3),
             torch.randn(1, 4).expand(6, 4), torch.randn(7, 3)[::2], base.movedim(1, 0).contiguous()[0]]
    for t in cases:
        try:
            expected = t.view(-1, t.size(-1))
        except RuntimeError:
            expected = None
        got = _as_matrix(t)
        if expected is None:
            assert got is None, tuple(t.stride())
        else:
            assert got is not None and got.data_ptr() == t.data_ptr() and torch.equal(got, expected)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_add_on_a_matrix_includes_the_bias(bias):
    """The 2-D path (one sequence: addmm straight into the accumulator) with a bias."""
    torch.manual_seed(0)
    z = torch.randn(7, 16, dtype=torch.float64)  # wider than NARROW: the addmm path
    w = torch.randn(5, 16, dtype=torch.float64)
    b = torch.randn(5, dtype=torch.float64) if bias else None
    add = torch.randn(7, 5, dtype=torch.float64)
    expected = add + torch.nn.functional.linear(z, w, b)
    torch.testing.assert_close(linear(z, w, b, add=add), expected)


def test_under_torch_compile_the_compiler_derives_the_backward(monkeypatch):
    # the narrow path's autograd Function is for eager mode: under torch.compile the product is
    # F.linear (torch 2.11's dynamo failed to trace the Function), with the same values and grads
    import gcnkit.functional.linear as lin

    calls = []
    forward = lin._NarrowLinear.forward
    monkeypatch.setattr(lin._NarrowLinear, "forward", staticmethod(lambda *a: calls.append(1) or forward(*a)))
    z = torch.randn(6, 3, requires_grad=True)
    w = torch.randn(4, 3, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    eager = linear(z, w, b)
    assert calls == [1]  # eager mode takes the Function
    grads = torch.autograd.grad(eager.square().sum(), (z, w, b))
    torch._dynamo.reset()
    try:
        out = torch.compile(lambda z, w, b: linear(z, w, b), backend="eager")(z, w, b)
    finally:
        torch._dynamo.reset()
    assert calls == [1]
    torch.testing.assert_close(out, eager)
    for g, e in zip(torch.autograd.grad(out.square().sum(), (z, w, b)), grads):
        torch.testing.assert_close(g, e)


def test_derived_is_made_once_per_block_and_again_after_writes_or_a_grad_mode_change():
    from gcnkit.functional.linear import derived, shared_weights

    w = torch.nn.Parameter(torch.randn(4, 3))
    calls = []

    def make():
        calls.append(1)
        return w.t()

    assert derived("t", (w,), make) is not derived("t", (w,), make)  # outside a block: every call
    calls.clear()
    with shared_weights():
        a = derived("t", (w,), make)
        assert derived("t", (w,), make) is a and len(calls) == 1
        with torch.no_grad():  # a tensor without history must not serve a differentiable forward
            b = derived("t", (w,), make)
        assert b is not a and b.grad_fn is None and a.grad_fn is not None
        with torch.no_grad():
            w.mul_(2)  # written in place: made again from the new values
        c = derived("t", (w,), make)
        assert c is not a and len(calls) == 3
        torch.testing.assert_close(c, w.detach().t())
        v = torch.nn.Parameter(torch.randn(4, 3))
        assert derived("t", (v,), v.t) is not c  # another weight, its own entry
        rebuilt = w * 1  # not a Parameter (pruning, hook-based weight norm rebuild it per call)
        assert derived("t", (rebuilt,), rebuilt.t) is not derived("t", (rebuilt,), rebuilt.t)
        cat = derived("cat", (w, v), lambda: torch.cat([w, v], 1))
        assert derived("t", (cat,), cat.t) is derived("t", (cat,), cat.t)  # derived from derived
        from gcnkit.functional.linear import _shared
        keys = [k for k in _shared.get() if isinstance(k, tuple)]
        assert len(keys) == 5  # w with and without grad (the stale entry replaced), v, cat, its t
    assert derived("t", (w,), make) is not c  # the block's entries end with it


@pytest.mark.parametrize("model", ["tgcn", "gconvgru", "gconvlstm"])
def test_a_sequence_shares_its_weights_across_steps(model, monkeypatch, once_per_sequence):
    """Values and gradients as without sharing; the transposes and concatenations of the weights
    are one autograd node each, whatever the number of steps."""
    import contextlib

    import gcnkit.nn.recurrent.sequence as sequence
    from gcnkit.nn.models import TGCN, GConvGRU, GConvLSTM

    torch.manual_seed(0)
    n = 6
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 1, 2], [1, 2, 3, 4, 5, 0, 0, 4]])
    make = {"tgcn": lambda: TGCN(2, 16, out_channels=1), "gconvgru": lambda: GConvGRU(2, 16, out_channels=1, K=1),
            "gconvlstm": lambda: GConvLSTM(2, 16, out_channels=1, K=1)}[model]  # wider than NARROW
    m = make()

    def run(T):
        m.zero_grad()
        x = torch.randn(T, n, 2, generator=torch.Generator().manual_seed(T))
        out = m(x[None], ei)[0]
        out.square().mean().backward()
        # the autograd nodes made from parameters alone (transposes, concatenations of weights)
        weight_nodes, todo, seen = 0, [out.grad_fn], set()
        while todo:
            f = todo.pop()
            if f is None or f in seen:
                continue
            seen.add(f)
            inputs = [g for g, _ in f.next_functions if g is not None]
            weight_nodes += bool(inputs) and all(type(g).__name__ == "AccumulateGrad" for g in inputs)
            todo.extend(inputs)
        return weight_nodes, out.detach(), [p.grad.clone() for p in m.parameters()]

    once_per_sequence(run, lambda: monkeypatch.setattr(sequence, "shared_weights", contextlib.nullcontext))
