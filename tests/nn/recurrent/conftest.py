import pytest
import torch

from gcnkit.nn.recurrent import fused


@pytest.fixture
def small_graph():
    """A small weighted directed graph with an isolated node: (edge_index, edge_weight, N)."""
    ei = torch.tensor([[0, 1, 1, 2, 3, 0, 2], [1, 0, 2, 1, 0, 3, 3]])
    ew = torch.tensor([1.0, 0.5, 2.0, 1.5, 0.7, 1.2, 0.3])
    return ei, ew, 5


@pytest.fixture(params=["fused", "autograd"])
def gate_path(request, monkeypatch):
    """Runs a test on both paths of the gate functions: the hand-derived backward passes and
    autograd of the same equations."""
    monkeypatch.setattr(fused, "FUSED_MIN_NUMEL", 0 if request.param == "fused" else 1 << 62)
    return request.param
