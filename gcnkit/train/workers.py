"""The worker processes of an ablation: threads, start method, Ctrl-C and a killed parent."""
from __future__ import annotations

import os
from typing import Optional


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def pool_worker_init(threads: int, parent: Optional[int] = None) -> None:
    """Pool workers leave Ctrl-C to the parent, which ends the pool (no worker tracebacks), and
    end with the parent when it is killed outright (see :func:`_die_with_parent`)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _die_with_parent(parent)
    set_threads(threads)


def start_method() -> str:
    """``fork`` where the platform has it and no accelerator is present (the workers start at once,
    sharing the parent's imports), else ``spawn``: once a process on a machine with a GPU has run a
    backward pass, autograd's device threads make every forked child fail ("Unable to handle
    autograd's threading in combination with fork-based multiprocessing")."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        return "spawn"
    return "spawn" if accelerator_present() else "fork"


def accelerator_present() -> bool:
    """Whether this machine has an accelerator torch can use (``torch.accelerator``, torch >= 2.6;
    CUDA's check before that)."""
    import torch

    accelerator = getattr(torch, "accelerator", None)
    return accelerator.is_available() if accelerator is not None else torch.cuda.is_available()


def _die_with_parent(parent: int) -> None:
    """On Linux, a worker whose parent is killed (``kill -9``, the OOM killer) is killed too,
    instead of training its group to the end and failing to send it back with a BrokenPipeError
    traceback (the parent's log holds every finished run; the next command redoes the rest)."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def pool_context():
    """The multiprocessing context of :func:`start_method`."""
    import multiprocessing as mp

    return mp.get_context(start_method())
