"""A compressed-sparse-row matrix that keeps what its backward pass needs.

:class:`CSRMatrix` is the one sparse format gcnkit computes with: the normalized adjacency of
a graph and sparse node features (Cora's are 98.7% zeros) are both stored as one. It builds the
transpose (for ``A^T @ grad`` in the backward pass) once, lazily, and keeps it; a matrix with the
same sparsity pattern and new values (sparse dropout) shares the pattern and the transpose
permutation, so nothing is recomputed per training step that depends only on the pattern.

:func:`~gcnkit.functional.spmm.csr_matmul` (in ``spmm.py``) multiplies it with a dense matrix.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor

from gcnkit.functional._blocks import reserve_blocks
from gcnkit.functional.cache import _version

# torch's notices about its sparse tensors, silenced where gcnkit's own code triggers them only
# (a filter's ``module`` is the module of the Python frame that triggered the warning): a user's
# own sparse tensors still warn as torch intends
for _message in ("Sparse CSR tensor support is in beta state", "Sparse invariant checks are implicitly disabled"):
    warnings.filterwarnings("ignore", message=_message, module=r"gcnkit(\.|$)")

_LOW_PRECISION = (torch.bfloat16, torch.float16)


def _check_range(what: str, index: Tensor, size: int) -> None:
    """A clear error for an index outside ``[0, size)`` (CPU indices only: on a device the check
    would wait for it, and gcnkit's own graph inputs are checked before they get here)."""
    if index.device.type != "cpu" or not index.numel():
        return
    lo, hi = int(index.min()), int(index.max())
    if lo < 0 or hi >= size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"CSRMatrix: {what} index {bad} is out of range for a matrix with {size} {what}s")


def to_arguments(owner: str, device, dtype) -> tuple:
    """``(device, dtype)`` of a ``.to(device, dtype)`` call that, as ``Tensor.to``, may give a dtype
    alone first (``m.to(torch.float64)``); two dtypes are a ``TypeError``."""
    if isinstance(device, torch.dtype):
        if dtype is not None:
            raise TypeError(f"{owner}.to got two dtypes ({device} and {dtype})")
        return None, device
    return device, dtype


def check_row_pointers(crow: Tensor, rows: int, nnz: int, what: str) -> None:
    """A CSR matrix's ``crow_indices`` for ``rows`` rows and ``nnz`` entries: ``rows + 1`` values from
    0 to ``nnz``, never decreasing (``torch.sparse_csr_tensor`` does not check them by default)."""
    if (crow.numel() != rows + 1 or int(crow[0]) != 0 or int(crow[-1]) != nnz
            or bool((crow[1:] < crow[:-1]).any())):
        raise ValueError(f"{what}: inconsistent row pointers for {rows} rows and {nnz} entries "
                         f"(crow_indices must start at 0, not decrease and end at {nnz})")


class CSRMatrix:
    r"""An immutable ``[rows, cols]`` CSR matrix with a cached transpose.

    What is derived from the values (the transpose, block-diagonal and dense copies) is made
    again when the values are written in place, as seen by their version counter; writes that
    bypass it (through ``.data`` or a shared NumPy buffer) are not seen.

    Args:
        crow (LongTensor): compressed row pointers, shape ``[rows + 1]``.
        col (LongTensor): column of each stored value, shape ``[nnz]``, sorted within a row.
        value (Tensor): stored values, shape ``[nnz]``.
        shape (tuple): ``(rows, cols)``.
    """

    __slots__ = ("crow", "col", "value", "shape", "_pattern", "_torch", "_t", "_blocks", "_dense", "_version",
                 "__weakref__")

    def __init__(self, crow: Tensor, col: Tensor, value: Tensor, shape: Tuple[int, int],
                 _pattern: Optional[dict] = None, _row: Optional[Tensor] = None):
        self.crow, self.col, self.value = crow, col, value
        self.shape = (int(shape[0]), int(shape[1]))
        # what depends only on the sparsity pattern (COO rows, the transpose permutation, int32
        # indices), shared by every matrix made from this one by with_values()
        self._pattern: dict = {} if _pattern is None else _pattern
        if _row is not None:
            self._pattern["row"] = _row
        self._torch: Optional[Tensor] = None
        self._t: Optional[CSRMatrix] = None
        self._blocks: Optional[dict] = None
        self._dense: Optional[Tensor] = None
        self._version = _version(value)  # of the values the transpose and block copies hold

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_coo(cls, row: Tensor, col: Tensor, value: Tensor, shape: Tuple[int, int]) -> "CSRMatrix":
        """Builds a CSR matrix from coalesced-or-not COO entries; duplicates are summed."""
        rows, cols = int(shape[0]), int(shape[1])
        if row.shape != col.shape or value.shape != col.shape or col.dim() != 1:
            raise ValueError(f"CSRMatrix.from_coo: row, col and value must be 1-D of one length, got shapes "
                             f"{tuple(row.shape)}, {tuple(col.shape)} and {tuple(value.shape)}")
        _check_range("row", row, rows)
        _check_range("column", col, cols)
        row, col = row.long(), col.long()  # int32 keys row * cols + col overflow from ~46k nodes
        key = row * cols + col
        if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
            key, inverse = torch.unique(key, sorted=True, return_inverse=True)
            value = value.new_zeros(key.numel()).index_add(0, inverse, value)
            row, col = torch.div(key, cols, rounding_mode="floor"), key % cols
        counts = torch.bincount(row, minlength=rows)
        crow = torch.zeros(rows + 1, dtype=torch.long, device=row.device)
        torch.cumsum(counts, 0, out=crow[1:])
        return cls(crow, col, value, (rows, cols), _row=row)

    @classmethod
    def from_torch(cls, a: Tensor) -> "CSRMatrix":
        """From a ``torch.sparse`` COO or CSR tensor (or a dense 2-D one)."""
        if a.layout in (torch.sparse_csr, torch.sparse_coo) and (a.dim() != 2 or a.dense_dim() != 0):
            raise TypeError(f"expected a 2-D torch.sparse COO/CSR matrix with scalar values, got shape "
                            f"{tuple(a.shape)} ({a.sparse_dim()} sparse and {a.dense_dim()} dense dimensions)")
        if a.layout == torch.sparse_csr:
            crow, col = a.crow_indices(), a.col_indices()
            if crow.device.type == "cpu":  # (torch builds these without checking them by default)
                check_row_pointers(crow, a.shape[0], col.numel(), "CSRMatrix.from_torch")
                _check_range("column", col, a.shape[1])
            return cls(crow.long(), col.long(), a.values(), (a.shape[0], a.shape[1]))
        if a.layout == torch.sparse_coo:
            a = a.coalesce()
            idx = a.indices()
            return cls.from_coo(idx[0], idx[1], a.values(), (a.shape[0], a.shape[1]))
        if a.layout == torch.strided and a.dim() == 2:
            return cls.from_torch(a.to_sparse_csr())
        raise TypeError(f"expected a 2-D torch.sparse COO/CSR tensor, got layout {a.layout}, dim {a.dim()}")

    def with_values(self, value: Tensor) -> "CSRMatrix":
        """The same sparsity pattern with new values (e.g. sparse dropout); shares the transpose pattern."""
        if value.shape != self.value.shape:
            raise ValueError(f"with_values: expected {tuple(self.value.shape)} values, got {tuple(value.shape)}")
        return CSRMatrix(self.crow, self.col, value, self.shape, self._pattern)

    # ------------------------------------------------------------------ accessors
    @property
    def nnz(self) -> int:
        return self.col.numel()

    @property
    def row(self) -> Tensor:
        """Row index of every stored value (COO rows), computed once."""
        row = self._pattern.get("row")
        if row is None:
            counts = self.crow[1:] - self.crow[:-1]
            row = torch.repeat_interleave(torch.arange(self.shape[0], device=self.crow.device), counts,
                                          output_size=self.nnz)  # known size: no device sync
            self._pattern["row"] = row
        return row

    @property
    def dtype(self) -> torch.dtype:
        return self.value.dtype

    @property
    def device(self) -> torch.device:
        return self.value.device

    def _transpose_pattern(self) -> tuple:
        """(pattern of the transpose, permutation of the values), computed once per pattern."""
        if "t" not in self._pattern:
            rows, cols = self.shape
            perm = torch.argsort(self.col * rows + self.row, stable=True)
            counts = torch.bincount(self.col, minlength=cols)
            crow_t = torch.zeros(cols + 1, dtype=torch.long, device=self.crow.device)
            torch.cumsum(counts, 0, out=crow_t[1:])
            t_pattern = {"row": self.col[perm]}
            self._pattern["t"] = (crow_t, self.row[perm], perm, t_pattern)
        return self._pattern["t"]

    def _drop_stale_copies(self) -> None:
        """Forgets the transpose and the block-diagonal copies when the values were written in
        place since they were made (``torch.sparse`` features share the user's values)."""
        v = _version(self.value)
        if v != self._version:  # (None, for inference tensors, keeps them)
            if self._t is not None and self._t._t is self:
                self._t._t = None
            self._t, self._blocks, self._dense, self._version = None, None, None, v

    def t(self) -> "CSRMatrix":
        """The transpose, built once (its pattern is shared with every :meth:`with_values` copy)."""
        self._drop_stale_copies()
        if self._t is None:
            crow_t, col_t, perm, t_pattern = self._transpose_pattern()
            self._t = CSRMatrix(crow_t, col_t, self.value.index_select(0, perm), (self.shape[1], self.shape[0]),
                                t_pattern)
            self._t._t = self
        return self._t

    def to_torch(self) -> Tensor:
        """A ``torch.sparse_csr`` tensor sharing this matrix's storage (built once; per call for values
        that require grad, so that the tensor carries their current autograd history)."""
        if self._torch is None or self.value.requires_grad:
            # int32 indices: MKL's kernels take them as they are instead of converting per call
            idx = self._pattern.get("int32")
            if idx is None:
                small = self.nnz < 2**31 - 1 and max(self.shape) < 2**31 - 1
                idx = (self.crow.int(), self.col.int()) if small else (self.crow, self.col)
                self._pattern["int32"] = idx
            crow, col = idx
            out = torch.sparse_csr_tensor(crow, col, self.value, self.shape, check_invariants=False)
            if self.value.requires_grad:
                return out
            self._torch = out
        return self._torch

    def to_dense(self) -> Tensor:
        out = self.value.new_zeros(self.shape)
        out.index_put_((self.row, self.col), self.value, accumulate=True)
        return out

    def _kept_dense(self) -> Tensor:
        """A dense copy for the products of small matrices (``spmm._DENSE_MAX_MACS``), kept and
        made again when the values were written in place; callers must not write to it."""
        d = self._dense
        if d is not None and self._version == _version(self.value):  # (a few us matter here)
            return d
        return self._make_dense()

    @torch.compiler.disable  # (dynamo would drop the inference_mode(False) below)
    def _make_dense(self) -> Tensor:
        """Made outside inference mode, so a first product under ``torch.inference_mode()`` leaves
        a copy that training can save for backward. Values without a version counter (inference
        tensors) get a fresh copy every call and none is kept: in-place writes to them could not
        be seen."""
        if self.value.requires_grad:
            raise ValueError("a kept dense copy of values that require grad would be a stale copy")
        with torch.inference_mode(False):
            if _version(self.value) is None:
                return self.to_dense()
            self._drop_stale_copies()
            if self._dense is None:
                self._dense = self.to_dense()
            return self._dense

    def to(self, device=None, dtype=None) -> "CSRMatrix":
        """On ``device`` with values of ``dtype`` (``self`` when both match); as ``Tensor.to``, a
        dtype alone may come first: ``m.to(torch.float64)``."""
        device, dtype = to_arguments("CSRMatrix", device, dtype)
        device = self.device if device is None else torch.device(device)
        dtype = self.dtype if dtype is None else dtype
        if device == self.device and dtype == self.dtype:
            return self
        if device == self.device:  # a dtype change keeps the pattern (and its cached transpose)
            return CSRMatrix(self.crow, self.col, self.value.to(dtype), self.shape, self._pattern)
        return CSRMatrix(self.crow.to(device), self.col.to(device), self.value.to(device, dtype), self.shape)

    def detach(self) -> "CSRMatrix":
        if not self.value.requires_grad:
            return self
        return CSRMatrix(self.crow, self.col, self.value.detach(), self.shape, self._pattern)

    def block_diagonal(self, copies: int) -> "CSRMatrix":
        """``I_copies ⊗ self``: ``copies`` copies of this matrix on the diagonal (built once per
        ``copies``, a few kept), so a batch ``[B, N, F]`` is multiplied as ``[B*N, F]`` with no
        transposes. Not for values that require grad (it would be a stale copy)."""
        if self.value.requires_grad:
            raise ValueError("block_diagonal of a matrix whose values require grad")
        self._drop_stale_copies()
        if self._blocks is None:
            self._blocks = {}
        m = self._blocks.get(copies)
        if m is None:
            # batch sizes of training, the last batch, prediction: a few kept, at most
            # 2 * _BLOCK_DIAGONAL_MAX_NNZ stored values in all (with their transposes, ~60 B each)
            if len(self._blocks) >= 8 or copies * self.nnz + sum(b.nnz for b in self._blocks.values()) \
                    > 2 * _BLOCK_DIAGONAL_MAX_NNZ:
                self._blocks.clear()
            reserve_blocks(self, copies * self.nnz, 2 * _BLOCK_DIAGONAL_MAX_NNZ)
            k = torch.arange(copies, device=self.device).unsqueeze(1)
            crow = torch.cat([(self.crow[:-1].unsqueeze(0) + k * self.nnz).reshape(-1),
                              self.crow.new_full((1,), copies * self.nnz)])
            col = (self.col.unsqueeze(0) + k * self.shape[1]).reshape(-1)
            m = CSRMatrix(crow, col, self.value.repeat(copies), (copies * self.shape[0], copies * self.shape[1]))
            self._blocks[copies] = m
        return m

    def __deepcopy__(self, memo) -> "CSRMatrix":
        """A copy of the defining tensors (``copy.deepcopy`` of a model or graph holding one); the
        derived transposes and copies, a ``torch.sparse`` view among them, are rebuilt on use."""
        import copy

        return CSRMatrix(copy.deepcopy(self.crow, memo), copy.deepcopy(self.col, memo),
                         copy.deepcopy(self.value, memo), self.shape)

    def __getstate__(self):
        return {"crow": self.crow, "col": self.col, "value": self.value, "shape": self.shape}

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple):  # pickled by an earlier version: (None, {slot: value})
            state = state[1]
        CSRMatrix.__init__(self, state["crow"], state["col"], state["value"], state["shape"])

    def __repr__(self) -> str:
        return f"CSRMatrix(shape={self.shape}, nnz={self.nnz}, dtype={self.dtype}, device={self.device})"


#: Batches ``[*, N, F]`` are multiplied against a block-diagonal copy of the matrix when it has at
#: most this many stored values (else the batch is folded into columns, with two transposes); the
#: copies kept for several batch sizes hold at most twice this many in all, so a sequence's
#: all-steps copy (B*T blocks) and per-step copy (B) stay side by side (with their transposes and
#: index copies about 60 bytes per value: 500 MB at most).
_BLOCK_DIAGONAL_MAX_NNZ = 1 << 22


# the products live in spmm.py; imported here as well, where they were defined before
from gcnkit.functional.spmm import csr_matmul  # noqa: E402,F401
