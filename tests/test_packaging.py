"""What a non-editable ``pip install`` gets: every module of the package, its PEP 561 marker (so
that type checkers read gcnkit's hints), and nothing of the repository beside the package."""
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="needs setuptools to build")
def test_wheel_holds_the_package_and_its_type_marker(tmp_path):
    src = tmp_path / "src"  # a copy, so the build leaves no build/ folder in the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "datasets", "runs", "build", "*.egg-info",
                                                             "__pycache__", ".pytest_cache", ".hypothesis"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp_path / "dist").glob("gcnkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gcnkit").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert "gcnkit/py.typed" in names
    assert not [n for n in names if n.split("/")[0] in ("tests", "benchmarks", "datasets")]


@pytest.mark.parametrize("module, names, home", [
    ("gcnkit.nn.recurrent.sequence", ["tbptt_backward", "clip_grad_norm"], "gcnkit.nn.recurrent.tbptt"),
    ("gcnkit.nn.recurrent.operators", ["GraphSet", "GraphOptions"], "gcnkit.nn.recurrent.graph_set"),
    ("gcnkit.data.synthetic", ["planetoid_masks", "check_split_sizes", "TRAIN_PER_CLASS", "NUM_VAL", "NUM_TEST"],
     "gcnkit.data.split_masks"),
    ("gcnkit.functional.chebyshev", ["laplacian_lambda_max", "laplacian_lambda_max_per_graph",
                                     "lambda_max_per_node"], "gcnkit.functional.lambda_max"),
])
def test_names_moved_to_another_module_still_import_from_the_old_one(module, names, home):
    """Splitting a module kept what users imported from it: the old module gives the same objects."""
    old, new = importlib.import_module(module), importlib.import_module(home)
    for name in names:
        assert getattr(old, name) is getattr(new, name), name
    with pytest.raises(AttributeError):
        getattr(old, "no_such_name")
