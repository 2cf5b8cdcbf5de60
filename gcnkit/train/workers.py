"""The worker processes of an ablation: threads, start method, Ctrl-C, a killed parent and a
killed worker."""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator, List, Optional, Sequence


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


class WorkerDied(RuntimeError):
    """A worker process ended (killed: ``kill -9``, the out-of-memory killer) before returning
    the result of its task."""


def run_in_workers(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int, threads: int,
                   describe: Callable[[Any], str] = repr) -> Iterator[Any]:
    """``fn(task)`` for every task in ``workers`` processes of :func:`pool_context` (``threads`` torch
    threads each), yielded as they finish. An exception in ``fn`` is raised here; a worker that
    dies raises :class:`WorkerDied` naming its task (``describe(task)``), where a
    ``multiprocessing.Pool`` would wait for that result forever. Remaining workers are ended
    when the iterator stops (done, an error, Ctrl-C)."""
    from multiprocessing.connection import wait

    ctx = pool_context()
    pending = list(reversed(tasks))
    slots: List[list] = []  # [process, connection, task or None]
    try:
        for _ in range(min(workers, len(pending))):
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_loop, args=(child, fn, threads, os.getpid()), daemon=True)
            proc.start()
            child.close()
            slots.append([proc, conn, None])
        for slot in slots:
            slot[2] = pending.pop()
            slot[1].send(slot[2])
        while any(slot[2] is not None for slot in slots):
            busy = [slot for slot in slots if slot[2] is not None]
            ready = set(wait([slot[1] for slot in busy] + [slot[0].sentinel for slot in busy]))
            for slot in busy:
                proc, conn, task = slot
                if conn in ready:
                    try:
                        ok, value = conn.recv()
                    except EOFError:  # its end of the pipe closed: the process is gone
                        ok, value = None, None
                    except Exception as e:  # sent, but not rebuilt here (e.g. an exception's __init__)
                        raise RuntimeError(f"{describe(task)}: the worker's answer could not be read back "
                                           f"({type(e).__name__}: {e})") from None
                elif proc.sentinel in ready:
                    ok, value = None, None
                else:
                    continue
                if ok is None:
                    proc.join(1)
                    raise WorkerDied(f"a worker process died ({_exit_reason(proc.exitcode)}) while running "
                                     f"{describe(task)}")
                if not ok:
                    raise value
                slot[2] = pending.pop() if pending else None
                if slot[2] is not None:
                    try:
                        conn.send(slot[2])
                    except OSError:  # (BrokenPipeError) it died right after sending its answer
                        proc.join(1)
                        raise WorkerDied(f"a worker process died ({_exit_reason(proc.exitcode)}) before "
                                         f"running {describe(slot[2])}") from None
                yield value
    finally:
        for proc, conn, _ in slots:
            if proc.is_alive():
                proc.terminate()
            proc.join()
            conn.close()


def _exit_reason(code: Optional[int]) -> str:
    import signal

    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _worker_loop(conn, fn: Callable[[Any], Any], threads: int, parent: int) -> None:
    """A worker: runs the tasks it is sent until the pipe closes; sends ``(True, result)`` or
    ``(False, exception)``."""
    pool_worker_init(threads, parent)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        try:
            out = (True, fn(task))
        except Exception as e:  # raised in the parent, as multiprocessing.Pool does
            out = (False, e)
        try:
            conn.send(out)
        except Exception as e:  # an unpicklable result or exception
            conn.send((False, RuntimeError(f"{type(out[1]).__name__} could not be sent back to the parent "
                                           f"process ({type(e).__name__}: {e}): {out[1]!r}"[:2000])))
