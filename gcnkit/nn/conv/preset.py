"""Presets: a layer class that is a general layer with some options fixed."""
from __future__ import annotations

import numbers
from typing import Any, Dict


def preset_options(preset: object, general: type, kwargs: Dict[str, Any], **fixed: Any) -> Dict[str, Any]:
    """``kwargs`` with the fixed options of ``preset`` (the layer being built) added. An option it
    fixes, passed again with the fixed value, is accepted (code that spells the preset's options
    out keeps working); with another value it is a ``TypeError`` that names it and the ``general``
    layer class that takes it (instead of Python's "got multiple values for keyword argument"
    about that class's ``__init__``)."""
    clash = [name for name in fixed if name in kwargs and not _same(kwargs[name], fixed[name])]
    if clash:
        said = ", ".join(f"{name}={fixed[name]!r}" for name in clash)
        raise TypeError(f"{type(preset).__name__} fixes {said}: use {general.__name__}("
                        f"{', '.join(f'{n}=...' for n in clash)}) to choose it")
    return {**kwargs, **fixed}


def _same(given: Any, fixed: Any) -> bool:
    """``given`` is the fixed value: equal and of the same kind (``True`` is not ``1``, ``1.0`` is
    not the integer ``K=1``; a tensor or a string for a number is not the number)."""
    if isinstance(fixed, bool) or isinstance(given, bool):
        return given is fixed
    if isinstance(fixed, numbers.Integral):
        return isinstance(given, numbers.Integral) and given == fixed
    if isinstance(fixed, numbers.Real):
        return isinstance(given, numbers.Real) and given == fixed
    return type(given) is type(fixed) and given == fixed
