"""Every public class of gcnkit.nn.conv, gcnkit.nn.recurrent and gcnkit.nn.models documents its
constructor (``Args:``) and, as PyG's layers do, its inputs and outputs (``Shapes:``), so that
``help(KipfGCNConv)`` alone tells a PyG user how to call it; every public function of
gcnkit.functional, gcnkit.data and gcnkit.nn.recurrent its parameters (``Args:``) and result
(``Returns:``)."""
import ast
import dataclasses
import inspect
import pickle
import pydoc
import re

import pytest

import gcnkit.data
import gcnkit.functional
import gcnkit.nn
import gcnkit.nn.conv
import gcnkit.nn.models
import gcnkit.nn.recurrent
from gcnkit.nn.conv import KipfGCNConv

PUBLIC_CLASSES = [getattr(module, name)
                  for module in (gcnkit.nn.conv, gcnkit.nn.recurrent, gcnkit.nn.models)
                  for name in module.__all__ if inspect.isclass(getattr(module, name))]
# gcnkit.data imports its exports lazily (module __getattr__): getattr, not vars()
PUBLIC_FUNCTIONS = list({getattr(module, name): None
                         for module in (gcnkit.functional, gcnkit.data, gcnkit.nn, gcnkit.nn.conv,
                                        gcnkit.nn.recurrent, gcnkit.nn.models)
                         for name in module.__all__ if inspect.isfunction(getattr(module, name))})


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


def _parameters(fn):
    """``fn``'s parameters as documented: ``*name`` / ``**name`` for the catch-alls."""
    stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    return {stars.get(p.kind, "") + p.name: p for p in inspect.signature(fn).parameters.values()
            if p.name != "self"}


def _check_defaults(owner, documented: dict, params: dict, names: dict, every: bool = False):
    """Each default an Args item states, ``(default: ``X``)``, is the code's: a literal, or the
    name of the object in ``names`` (a module's globals); with ``every``, each default is stated."""
    for name, p in params.items():
        m = re.search(r"\(default: ``(.*?)``\)", documented.get(name, ""))
        assert m or not every or p.default is p.empty, f"{owner}'s Args state no default for {name}"
        if m is None:
            continue
        if isinstance(p.default, (type(None), bool, int, float, str)):
            said = ast.literal_eval(m.group(1))
            assert (type(said), said) == (type(p.default), p.default), \
                f"{owner}({name}=...) defaults to {p.default!r}, its Args say {said!r}"
        else:  # not a literal (a dataclass field's factory, a shared cache): named, for functions
            assert not every or names.get(m.group(1), p.empty) is p.default, \
                f"{owner}({name}=...) defaults to {p.default!r}, its Args say {m.group(1)}"


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
    missing = [name for name in _parameters(cls.__init__) if name not in documented]
    assert not missing, f"{cls.__name__}'s Args lack {missing} (documented: {sorted(documented)})"


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_documented_defaults_are_the_code_defaults(cls):
    documented = _items(_section(inspect.getdoc(cls), "Args") or "")
    _check_defaults(cls.__name__, documented, _parameters(cls.__init__), {})


@pytest.mark.parametrize("fn", PUBLIC_FUNCTIONS, ids=lambda f: f"{f.__module__}.{f.__name__}")
def test_functions_document_args_defaults_and_returns(fn):
    doc = inspect.getdoc(fn) or ""
    params = _parameters(fn)
    assert doc.count("\nArgs:\n") == (1 if params else 0), f"{fn.__name__} needs one Args: section"
    documented = _items(_section(doc, "Args") or "")
    assert sorted(documented) == sorted(params), f"{fn.__name__}'s Args: {sorted(documented)}, not {sorted(params)}"
    _check_defaults(fn.__name__, documented, params, inspect.unwrap(fn).__globals__, every=True)
    assert doc.count("\nReturns:\n") == 1 and (_section(doc, "Returns") or "").strip(), \
        f"{fn.__name__} needs one Returns: section"


@pytest.mark.parametrize("cls", [c for c in PUBLIC_CLASSES if issubclass(c, gcnkit.nn.models.RecurrentGraphModel)],
                         ids=lambda c: c.__name__)
def test_recurrent_models_forward_documents_its_arguments(cls):
    """``help(TGCN)`` states ``state``, ``detach_every``, ``cache`` ... with their defaults (the
    text is run_sequence's, less its ``cell``), and what the model returns."""
    doc = inspect.getdoc(cls.forward) or ""
    params = _parameters(cls.forward)
    documented = _items(_section(doc, "Args") or "")
    assert sorted(documented) == sorted(params), f"{cls.__name__}.forward's Args: {sorted(documented)}"
    _check_defaults(f"{cls.__name__}.forward", documented, params, inspect.unwrap(cls.forward).__globals__,
                    every=True)
    assert "(y, state)" in (_section(doc, "Returns") or "")


def test_help_shows_the_shared_text_on_the_class_itself():
    text = pydoc.render_doc(KipfGCNConv, renderer=pydoc.plaintext)
    for said in ("in_channels (int)", "norm: fixed", "**kwargs (optional)", "node_dim",
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
