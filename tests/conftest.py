"""Shared test configuration: the ``gpu`` marker and deterministic seeding."""
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

# Hypothesis draws the same examples on every run (a failure reproduces; CI is not a lottery)
settings.register_profile("gcnkit", derandomize=True)
settings.load_profile("gcnkit")


def pytest_configure(config):
    # Registered here as well as in pyproject.toml, so the marker works from any rootdir.
    config.addinivalue_line("markers", "gpu: needs CUDA; skipped without it")
    config.addinivalue_line("markers", "slow: longer runs")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def seed():
    """Seeds torch and numpy before every test; returns the seed. (Not Python's ``random``: PyG's
    ``Sequential`` names its generated code with ``random.randrange``, and reseeding it makes two
    models share one generated ``forward``.)"""
    torch.manual_seed(0)
    np.random.seed(0)
    return 0


# --------------------------------------------------------------------------- dense oracles
class DenseOracle:
    """Reference formulas with dense float64 NumPy matrices, independent of gcnkit's code.

    Convention: ``edge_index[0]`` = source j, ``edge_index[1]`` = target i, matrix entry A[i, j].
    """

    @staticmethod
    def adjacency(edge_index, edge_weight, num_nodes) -> np.ndarray:
        """A[i, j] = summed weight of the edges j -> i (duplicates summed)."""
        ei = np.asarray(edge_index, dtype=np.int64)
        w = np.ones(ei.shape[1]) if edge_weight is None else np.asarray(
            torch.as_tensor(edge_weight).detach().double().cpu().numpy())
        a = np.zeros((num_nodes, num_nodes))
        for (j, i), wij in zip(ei.T, w):
            a[i, j] += wij
        return a

    @classmethod
    def with_loops(cls, edge_index, edge_weight, num_nodes, self_loop_weight) -> np.ndarray:
        """A + w I where w is added only on nodes that have no self-loop edge."""
        a = cls.adjacency(edge_index, edge_weight, num_nodes)
        ei = np.asarray(edge_index, dtype=np.int64)
        has_loop = set(int(s) for s, t in ei.T if s == t)
        for i in range(num_nodes):
            if i not in has_loop:
                a[i, i] += self_loop_weight
        return a

    @staticmethod
    def _inv_power(deg, p):
        out = np.zeros_like(deg)
        nz = deg != 0
        out[nz] = deg[nz] ** p
        return out

    @classmethod
    def degrees(cls, a_tilde, norm) -> np.ndarray:
        return a_tilde.sum(0) if norm == "col" else a_tilde.sum(1)

    @classmethod
    def normalized(cls, edge_index, edge_weight, num_nodes, norm="sym", self_loop_weight=1.0):
        """The normalized operator Â for the given norm (zero-degree rows/columns give 0)."""
        a = cls.with_loops(edge_index, edge_weight, num_nodes, self_loop_weight)
        deg = cls.degrees(a, norm)
        if norm == "sym":
            d = cls._inv_power(deg, -0.5)
            return d[:, None] * a * d[None, :]
        if norm == "row":
            return cls._inv_power(deg, -1.0)[:, None] * a
        if norm == "col":
            return a * cls._inv_power(deg, -1.0)[None, :]
        assert norm == "none"
        return a

    @classmethod
    def sym_no_loops(cls, edge_index, edge_weight, num_nodes, remove_self_loops=False):
        """S = D^-1/2 A D^-1/2 (no added self-loops; the graph's own dropped if asked)."""
        a = cls.adjacency(edge_index, edge_weight, num_nodes)
        if remove_self_loops:
            np.fill_diagonal(a, 0.0)
        d = cls._inv_power(a.sum(1), -0.5)
        return d[:, None] * a * d[None, :]

    @classmethod
    def scaled_laplacian(cls, edge_index, edge_weight, num_nodes, lambda_max, remove_self_loops=False):
        """L~ = 2 (I - S) / lambda_max - I."""
        n = num_nodes
        lap = np.eye(n) - cls.sym_no_loops(edge_index, edge_weight, n, remove_self_loops)
        return 2.0 * lap / lambda_max - np.eye(n)

    @classmethod
    def lambda_max(cls, edge_index, edge_weight, num_nodes, remove_self_loops=False) -> float:
        """Largest eigenvalue of L = I - S (directed graphs: the largest real part)."""
        lap = np.eye(num_nodes) - cls.sym_no_loops(edge_index, edge_weight, num_nodes, remove_self_loops)
        if np.allclose(lap, lap.T):
            return float(np.linalg.eigvalsh(lap).max())
        return float(np.linalg.eigvals(lap).real.max())

    @staticmethod
    def chebyshev_polynomials(l_tilde, K):
        """[T_0(L~), ..., T_K(L~)] by the three-term recurrence."""
        n = l_tilde.shape[0]
        ts = [np.eye(n)]
        if K >= 1:
            ts.append(l_tilde.copy())
        for _ in range(2, K + 1):
            ts.append(2.0 * l_tilde @ ts[-1] - ts[-2])
        return ts


@pytest.fixture(scope="session")
def oracle():
    return DenseOracle


# --------------------------------------------------------------------------- test graphs
def _graph(edges, weights, num_nodes):
    ei = torch.tensor(edges, dtype=torch.long).t().contiguous()
    ew = None if weights is None else torch.tensor(weights, dtype=torch.float64)
    return ei, ew, num_nodes


def make_graph_zoo():
    """Small hand-made graphs ``name -> (edge_index, edge_weight or None, num_nodes)``; each
    exercises one case of the normalization contract (``kitchen_sink`` all at once)."""
    zoo = {}
    # directed, unweighted: node 0 only sends, node 4 only receives
    zoo["directed"] = _graph([(0, 1), (0, 2), (1, 2), (2, 3), (3, 1), (1, 4), (3, 4)], None, 5)
    # directed, weighted
    zoo["weighted"] = _graph([(0, 1), (1, 0), (1, 2), (2, 3), (3, 0), (0, 2)],
                             [0.5, 2.0, 1.5, 0.25, 3.0, 1.0], 4)
    # isolated nodes (5 and 6 have no edge at all; node 0 receives nothing)
    zoo["isolated"] = _graph([(0, 1), (1, 2), (2, 1), (3, 4)], [1.0, 2.0, 0.5, 1.5], 7)
    # existing self-loops (weights 3, 0.5 and 0 on nodes 0, 2, 3) are kept, not doubled
    zoo["self_loops"] = _graph([(0, 0), (0, 1), (1, 2), (2, 2), (2, 0), (3, 3), (3, 1)],
                               [3.0, 1.0, 2.0, 0.5, 1.0, 0.0, 1.0], 4)
    # duplicate edges (summed), unsorted
    zoo["duplicates"] = _graph([(1, 0), (0, 1), (1, 0), (2, 1), (0, 1), (1, 2), (1, 0)],
                               [1.0, 0.5, 2.0, 1.0, 1.5, 0.75, 0.25], 3)
    # undirected weighted (symmetric)
    und = [(0, 1, 1.0), (1, 2, 0.5), (2, 3, 2.0), (3, 0, 1.5), (0, 2, 0.25), (3, 4, 1.0)]
    edges = [(s, t) for s, t, _ in und] + [(t, s) for s, t, _ in und]
    zoo["undirected"] = _graph(edges, [w for *_, w in und] * 2, 6)  # node 5 isolated
    # everything at once
    zoo["kitchen_sink"] = _graph(
        [(0, 1), (1, 0), (0, 1), (2, 2), (3, 2), (2, 4), (4, 4), (4, 0), (1, 3), (3, 2)],
        [1.0, 0.5, 2.0, 4.0, 0.3, 1.2, 0.7, 2.5, 1.1, 0.4], 7)  # 5, 6 isolated
    return zoo


GRAPH_NAMES = tuple(make_graph_zoo())


@pytest.fixture
def graph_zoo():
    """Fresh tensors for every test (tests may modify them in place)."""
    return make_graph_zoo()


@pytest.fixture(params=GRAPH_NAMES)
def zoo_graph(request):
    """Each zoo graph in turn: ``(name, edge_index, edge_weight, num_nodes)``."""
    return (request.param, *make_graph_zoo()[request.param])


@pytest.fixture
def single_thread():
    """Runs a test with one intra-op thread (restored afterwards). Tiny test graphs gain nothing
    from threads, and on a loaded 2-core machine OpenMP's thread hand-off makes each small sparse
    matmul take ~10 ms instead of ~10 us."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def cuda_syncs():
    """``cuda_syncs(fn)``: the places (file:line) of the host synchronisations ``fn()`` makes,
    from torch's sync debug mode. The first call is made twice and the first count dropped: torch
    makes a one-off synchronisation of its own under the debug mode (seen on torch 2.11)."""
    import warnings

    first = [True]

    def count(fn):
        for _ in range(2 if first[0] else 1):
            first[0] = False
            torch.cuda.synchronize()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
                try:
                    fn()
                finally:
                    torch.cuda.set_sync_debug_mode("default")
            torch.cuda.synchronize()
        return [f"{w.filename}:{w.lineno}" for w in caught if "synchroniz" in str(w.message)]
    return count


@pytest.fixture
def csr_path(monkeypatch):
    """Small products through the sparse kernel and its custom backward, not the dense copy
    that the CPU uses for them (``gcnkit.functional.spmm._DENSE_MAX_MACS``)."""
    import gcnkit.functional.spmm as spmm

    monkeypatch.setattr(spmm, "_DENSE_MAX_MACS", 0)


@pytest.fixture(params=["dense", "csr"])
def product_path(request):
    """Runs a test twice: small products on the CPU through the kept dense copy (the default),
    and through the sparse kernel."""
    if request.param == "csr":
        request.getfixturevalue("csr_path")
    return request.param


@pytest.fixture
def eigensolver_calls(monkeypatch):
    """Counts calls of every eigen-solver lambda_max could use (ARPACK's and LAPACK's)."""
    import scipy.sparse.linalg as spla

    calls = []

    def counting(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for module, name in ((spla, "eigsh"), (spla, "eigs"), (np.linalg, "eigvalsh"), (np.linalg, "eigvals"),
                         (np.linalg, "eigh"), (np.linalg, "eig")):
        counting(module, name)
    return calls


# --------------------------------------------------------------------------- offline data
# ``shared_data_root``: the offline copy of the raw files, found at ``$GCNKIT_DATA`` or
# ``<repo>/../shared/datasets``; tests using it are skipped when neither has the files. Every test
# runs with ``$GCNKIT_CACHE`` pointing to a per-session temporary folder, so nothing is written to
# ``~/.cache``.
from gcnkit_test_data import find_shared_data_root  # noqa: E402  (tests/gcnkit_test_data.py)


@pytest.fixture(scope="session")
def shared_data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline raw files, read-only. Where the copy found is writable (a copy carried to
    another machine, say), the tests get a read-only copy of its raw files instead: loaders keep
    their processed files next to the raw files of a writable root, and the tests must neither
    write into the shared copy nor depend on what an earlier run left there."""
    import shutil

    from gcnkit.data.root import is_writable

    root = find_shared_data_root()
    if root is None:
        pytest.skip("offline dataset copy not found: set $GCNKIT_DATA or "
                    "provide <repo>/../shared/datasets")
    if any(is_writable(p) for p in (root, *root.rglob("*")) if p.is_dir()):
        copy = tmp_path_factory.mktemp("shared_read_only") / "datasets"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("processed"))
        for p in sorted(copy.rglob("*"), reverse=True) + [copy]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        root = copy
    return root


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gcnkit_cache")


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch: pytest.MonkeyPatch,
                    _session_cache: Path) -> None:
    monkeypatch.setenv("GCNKIT_CACHE", str(_session_cache))


@pytest.fixture
def once_per_sequence():
    """Checks a per-sequence saving: ``run(T)`` returns ``(count, output, gradients)``; the count
    is the same for a short and a long sequence, and larger once ``switch_off()`` has disabled the
    saving, which changes neither the output nor the gradients."""
    def check(run, switch_off, short: int = 3, long: int = 9) -> None:
        n_short, out, grads = run(short)
        n_long, _, _ = run(long)
        assert n_short == n_long > 0  # per sequence, not per step
        switch_off()
        n_off, out_off, grads_off = run(short)
        assert n_off > n_short
        torch.testing.assert_close(out, out_off)
        for g, g_off in zip(grads, grads_off):
            torch.testing.assert_close(g, g_off)
    return check


# --------------------------------------------------------------------------- host syncs
class _SyncCounter:
    """Counts the aten ops that read values on the host (each a device synchronisation on CUDA:
    ``bool(t)``, ``.item()``, ``nonzero``, ``unique``, ``bincount``), on any device."""

    OPS = ("_local_scalar_dense", "nonzero", "bincount", "_unique2", "unique_consecutive", "masked_select")

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if func.overloadpacket.__name__ in counter.OPS:
                    counter.count += 1
                return func(*args, **(kwargs or {}))

        self.mode, self.count = Mode, 0

    def __call__(self, fn) -> int:
        """Host reads made by ``fn()``."""
        self.count = 0
        with self.mode():
            fn()
        return self.count


@pytest.fixture
def host_syncs():
    """``host_syncs(fn)``: the number of host reads of tensor values ``fn()`` makes."""
    return _SyncCounter()
