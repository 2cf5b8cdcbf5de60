import pytest

import gcnkit.functional.graph_input as graph_input
from gcnkit.functional import graph_cache


@pytest.fixture(autouse=True)
def _single_thread(single_thread):
    """Every test here on one thread (see ``single_thread`` in tests/conftest.py)."""


@pytest.fixture
def fresh_cache():
    """The graph cache, emptied before and after the test."""
    graph_cache.clear()
    yield graph_cache
    graph_cache.clear()


@pytest.fixture
def count_normalizations(monkeypatch):
    """A list that grows by one at every normalization the graph input path makes."""
    calls = []
    original = graph_input.normalize_adjacency

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(graph_input, "normalize_adjacency", counting)
    return calls
