"""README's code that imports the layers into a PyG model runs as written, as a user script."""
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _run_snippet(tag: str, tmp_path) -> subprocess.CompletedProcess:
    """README's snippet marked ``<!-- readme-snippet: tag -->``, run as a user script."""
    m = re.search(rf"<!-- readme-snippet: {tag} -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert m, f"README lost its {tag} snippet"
    script = tmp_path / "snippet.py"
    script.write_text(m.group(1))
    # the repository first on the path, so that the script finds this checkout's gcnkit also where
    # it is not installed (a copy of the tree run with pytest from its root)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(README.parent),
                                                                   os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    return r


def test_readme_pyg_model_snippet_runs(tmp_path):
    r = _run_snippet("pyg-model", tmp_path)
    # once: PyG's Sequential imports the calling script, which must not run the example again
    assert r.stdout.count("KipfGCNConv(8, 16, norm=sym, self_loop_weight=1.0)") == 1, r.stdout


def test_readme_receptive_field_snippet_runs(tmp_path):
    r = _run_snippet("receptive-field", tmp_path)
    assert re.search(r"ReceptiveField\(hops=2, targets=\d+, nodes=\d+ of 2000\)", r.stdout), r.stdout


def test_readme_commands_are_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    text = README.read_text()
    for cmd in ('python -m pip install "torch==2.13.0" -e ".[test]"', "python -m pytest -q"):
        assert cmd in text and cmd in ci



def test_readme_links_within_the_page_reach_a_heading():
    """Every ``[text](#anchor)`` names a heading, by GitHub's rule (lower case, punctuation other
    than ``-`` dropped, spaces to ``-``)."""
    text = README.read_text()
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.*)$", text, re.M)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) >= 9
    assert not [a for a in links if a not in slugs], sorted(slugs)
