"""``runs.csv``: the log of an ablation's finished runs, appended as they finish and read back to resume."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import List, Optional

RUN_FIELDS = ("dataset", "model", "seed", "test_acc", "val_acc", "epochs", "ms_per_epoch")


def _canonical(dataset: str) -> str:
    from gcnkit.data import dataset_name

    try:
        return dataset_name(dataset)
    except ValueError:
        return dataset


class RunLog:
    """``runs.csv`` appended one row per finished run (flushed and fsynced), read back to resume.

    A torn last line (a crash mid-write) is dropped on reading, so that run is simply redone, and
    cut off before the next row is appended (so pandas never sees half a run either); a
    header torn by a crash during the first write (no run in the file yet) is rewritten. A file
    that does not start with the header, yet has runs in it, is refused rather than read as empty
    (which would redo every run and append them to it).
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def _check_header(self) -> bool:
        """Whether the file holds a header (and maybe runs); ``False``: empty, or only a torn
        first line, which is removed."""
        with open(self.path, "rb") as f:
            first = f.readline()
            rest = f.read(1)
        header = first.decode("utf-8", "replace").strip().split(",")
        if header[:len(RUN_FIELDS)] == list(RUN_FIELDS):
            return True
        if not rest and not first.endswith(b"\n"):  # a crash inside the first write: nothing lost
            self.path.write_text("")
            return False
        raise ValueError(f"{self.path} does not start with the run log's header "
                         f"({','.join(RUN_FIELDS)}) but with {first[:80]!r}: it was damaged or is not a "
                         f"gcnkit run log; restore its first line to keep its runs, or delete it")

    def read(self) -> List[dict]:
        if not self.path.exists() or not self._check_header():
            return []
        with open(self.path, newline="", errors="replace") as f:  # a bad byte spoils one line only
            text = f.read()
        if not text.endswith(("\n", "\r")):  # a torn last line, even one that parses (cut inside
            text = text[:text.rfind("\n") + 1]  # its last field): not finished, redone
        rows, seen = [], set()
        for row in csv.DictReader(io.StringIO(text, newline="")):
            r = _parse_run(row)
            if r is None:
                continue  # torn or foreign line
            key = (r["dataset"], r["model"], r["seed"])
            if key not in seen:  # a run logged twice counts once
                seen.add(key)
                rows.append(r)
        return rows

    def _mend_last_line(self) -> None:
        """A last line without its newline (a crash mid-write) must not swallow the next row: a
        row written up to its ``\\r`` gets the ``\\n``, a torn one is cut off (the reader skips
        it, so that run is redone; pandas would read it as a run with missing or cut values)."""
        with open(self.path, "rb+") as f:
            end = f.seek(0, os.SEEK_END)
            f.seek(max(end - 1, 0))
            last = f.read(1)
            if last == b"\r":
                f.write(b"\n")
            elif last not in (b"", b"\n"):  # look back (a chunk at a time) for the line's start
                stop = end
                while stop > 0:
                    start = max(stop - 4096, 0)
                    f.seek(start)
                    cut = f.read(stop - start).rfind(b"\n")
                    if cut >= 0:
                        f.truncate(start + cut + 1)
                        return
                    stop = start
                f.truncate(0)

    def append(self, row: dict) -> None:
        if self.path.exists():
            self._mend_last_line()
        new = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=RUN_FIELDS, lineterminator="\n")  # (csv's default is \r\n)
            if new:
                w.writeheader()
            w.writerow({k: row[k] for k in RUN_FIELDS})
            f.flush()
            os.fsync(f.fileno())


def _parse_run(row: dict) -> Optional[dict]:
    """A row of ``runs.csv`` as typed values, or ``None`` for a torn or foreign line."""
    try:
        r = {"dataset": row["dataset"], "model": row["model"], "seed": int(row["seed"]),
             "test_acc": float(row["test_acc"]), "val_acc": float(row["val_acc"]),
             "epochs": int(row["epochs"]), "ms_per_epoch": float(row["ms_per_epoch"])}
    except (KeyError, TypeError, ValueError):
        return None
    r["dataset"] = _canonical(r["dataset"])  # logs of older versions: any spelling
    return r
