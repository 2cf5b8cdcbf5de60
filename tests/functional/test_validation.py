"""check_finite and the names a caller vouches for (finite_checked)."""
import pytest
import torch

from gcnkit.functional.validation import check_finite, finite_checked


def test_finite_checked_skips_only_the_named_values_and_restores_on_exit():
    bad = torch.tensor([1.0, float("nan")])
    with finite_checked("x"):
        check_finite("x", bad)  # vouched for by the caller
        with pytest.raises(ValueError, match="state has 1 non-finite values"):
            check_finite("state", bad)
        with finite_checked("state"):
            check_finite("state", bad)
            check_finite("x", bad)
        with pytest.raises(ValueError, match="state has"):
            check_finite("state", bad)
    with pytest.raises(ValueError, match=r"x has 1 non-finite values \(1 NaN, 0 inf\) of 2"):
        check_finite("x", bad)
    with pytest.raises(KeyError):
        with finite_checked("x"):
            raise KeyError("boom")
    with pytest.raises(ValueError, match="x has"):  # restored after an error too
        check_finite("x", bad)
