"""gcnkit ships ``py.typed``, so users' type checkers read its hints: the package passes mypy with
the project's configuration, documented usage type-checks, and common mistakes are caught (a
model's call is checked against its ``forward``, not typed ``Any`` as ``torch.nn.Module.__call__``)."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "typing_cases"


@pytest.fixture(scope="module")
def mypy(tmp_path_factory):
    api = pytest.importorskip("mypy.api", reason="mypy is part of the test extra")
    import torch

    if tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) < (2, 13):
        # what mypy reports depends on torch's own annotations, which changed between releases
        pytest.skip(f"gcnkit's hints are checked against torch >= 2.13's annotations, not {torch.__version__}'s")
    cache = tmp_path_factory.mktemp("mypy_cache")

    def run(*paths: str):
        old = os.environ.get("MYPYPATH")
        os.environ["MYPYPATH"] = str(ROOT)  # this checkout's gcnkit, also where it is not installed
        try:
            out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache),
                                        "--no-error-summary", "--show-error-codes", *paths])
        finally:
            if old is None:
                del os.environ["MYPYPATH"]
            else:
                os.environ["MYPYPATH"] = old
        return out + err, status
    return run


def test_the_package_and_its_documented_use_pass_mypy(mypy, monkeypatch):
    monkeypatch.chdir(ROOT)
    out, status = mypy("gcnkit", str(CASES / "ok.py"))
    assert status == 0 and out == "", out


def test_the_usage_case_runs_as_written(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, str(CASES / "ok.py")], capture_output=True, text=True, timeout=300,
                       env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_mistakes_are_type_errors_on_the_lines_marked(mypy):
    bad = CASES / "bad.py"
    want = {(i, m.group(1)) for i, line in enumerate(bad.read_text().splitlines(), 1)
            if (m := re.search(r"# E: ([\w-]+)$", line))}
    out, status = mypy(str(bad))
    got = {(int(m.group(1)), m.group(2)) for m in re.finditer(r"bad\.py:(\d+): error: .*\[([\w-]+)\]$", out, re.M)}
    assert status == 1 and len(want) == 10
    assert got == want, out


def test_the_lazy_data_package_declares_every_export_to_type_checkers():
    """``gcnkit.data`` imports its exports on first access (``__getattr__``: ``Any`` to a type
    checker); its ``if TYPE_CHECKING:`` imports give them their types and must list the same names
    from the same modules."""
    import gcnkit.data as data

    tree = ast.parse(Path(data.__file__).read_text())
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING"]
    declared = {alias.name: node.module.rsplit(".", 1)[1] for node in block.body for alias in node.names}
    assert declared == data._EXPORTS


def _typing_only_calls():
    """``(class name, forward, __call__)`` of every class of gcnkit.nn that declares a
    ``__call__`` under ``if TYPE_CHECKING:`` beside its ``forward``."""
    found = []
    for path in sorted((ROOT / "gcnkit" / "nn").rglob("*.py")):
        for cls in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)):
            defs = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
            blocks = [n for n in cls.body if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING"]
            for block in blocks:
                for call in (n for n in block.body if isinstance(n, ast.FunctionDef) and n.name == "__call__"):
                    if "forward" in defs:
                        found.append((cls.name, defs["forward"], call))
    return found


def test_typed_calls_take_forwards_parameters_and_what_a_subclass_adds():
    """A model's or cell's call is typed with its ``forward``'s parameters, annotations, defaults
    and return type, plus ``*args``/``**kwargs`` for what a subclass's ``forward`` adds (the
    subclass cases of ok.py); the typing-only signature cannot drift from ``forward``."""
    found = _typing_only_calls()
    assert {name for name, _, _ in found} == {"GCN", "StackedGCN", "RecurrentGraphModel", "RecurrentCellBase"}

    def params(args):
        return [(a.arg, ast.dump(a.annotation) if a.annotation else None) for a in args]

    for name, forward, call in found:
        f, c = forward.args, call.args
        assert params(f.args) == params(c.args) and params(f.kwonlyargs) == params(c.kwonlyargs), name
        assert [ast.dump(d) for d in f.defaults] == [ast.dump(d) for d in c.defaults], name
        assert [ast.dump(d) if d else None for d in f.kw_defaults] == \
            [ast.dump(d) if d else None for d in c.kw_defaults], name
        assert f.vararg is None and f.kwarg is None and c.vararg.arg == "args" and c.kwarg.arg == "kwargs", name
        assert ast.dump(forward.returns) == ast.dump(call.returns), name
