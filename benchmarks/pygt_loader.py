"""PyTorch Geometric Temporal's recurrent cells for the benchmarks: from the installed package, or
from copies of its source files where the package cannot be installed."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional


def import_pygt(source: Optional[str] = None):
    """``(classes, note)``: PyG Temporal's TGCN, TGCN2, GConvGRU and GConvLSTM, or ``(None, reason)``.

    ``import torch_geometric_temporal`` imports every model, some of which need ``torch-sparse``;
    when only that fails, the source files timed here (which need only torch_geometric) are
    loaded directly from the installed package, and the note says so. ``source``: a folder holding
    copies of those files (``temporalgcn.py``, ``gconv_gru.py``, ``gconv_lstm.py`` from the
    package's ``nn/recurrent``), for machines where the package cannot be installed (a GPU
    machine without ``torch-sparse`` wheels for its torch)."""
    import importlib.util

    if source is not None:
        folder, reason = Path(source), f"loaded from --pygt-src {source}"
    else:
        try:
            from torch_geometric_temporal.nn.recurrent import TGCN, TGCN2, GConvGRU, GConvLSTM
            return {"TGCN": TGCN, "TGCN2": TGCN2, "GConvGRU": GConvGRU, "GConvLSTM": GConvLSTM}, None
        except Exception as e:  # ImportError, or a compiled dependency failing to load
            reason = f"{type(e).__name__}: {e}"
        spec = importlib.util.find_spec("torch_geometric_temporal")
        if spec is None or not spec.submodule_search_locations:
            return None, reason
        folder = Path(list(spec.submodule_search_locations)[0]) / "nn" / "recurrent"
    classes = {}
    for file, names in (("temporalgcn.py", ("TGCN", "TGCN2")), ("gconv_gru.py", ("GConvGRU",)),
                        ("gconv_lstm.py", ("GConvLSTM",))):
        mod_spec = importlib.util.spec_from_file_location(f"_pygt_{file[:-3]}", folder / file)
        module = importlib.util.module_from_spec(mod_spec)
        try:
            mod_spec.loader.exec_module(module)
        except Exception as e2:
            if source is not None:
                return None, f"loading {folder / file} failed: {type(e2).__name__}: {e2}"
            return None, f"{reason}; loading {file} directly failed too: {e2}"
        classes.update({n: getattr(module, n) for n in names})
    if source is not None:
        return classes, reason
    return classes, (f"package import failed ({reason}); loaded temporalgcn.py, gconv_gru.py and "
                     f"gconv_lstm.py from {folder} directly")


def package_version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def pygt_version() -> str:
    return package_version("torch-geometric-temporal")


def sources_digest(folder: str) -> Dict[str, str]:
    """SHA-256 of each PyG Temporal file loaded from ``--pygt-src`` (which release they are)."""
    import hashlib

    return {f: hashlib.sha256((Path(folder) / f).read_bytes()).hexdigest()
            for f in ("temporalgcn.py", "gconv_gru.py", "gconv_lstm.py")}
