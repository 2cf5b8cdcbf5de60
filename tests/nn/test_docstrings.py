"""Every public class of gcnkit.nn.conv, gcnkit.nn.recurrent and gcnkit.nn.models documents its
constructor (``Args:``) and, as PyG's layers do, its inputs and outputs (``Shapes:``), so that
``help(KipfGCNConv)`` alone tells a PyG user how to call it."""
import ast
import dataclasses
import inspect
import pickle
import pydoc
import re

import pytest

import gcnkit.nn.conv
import gcnkit.nn.models
import gcnkit.nn.recurrent
from gcnkit.nn.conv import KipfGCNConv

PUBLIC_CLASSES = [getattr(module, name)
                  for module in (gcnkit.nn.conv, gcnkit.nn.recurrent, gcnkit.nn.models)
                  for name in module.__all__ if inspect.isclass(getattr(module, name))]


def _section(doc: str, title: str):
    """The indented body of section ``title`` (e.g. ``"Args"``), or ``None``."""
    m = re.search(rf"^{title}:\n(.*?)(?=^\S|\Z)", doc, re.S | re.M)
    return m.group(1) if m else None


def _items(body: str) -> dict:
    """``name -> text`` for the items ``name (type): text`` / ``a, b (type): text`` of a section."""
    lines = body.rstrip().splitlines()
    if not lines:
        return {}
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    items: dict = {}
    text: list = []
    for line in lines:
        if line.strip() and len(line) - len(line.lstrip()) == indent:
            m = re.match(r"([\w*]+(?:, [\w*]+)*)(?: \([^)]*\))?:(?: |$)", line.strip())
            assert m, f"not an Args item 'name (type): text': {line.strip()!r}"
            text = [line.strip()]
            items.update((name, text) for name in m.group(1).split(", "))
        else:
            text.append(line.strip())
    return {name: " ".join(t) for name, t in items.items()}


def _parameters(cls):
    """The constructor's parameters as documented: ``**name`` for the keyword catch-all."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {("**" + p.name if p.kind is p.VAR_KEYWORD else p.name): p for p in params
            if p.name != "self" and p.kind is not p.VAR_POSITIONAL}


def _has_shapes(cls) -> bool:
    # a registry record (ConvSpec, a dataclass) has fields and no inputs or outputs
    return not dataclasses.is_dataclass(cls)


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_has_args_and_shapes_sections(cls):
    doc = inspect.getdoc(cls)
    assert doc and doc.count("\nArgs:\n") == 1, f"{cls.__name__} needs one Args: section"
    if _has_shapes(cls):
        assert doc.count("\nShapes:\n") == 1, f"{cls.__name__} needs one Shapes: section"
        shapes = _section(doc, "Shapes")
        assert "- **input:**" in shapes and "- **output:**" in shapes, shapes


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_args_name_every_constructor_parameter(cls):
    documented = _items(_section(inspect.getdoc(cls), "Args") or "")
    missing = [name for name in _parameters(cls) if name not in documented]
    assert not missing, f"{cls.__name__}'s Args lack {missing} (documented: {sorted(documented)})"


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_documented_defaults_are_the_code_defaults(cls):
    documented = _items(_section(inspect.getdoc(cls), "Args") or "")
    for name, p in _parameters(cls).items():
        m = re.search(r"\(default: ``(.*?)``\)", documented.get(name, ""))
        if m is None or not isinstance(p.default, (type(None), bool, int, float, str)):
            continue  # (no default stated, or not a literal: a dataclass field's factory)
        said = ast.literal_eval(m.group(1))
        assert (type(said), said) == (type(p.default), p.default), \
            f"{cls.__name__}({name}=...) defaults to {p.default!r}, its Args say {said!r}"


def test_help_shows_the_shared_text_on_the_class_itself():
    text = pydoc.render_doc(KipfGCNConv, renderer=pydoc.plaintext)
    for said in ("in_channels (int)", "norm, add_identity: fixed", "**kwargs (optional)", "node_dim",
                 "Shapes:", "- **output:**"):
        assert said in text
    # only __doc__ changed: forward's signature (PyG's Sequential reads it) and pickling as before
    assert list(inspect.signature(KipfGCNConv.forward).parameters) == ["self", "x", "edge_index", "edge_weight"]
    conv = pickle.loads(pickle.dumps(KipfGCNConv(3, 4)))
    assert type(conv) is KipfGCNConv and conv.__doc__ == KipfGCNConv.__doc__


def test_complete_doc_places_the_shared_text():
    from gcnkit.nn.shared_doc import complete_doc

    doc = """Summary.

        Args:
            own (int): the class's own.

        More prose.
        """
    out = complete_doc(doc, args_head="first (int): a.", args="last (int): z.\n    continued.",
                       shapes="- **input:** x\n- **output:** y")
    assert out == ("Summary.\n\nArgs:\n    first (int): a.\n    own (int): the class's own.\n"
                   "    last (int): z.\n        continued.\n\nMore prose.\n\n"
                   "Shapes:\n    - **input:** x\n    - **output:** y")
    # no Args section: one is made, before a Shapes section of the docstring's own
    assert complete_doc("Summary.\n\nShapes:\n    - **input:** x", args="a (int): b.") == \
        "Summary.\n\nArgs:\n    a (int): b.\n\nShapes:\n    - **input:** x"
    with pytest.raises(ValueError, match="Shapes"):
        complete_doc("Summary.\n\nShapes:\n    - **input:** x", shapes="- **input:** y")
