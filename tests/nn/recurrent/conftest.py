import pytest
import torch


@pytest.fixture
def small_graph():
    """A small weighted directed graph with an isolated node: (edge_index, edge_weight, N)."""
    ei = torch.tensor([[0, 1, 1, 2, 3, 0, 2], [1, 0, 2, 1, 0, 3, 3]])
    ew = torch.tensor([1.0, 0.5, 2.0, 1.5, 0.7, 1.2, 0.3])
    return ei, ew, 5
