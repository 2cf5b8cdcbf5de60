import pytest


@pytest.fixture(autouse=True)
def _single_thread(single_thread):
    """Every test here on one thread (see ``single_thread`` in tests/conftest.py)."""
