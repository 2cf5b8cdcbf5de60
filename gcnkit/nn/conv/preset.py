"""Presets: a layer class that is a general layer with some options fixed."""
from __future__ import annotations

from typing import Any, Dict


def preset_options(preset: str, general: str, kwargs: Dict[str, Any], **fixed: Any) -> Dict[str, Any]:
    """``kwargs`` with the preset's ``fixed`` options added; an option the preset fixes, passed
    again, is a ``TypeError`` that names it and the general layer that takes it (instead of
    Python's "got multiple values for keyword argument" about the general layer's ``__init__``)."""
    clash = [name for name in fixed if name in kwargs]
    if clash:
        said = ", ".join(f"{name}={fixed[name]!r}" for name in clash)
        raise TypeError(f"{preset} fixes {said}: use {general}({', '.join(f'{n}=...' for n in clash)}) "
                        "to choose it")
    return {**kwargs, **fixed}
