"""Presets: a layer class that is a general layer with some options fixed."""
from __future__ import annotations

from typing import Any, Dict


def preset_options(preset: object, general: type, kwargs: Dict[str, Any], **fixed: Any) -> Dict[str, Any]:
    """``kwargs`` with the fixed options of ``preset`` (the layer being built) added; an option it
    fixes, passed again, is a ``TypeError`` that names it and the ``general`` layer class that takes
    it (instead of Python's "got multiple values for keyword argument" about that class's
    ``__init__``)."""
    clash = [name for name in fixed if name in kwargs]
    if clash:
        said = ", ".join(f"{name}={fixed[name]!r}" for name in clash)
        raise TypeError(f"{type(preset).__name__} fixes {said}: use {general.__name__}("
                        f"{', '.join(f'{n}=...' for n in clash)}) to choose it")
    return {**kwargs, **fixed}
