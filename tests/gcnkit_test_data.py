"""Where the tests find the offline dataset copies (importable from any test module)."""
import os
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[1]
_MARKER = Path("planetoid") / "Cora" / "raw" / "ind.cora.x"


def find_shared_data_root() -> Optional[Path]:
    """``$GCNKIT_DATA`` if it holds the raw files, else
    ``<repo>/../shared/datasets`` if it does, else ``None``."""
    candidates = []
    if os.environ.get("GCNKIT_DATA"):
        candidates.append(Path(os.environ["GCNKIT_DATA"]).expanduser())
    candidates.append(REPO_ROOT.parent / "shared" / "datasets")
    for c in candidates:
        if (c / _MARKER).is_file():
            return c.resolve()
    return None
