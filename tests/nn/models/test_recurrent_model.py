"""TGCN (paper and PyG-Temporal variants), GConvGRU and GConvLSTM against references."""
import pytest
import torch
from torch_geometric.nn import ChebConv

from gcnkit.functional import normalize_adjacency
from gcnkit.nn.models import TGCN, GConvGRU, GConvLSTM

N, F, H = 6, 2, 5


@pytest.fixture
def graph():
    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 4, 5, 0, 4], [1, 0, 2, 1, 3, 2, 5, 4, 4, 0]])
    ew = torch.tensor([1.0, 1.0, 0.5, 0.5, 2.0, 2.0, 1.5, 1.5, 0.3, 0.3])  # symmetric (PyG ChebConv uses out-degrees)
    return ei, ew


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_tgcn_paper_is_gcn_on_concatenation(graph, dtype, tol):
    """The official T-GCN cell: gates = sigmoid(A [x, h] W_g + b_g), candidate from A [x, r*h].
    float64 models normalize the graph in float64 (not in float32, cast up)."""
    ei, ew = graph
    torch.manual_seed(0)
    model = TGCN(F, H, out_channels=3).to(dtype)
    A = normalize_adjacency(ei, ew.double(), N).to_dense().to(dtype)
    cell = model.cell
    U, Wg, Wc = cell.input_map.conv, cell.hidden_map.conv, cell.candidate_map.conv
    # weights of the concatenated GCNs [x, h] -> 2H and [x, r*h] -> H (as lehaifeng/T-GCN's _gc)
    W_gates = torch.cat([U.lin.weight[:2 * H], Wg.lin.weight], 1)  # [2H, F+H]
    assert Wg.bias is None and Wc.bias is None  # one bias per gate, as the official cell
    b_gates = U.bias[:2 * H]
    W_cand = torch.cat([U.lin.weight[2 * H:], Wc.lin.weight], 1)
    b_cand = U.bias[2 * H:]
    assert torch.all(U.bias[:2 * H] == 1.0)  # gate bias initialised at 1.0 like the official code
    x = torch.randn(4, 7, N, F, dtype=dtype)
    h = torch.zeros(4, N, H, dtype=dtype)
    for t in range(7):
        gates = torch.sigmoid(A @ torch.cat([x[:, t], h], -1) @ W_gates.t() + b_gates)
        r, u = gates.split(H, -1)
        c = torch.tanh(A @ torch.cat([x[:, t], r * h], -1) @ W_cand.t() + b_cand)
        h = u * h + (1 - u) * c
    y, state = model(x, ei, ew, return_sequence=False)
    torch.testing.assert_close(state, h, atol=tol, rtol=0)
    torch.testing.assert_close(y, model.readout(h), atol=tol, rtol=0)
    assert y.shape == (4, N, 3)


def test_tgcn_pygt_variant_does_not_propagate_the_state(graph):
    ei, ew = graph
    torch.manual_seed(1)
    model = TGCN(F, H, variant="pygt")
    A = normalize_adjacency(ei, ew, N).to_dense()
    cell = model.cell
    x, h = torch.randn(N, F), torch.randn(N, H)
    ux = A @ x @ cell.input_map.conv.lin.weight.t() + cell.input_map.conv.bias
    gates = torch.sigmoid(ux[:, :2 * H] + cell.hidden_map.lin(h))
    r, u = gates.split(H, -1)
    c = torch.tanh(ux[:, 2 * H:] + cell.candidate_map.lin(r * h))
    y, s = model(x[None], ei, ew, state=h)
    torch.testing.assert_close(s, u * h + (1 - u) * c, atol=1e-5, rtol=0)
    assert "variant=pygt" in repr(model)
    with pytest.raises(ValueError, match="variant"):
        TGCN(F, H, variant="dcrnn")


def _cheb(K, fin, fout, lins, bias):
    conv = ChebConv(fin, fout, K + 1)
    with torch.no_grad():
        for k in range(K + 1):
            conv.lins[k].weight.copy_(lins[k].weight)
        conv.bias.copy_(torch.zeros(fout) if bias is None else bias)
    return conv


def _split_cheb(conv, K, blocks, width):
    """PyG ChebConv layers, one per gate, with the rows of gcnkit's fused ChebyshevConv."""
    out = []
    for b in range(blocks):
        rows = slice(b * width, (b + 1) * width)
        lins = [torch.nn.Linear(conv.in_channels, width, bias=False) for _ in range(K + 1)]
        for k in range(K + 1):
            lins[k].weight.data = conv.lins[k].weight.data[rows].clone()
        out.append(_cheb(K, conv.in_channels, width, lins, None if conv.bias is None else conv.bias.data[rows]))
    return out


@pytest.mark.parametrize("K", [1, 2])
@pytest.mark.parametrize("self_loops", [False, True])
@pytest.mark.parametrize("lambda_max", [2.0, 1.3])
def test_gconvgru_equals_pyg_temporal_formulation(graph, K, self_loops, lambda_max):
    """PyG Temporal's GConvGRU(K + 1): six ChebConvs, z = update, r = reset; on a graph with
    self-loops too (Chickenpox has one on every node; ChebConv drops them, and so do we); a
    ``lambda_max`` given to the model reaches every Chebyshev convolution."""
    ei, ew = graph
    if self_loops:
        ei = torch.cat([ei, torch.tensor([[0, 3, 5], [0, 3, 5]])], 1)
        ew = torch.cat([ew, torch.tensor([1.0, 2.0, 0.5])])
    torch.manual_seed(K)
    model = GConvGRU(F, H, K=K, lambda_max=lambda_max)
    c = model.cell
    assert c.hidden_map.conv.bias is None and c.candidate_map.conv.bias is None  # biases on the input side only
    xr, xz, xh = _split_cheb(c.input_map.conv, K, 3, H)
    hr, hz = _split_cheb(c.hidden_map.conv, K, 2, H)
    (hh,) = _split_cheb(c.candidate_map.conv, K, 1, H)
    x = torch.randn(5, N, F)
    h = torch.zeros(N, H)
    lm = torch.tensor(lambda_max)
    for t in range(5):
        z = torch.sigmoid(xz(x[t], ei, ew, lambda_max=lm) + hz(h, ei, ew, lambda_max=lm))
        r = torch.sigmoid(xr(x[t], ei, ew, lambda_max=lm) + hr(h, ei, ew, lambda_max=lm))
        h_tilde = torch.tanh(xh(x[t], ei, ew, lambda_max=lm) + hh(h * r, ei, ew, lambda_max=lm))
        h = z * h + (1 - z) * h_tilde
    out, state = model(x, ei, ew)
    torch.testing.assert_close(state, h, atol=1e-5, rtol=0)
    assert out.shape == (5, N, H)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@pytest.mark.parametrize("lambda_max", [2.0, 1.3])
def test_gconvlstm_equals_peephole_reference(graph, activation, lambda_max):
    ei, ew = graph
    torch.manual_seed(0)
    K = 1
    model = GConvLSTM(F, H, out_channels=1, K=K, cell_activation=activation, lambda_max=lambda_max)
    a = getattr(torch, activation)
    lm = torch.tensor(lambda_max)
    c = model.cell
    with torch.no_grad():
        c.peephole_weight.normal_()
    xi, xf, xc, xo = _split_cheb(c.input_map.conv, K, 4, H)
    hi, hf, hc, ho = _split_cheb(c.hidden_map.conv, K, 4, H)
    wi, wf, wo = c.peephole_weight
    x = torch.randn(2, 4, N, F)
    h, s = torch.zeros(2, N, H), torch.zeros(2, N, H)
    for t in range(4):
        xt = x[:, t]
        i = torch.sigmoid(xi(xt, ei, ew, lambda_max=lm) + hi(h, ei, ew, lambda_max=lm) + wi * s)
        f = torch.sigmoid(xf(xt, ei, ew, lambda_max=lm) + hf(h, ei, ew, lambda_max=lm) + wf * s)
        s = f * s + i * a(xc(xt, ei, ew, lambda_max=lm) + hc(h, ei, ew, lambda_max=lm))
        o = torch.sigmoid(xo(xt, ei, ew, lambda_max=lm) + ho(h, ei, ew, lambda_max=lm) + wo * s)
        h = o * torch.tanh(s)
    y, (h_out, s_out) = model(x, ei, ew)
    torch.testing.assert_close(h_out, h, atol=1e-5, rtol=0)
    torch.testing.assert_close(s_out, s, atol=1e-5, rtol=0)
    assert y.shape == (2, 4, N, 1)


@pytest.mark.parametrize("cls", [TGCN, GConvGRU, GConvLSTM])
def test_models_train_and_carry_state(graph, cls):
    ei, ew = graph
    torch.manual_seed(0)
    model = cls(F, 8, out_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    x = torch.randn(3, 6, N, F)
    y = x[..., :1].roll(1, dims=1)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        out, _ = model(x, ei, ew)
        loss = torch.nn.functional.mse_loss(out, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    full, _ = model(x, ei, ew)
    a, s = model(x[:, :2], ei, ew)
    b, _ = model(x[:, 2:], ei, ew, state=s)
    torch.testing.assert_close(torch.cat([a, b], 1), full)


def test_gconv_options():
    assert "operator=gcn" in repr(GConvGRU(F, H, operator="gcn"))
    assert "K=3" in repr(GConvLSTM(F, H, K=3))
    with pytest.raises(ValueError, match="operator"):
        GConvGRU(F, H, operator="gat")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_models_on_cuda_match_cpu(graph):
    ei, ew = graph
    torch.manual_seed(0)
    for model in (TGCN(F, H, out_channels=1), GConvGRU(F, H, out_channels=1, K=2), GConvLSTM(F, H, out_channels=1)):
        x = torch.randn(2, 5, N, F)
        ref, _ = model(x, ei, ew)
        out, state = model.cuda()(x.cuda(), ei.cuda(), ew.cuda())
        assert out.device.type == "cuda" and model.cell.output(state).device.type == "cuda"
        torch.testing.assert_close(out.cpu(), ref, atol=1e-4, rtol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_per_step_input_and_fused_gates_on_cuda_match_cpu(graph, monkeypatch):
    import copy

    import gcnkit.nn.recurrent.fused as fused
    import gcnkit.nn.recurrent.sequence as sequence

    monkeypatch.setattr(sequence, "_PER_STEP_INPUT_NUMEL", 0)  # weights per step, block-diagonal Â
    monkeypatch.setattr(fused, "FUSED_MIN_NUMEL", 0)  # gates with hand-derived backward (CPU: tanh via σ)
    ei, ew = graph
    torch.manual_seed(0)
    for model in (TGCN(F, H, out_channels=1), GConvGRU(F, H, out_channels=1, K=2), GConvLSTM(F, H, out_channels=1)):
        x = torch.randn(3, 4, N, F)
        gpu = copy.deepcopy(model).cuda()
        model(x, ei, ew)[0].square().sum().backward()
        gpu(x.cuda(), ei.cuda(), ew.cuda())[0].square().sum().backward()
        for p, q in zip(model.parameters(), gpu.parameters()):
            torch.testing.assert_close(q.grad.cpu(), p.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cls", [TGCN, GConvGRU, GConvLSTM])
@pytest.mark.parametrize("batch, nodes", [(3, N), (32, 207)])  # autograd gates; fused gates
def test_models_train_under_autocast(cls, batch, nodes):
    # mixed precision: the gates come out of autocast's bf16 products while the state stays
    # float32 (lerp needs one dtype), and the narrow input map's backward must match its forward
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, nodes, (2, 6 * nodes), generator=g)
    torch.manual_seed(0)
    model = cls(1, 8 if nodes == N else 64, out_channels=2)
    x = torch.randn(batch, 4, nodes, 1, generator=g)
    ref, _ = model(x, ei, return_sequence=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = model(x, ei, return_sequence=False)
    out.float().pow(2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    torch.testing.assert_close(out.float(), ref, atol=1e-2, rtol=1e-2)  # bf16 error here: ~3e-3


@pytest.mark.parametrize("cls", [TGCN, GConvGRU, GConvLSTM])
def test_module_apply_reaches_every_submodule(cls):
    # the operators' transform used to be called ``apply``, which shadowed torch.nn.Module.apply:
    # model.apply(init_fn) raised AttributeError
    model = cls(2, 4, out_channels=1)
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert type(model).__name__ in seen and len(seen) > 3
    model.apply(lambda m: torch.nn.init.zeros_(m.weight) if isinstance(m, torch.nn.Linear) else None)


def test_graph_products_under_autocast_with_wide_inputs():
    # a bf16 input to the sparse product (inputs wider than the gates, a lone conv, the GCN
    # model) used to reach MKL's CSR kernel, which has no bfloat16
    from gcnkit.nn import ChebyshevConv, KipfGCNConv
    from gcnkit.nn.models import GCN

    ei = torch.randint(0, 30, (2, 120), generator=torch.Generator().manual_seed(0))
    modules = [(KipfGCNConv(32, 8), torch.randn(30, 32)), (ChebyshevConv(32, 8, 2), torch.randn(30, 32)),
               (GCN(32, 8, out_channels=3), torch.randn(30, 32)),
               (GCN(32, 8, out_channels=3), (torch.rand(30, 32) < 0.1).float().to_sparse())]
    modules += [(cls(64, 4, out_channels=1), torch.randn(2, 3, 30, 64)) for cls in (TGCN, GConvGRU, GConvLSTM)]
    for module, x in modules:
        module.eval()
        ref = module(x, ei)
        ref = ref[0] if isinstance(ref, tuple) else ref
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = module(x, ei)
        out = out[0] if isinstance(out, tuple) else out
        torch.testing.assert_close(out.float(), ref, atol=2e-2, rtol=2e-2)
        out.float().sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())


@pytest.mark.parametrize("make", [lambda: TGCN(2, 8, out_channels=1),
                                  lambda: TGCN(2, 8, out_channels=1, variant="pygt"),
                                  lambda: GConvGRU(2, 8, out_channels=1, K=2),
                                  lambda: GConvLSTM(2, 8, out_channels=1, K=2)])
@pytest.mark.parametrize("batch", [(), (2,)])
def test_models_under_torch_compile(graph, make, batch):
    """torch.compile (graph breaks allowed) gives the eager outputs and gradients. GConvLSTM's
    batched input side used to fail to trace (a failing view inside try/except)."""
    ei, ew = graph
    torch.manual_seed(0)
    model = make()
    x = torch.randn(*batch, 3, 6, 2)
    torch._dynamo.reset()
    try:
        compiled = torch.compile(model, backend="eager")
        results = []
        for m in (model, compiled):
            model.zero_grad()
            y, _ = m(x, ei, ew)
            y.square().sum().backward()
            results.append((y.detach(), [p.grad.clone() for p in model.parameters()]))
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(results[1][0], results[0][0])
    for g1, g0 in zip(results[1][1], results[0][1]):
        torch.testing.assert_close(g1, g0)


def test_pyg_temporal_positional_arguments_are_refused():
    # PyG Temporal: GConvGRU(in, out, K), TGCN(in, out, improved): here out_channels (the read-out)
    # and the rest are keyword-only, so a ported call is an error, not a read-out of width K
    for call in (lambda: GConvGRU(4, 32, 2), lambda: GConvLSTM(4, 32, 3), lambda: TGCN(4, 32, True)):
        with pytest.raises(TypeError, match="positional argument"):
            call()
    assert GConvGRU(4, 32, K=2).readout is None and GConvGRU(4, 32, K=2).K == 2
    with pytest.raises(ValueError, match="K=3 and lambda_max=2.0 apply to operator='cheb'"):
        GConvGRU(4, 8, K=3, operator="gcn")
    with pytest.raises(ValueError, match="apply to operator='cheb'"):
        GConvLSTM(4, 8, operator="gcn", lambda_max="eig")


@pytest.mark.parametrize("cls", [TGCN, GConvGRU, GConvLSTM])
def test_model_widths_are_checked(cls):
    with pytest.raises(TypeError, match="hidden_channels must be an integer, got 3.5"):
        cls(2, 3.5)
    for bad in (2.5, True):  # int() gave a 2-wide and a 1-wide readout
        with pytest.raises(TypeError, match="out_channels must be an integer"):
            cls(2, 3, out_channels=bad)
    for bad in (0, -1):  # 0 built a readout with no outputs
        with pytest.raises(ValueError, match="out_channels must be >= 1"):
            cls(2, 3, out_channels=bad)
    assert cls(2, 3, out_channels=4).readout.out_features == 4
