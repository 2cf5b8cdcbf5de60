"""Resumable training: a checkpoint written atomically after every epoch.

A long run (Los-loop trains for minutes) that is interrupted resumes at the epoch after the last
one saved, with the model, optimizer, learning-rate schedule, shuffling generator, best epoch so
far and history restored, so the resumed run gives the numbers the uninterrupted one would have.
A checkpoint belongs to one configuration: resuming it under another is refused, naming the
settings that differ.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from gcnkit.data.atomic import atomic_torch_save
from gcnkit.data.root import nearest_existing

PathLike = Union[str, "os.PathLike[str]"]

#: Settings that do not change the numbers beyond float rounding, so a run may resume under other
#: values of them (a CUDA graph replays the eager step's kernels, its Adam rounds to float32 on
#: the device, as other thread counts round differently); nor are they part of a run folder's name.
_NEUTRAL = ("progress", "root", "cuda_graph")


def comparable(config: Dict[str, Any]) -> Dict[str, Any]:
    """The part of a configuration that a resumed run must share with the checkpoint."""
    return {k: v for k, v in config.items() if k not in _NEUTRAL}


def check_output_folder(path: PathLike) -> Path:
    """``path`` as a :class:`~pathlib.Path`, refused (before any training) when it, or a folder it
    would be made in, is a file. ``~`` is expanded here, once (a quoted ``--out=~/x`` reaches
    gcnkit unexpanded)."""
    path = Path(path).expanduser()
    existing = nearest_existing(path)
    if existing is not None and not existing.is_dir():
        if existing == Path(os.path.abspath(path)):
            raise ValueError(f"the output folder {path} is a file")
        raise ValueError(f"the output folder {path} cannot be made: {existing} is a file")
    return path


def save_checkpoint(path: PathLike, config: Dict[str, Any], state: Dict[str, Any]) -> None:
    """Writes ``state`` (epoch, model/optimizer/schedule state dicts, ...) for ``config``; a
    reader never sees a half-written file."""
    atomic_torch_save({"config": comparable(config), **state}, path)


def load_checkpoint(path: PathLike, config: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The saved state for ``config``, or ``None`` when there is no checkpoint.

    Raises:
        ValueError: if the checkpoint was written for another configuration, or is unreadable.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors, numbers, containers
        saved = state["config"]
    except Exception as e:  # a foreign or damaged file: say so, do not train over it silently
        raise ValueError(f"cannot read the checkpoint {path} ({type(e).__name__}: {e}); delete it to "
                         f"start over") from None
    now = comparable(config)
    if saved != now:
        diff = ", ".join(f"{k}={saved.get(k)!r} there, {now.get(k)!r} now"
                         for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k))
        raise ValueError(f"{path} is a checkpoint of another configuration ({diff}); use another "
                         f"output folder or delete it to start over")
    return state
