"""Docstring text shared by a family of classes (the conv presets, the recurrent cells, the
recurrent models), written once and attached to each class's ``__doc__``."""
from __future__ import annotations

import inspect
import textwrap
from typing import Callable, List, TypeVar

T = TypeVar("T", bound=type)


def _items(text: str) -> List[str]:
    """``text`` dedented, then indented one level, as under a section header."""
    return textwrap.indent(textwrap.dedent(text).strip("\n"), "    ").splitlines() if text.strip() else []


def shared_doc(*, args_head: str = "", args: str = "", shapes: str = "") -> Callable[[T], T]:
    """Class decorator: completes the class's docstring with shared text, ``args_head`` first in
    its ``Args:`` section and ``args`` last (a section is added, before ``Shapes:``, where the
    docstring has none), and ``shapes`` as its ``Shapes:`` section, which the docstring must not
    have. Only ``__doc__`` changes, to a plain string that ``help()``, ``inspect.getdoc`` and
    Sphinx read as written: the class, its ``forward`` and their signatures are untouched
    (pickling, ``torch.compile``, PyG's ``Sequential`` and ``to_hetero`` see what they would
    without it). Without docstrings (``python -OO``) it does nothing."""
    def decorate(cls: T) -> T:
        if cls.__doc__ is not None:
            cls.__doc__ = complete_doc(cls.__doc__, args_head, args, shapes)
        return cls
    return decorate


def complete_doc(doc: str, args_head: str = "", args: str = "", shapes: str = "") -> str:
    """The docstring ``doc`` (cleaned as ``inspect.getdoc`` does) with the shared text added
    (see :func:`shared_doc`)."""
    lines = inspect.cleandoc(doc).splitlines()
    if shapes and "Shapes:" in lines:
        raise ValueError("the docstring has a Shapes: section of its own and a shared one")
    head, tail = _items(args_head), _items(args)
    if head or tail:
        if "Args:" in lines:
            start = end = lines.index("Args:") + 1
            while end < len(lines) and (not lines[end] or lines[end][0].isspace()):  # the indented items
                end += 1
            while end > start and not lines[end - 1]:
                end -= 1
            lines[end:end] = tail
            lines[start:start] = head
        elif "Shapes:" in lines:
            at = lines.index("Shapes:")
            lines[at:at] = ["Args:"] + head + tail + [""]
        else:
            lines += ["", "Args:"] + head + tail
    if shapes:
        lines += ["", "Shapes:"] + _items(shapes)
    return "\n".join(lines)
