"""Error messages in the command line's words: a config's field names (``train_ratio=0.2``,
``lr must be ...``) become the flags that set them (``--train-ratio=0.2``, ``--lr must be ...``)."""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Dict, Iterator, Tuple, Type


def as_flags(message: str, flags: Dict[str, str]) -> str:
    """``message`` with each field of ``flags`` renamed where it is followed by ``=`` or a
    comparison (``val_ratio > 0``), or opens it."""
    names = "|".join(sorted(map(re.escape, flags), key=len, reverse=True))
    return re.sub(rf"\b({names})\b(?==| ?[<>])|^({names})\b", lambda m: flags[m.group(0)], message)


@contextmanager
def naming_flags(flags: Dict[str, str],
                 errors: Tuple[Type[Exception], ...] = (TypeError, ValueError)) -> Iterator[None]:
    """Re-raises ``errors`` as a ``ValueError`` (what the ``gcnkit`` command reports without a
    traceback) whose message names ``flags`` instead of the config's fields."""
    try:
        yield
    except errors as e:
        raise ValueError(as_flags(str(e), flags)) from None
