"""Sparse dropout on stored feature values: the exact keep rate and scaling (Kipf's sparse_dropout)."""
import math

import pytest
import torch

from gcnkit.functional.features import dropout, sparse_dropout
from gcnkit.functional.sparse import CSRMatrix

N_ROWS, N_COLS = 1000, 2000  # 200k stored values (10% density)


def _sparse_features():
    g = torch.Generator().manual_seed(0)
    cols = torch.stack([torch.randperm(N_COLS, generator=g)[:N_COLS // 10] for _ in range(N_ROWS)])
    rows = torch.arange(N_ROWS).repeat_interleave(N_COLS // 10)
    values = torch.rand(rows.numel(), generator=g, dtype=torch.float64) + 0.5  # no zeros: dropped is 0
    return CSRMatrix.from_coo(rows, cols.reshape(-1), values, (N_ROWS, N_COLS))


# byte-mask path (256 p an integer: 1/256, 0.25, 0.5, 255/256) and torch.rand path (0.3, 0.9, 254/255)
@pytest.mark.parametrize("p", [1 / 256, 0.25, 0.5, 0.3, 0.9, 255 / 256, 254 / 255])
def test_sparse_dropout_keeps_one_minus_p_of_the_values_scaled_by_its_inverse(p):
    torch.manual_seed(0)
    x = _sparse_features()
    n = x.nnz
    assert n == 200_000
    out = sparse_dropout(x, p, training=True)
    assert out.crow is x.crow and out.col is x.col  # the pattern (and its cached transpose) is shared
    kept = out.value != 0
    k = int(kept.sum())
    # binomial(n, 1 - p): within 5 standard errors (a mask off by one byte value in 256, or keeping
    # with probability p instead of 1 - p, is many more away)
    se = math.sqrt(n * p * (1 - p))
    assert abs(k - n * (1 - p)) < 5 * se, (k, n * (1 - p), se)
    # kept values scaled by exactly 1 / (1 - p), dropped ones exactly 0
    torch.testing.assert_close(out.value[kept], x.value[kept] / (1 - p), rtol=1e-12, atol=0)
    assert torch.equal(out.value[~kept], torch.zeros(n - k, dtype=torch.float64))
    # the dense dropout of the same values draws the same way
    torch.manual_seed(0)
    torch.testing.assert_close(dropout(x.value, p, training=True), out.value, rtol=0, atol=0)


def test_sparse_dropout_expected_value_is_unchanged():
    # E[dropout(x)] = x: the mean over 200k values of one draw stays within a few standard errors
    torch.manual_seed(1)
    x = _sparse_features()
    ones = x.with_values(torch.ones_like(x.value))
    for p in (0.5, 0.1875, 0.7):
        out = sparse_dropout(ones, p, training=True).value
        se = math.sqrt(p / (1 - p) / out.numel())  # std of one value: sqrt(p / (1 - p))
        assert abs(float(out.mean()) - 1.0) < 5 * se


def test_sparse_dropout_off_returns_the_input():
    x = _sparse_features()
    assert sparse_dropout(x, 0.5, training=False) is x
    assert sparse_dropout(x, 0.0, training=True) is x
    for p in (-0.1, 1.0):
        with pytest.raises(ValueError, match="dropout probability"):
            sparse_dropout(x, p)


@pytest.mark.parametrize("sparse", [False, True])
def test_row_normalized_features_sum_to_one(sparse):
    """Kipf's preprocessing: each row divided by its sum (zero rows stay zero)."""
    from gcnkit.functional import CSRMatrix
    from gcnkit.functional.features import row_normalize_features

    x = torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 4.0]])
    out = row_normalize_features(CSRMatrix.from_torch(x.to_sparse_csr()) if sparse else x)
    dense = out.to_dense() if sparse else out
    torch.testing.assert_close(dense, torch.tensor([[0.25, 0.75, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]]))


@pytest.mark.parametrize("sparse", [False, True])
def test_row_normalization_refuses_negative_features_and_takes_tiny_sums(sparse):
    # was: [1, -1] erased to zeros, [1, -0.999] scaled by 1000, [1, -1.001] refused (only negative
    # sums were); a subnormal row sum gave inf/NaN (dense) or inf (sparse) instead of 1
    from gcnkit.functional import CSRMatrix
    from gcnkit.functional.features import row_normalize_features

    def run(x):
        out = row_normalize_features(CSRMatrix.from_torch(x.to_sparse_csr()) if sparse else x)
        return out.to_dense() if sparse else out

    for row in ([1.0, -1.0], [1.0, -0.999], [1.0, -1.001]):
        with pytest.raises(ValueError, match=r"negative feature value.*feature_norm='none'"):
            run(torch.tensor([[2.0, 2.0], row]))
    tiny = torch.tensor([[1e-45, 0.0], [3e-39, 1e-39], [0.0, 0.0], [1.0, 3.0]])
    torch.testing.assert_close(run(tiny), torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.0, 0.0], [0.25, 0.75]]))


@pytest.mark.parametrize("p", [0.25, 0.5, 0.75])
def test_the_byte_mask_keeps_the_draws_at_or_above_256_p(p):
    """The mask is the random bytes compared with 256 p (p = 0.5 reads their sign bit): the same
    masks as every earlier version, so seeded runs keep their numbers."""
    from gcnkit.functional.features import _keep_mask

    for shape in [(1001, 7), (13,), (3, 4, 5)]:
        n = math.prod(shape)
        words = torch.randint(-(2**63), 2**63 - 1, ((n + 7) // 8,), dtype=torch.int64,
                              generator=torch.Generator().manual_seed(n))
        expected = (words.view(torch.uint8)[:n] >= int(256 * p)).view(shape)
        assert torch.equal(_keep_mask(shape, p, "cpu", torch.Generator().manual_seed(n)), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("p", [0.5, 0.3, 0.25])
def test_dropout_values_are_x_times_mask_times_the_scale_exactly(dtype, p):
    from gcnkit.functional.features import _keep_mask

    x = torch.randn(1000, 16, generator=torch.Generator().manual_seed(0)).to(dtype)
    out = dropout(x, p, generator=torch.Generator().manual_seed(1))
    mask = _keep_mask(x.shape, p, "cpu", torch.Generator().manual_seed(1))
    assert out.dtype == dtype and torch.equal(out, x * mask * (1.0 / (1.0 - p)))


@pytest.mark.parametrize("n", [64, 61])
def test_the_byte_mask_draws_exactly_the_words_it_needs(n):
    """A mask of n entries consumes ceil(n / 8) random words, no more: the draws after it (the
    next layer's mask, the next epoch's) are those of every earlier version, so seeded runs keep
    their numbers (an extra word when 8 divides n would shift every later mask)."""
    from gcnkit.functional.features import _keep_mask

    gen = torch.Generator().manual_seed(5)
    _keep_mask((n,), 0.25, "cpu", gen)
    ref = torch.Generator().manual_seed(5)
    torch.randint(-(2**63), 2**63 - 1, ((n + 7) // 8,), dtype=torch.int64, generator=ref)
    assert torch.equal(gen.get_state(), ref.get_state())
    # and so two masks in a row from one generator equal one mask of both sizes' words
    x = torch.ones(n)
    gen = torch.Generator().manual_seed(5)
    first, second = dropout(x, 0.25, generator=gen), dropout(x, 0.25, generator=gen)
    words = torch.randint(-(2**63), 2**63 - 1, (2 * ((n + 7) // 8),), dtype=torch.int64,
                          generator=torch.Generator().manual_seed(5)).view(torch.uint8)
    block = 8 * ((n + 7) // 8)
    assert torch.equal(first != 0, words[:n] >= 64) and torch.equal(second != 0, words[block:block + n] >= 64)


def test_dropout_refuses_what_it_cannot_drop_from():
    # was: an integer tensor came back as floats; a torch.sparse tensor an AttributeError ('value')
    from gcnkit.functional.features import dropout, sparse_dropout

    with pytest.raises(TypeError, match="dropout needs a floating-point tensor, got torch.int64"):
        dropout(torch.arange(10), 0.5)
    with pytest.raises(TypeError, match=r"sparse_dropout takes a CSRMatrix \(CSRMatrix.from_torch"):
        sparse_dropout(torch.eye(3).to_sparse(), 0.5)
