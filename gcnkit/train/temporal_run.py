"""One forecasting run with its files: checked settings, an output folder per configuration,
a checkpoint and ``history.csv`` as the epochs come, then the reports (what ``gcnkit temporal``
calls)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from gcnkit.data.lock import FolderBusy, folder_lock
from gcnkit.train.checkpoint import PathLike, check_output_folder, comparable, load_checkpoint
from gcnkit.train.temporal import TemporalConfig, TemporalResult, prepare_data, train_temporal
from gcnkit.train.temporal_report import HistoryWriter, write_temporal_reports


def default_out(cfg: TemporalConfig) -> Path:
    """``runs/temporal/<dataset>-<model>-<hash>``: one folder per configuration, so a rerun of
    the same settings resumes (or reuses) its run and another configuration never collides."""
    digest = hashlib.sha1(json.dumps(comparable(asdict(cfg)), sort_keys=True).encode()).hexdigest()[:8]
    return Path("runs") / "temporal" / f"{cfg.dataset}-{cfg.model}-{digest}"


def run_temporal(config: TemporalConfig, out: Optional[PathLike] = None,
                 nodes: Sequence[int] = (0, 1, 2)) -> Tuple[TemporalResult, Dict[str, Path], Path]:
    """Trains ``config`` (resuming from ``out``'s checkpoint when there is one) and writes the
    reports, with a plot of ``nodes``; returns ``(result, report paths, out)``.

    Everything that can be refused is checked before training: the nodes to plot against the
    dataset, and a checkpoint of another configuration in ``out``."""
    cfg = config.resolved()
    data = prepare_data(cfg)  # loaded once: for the checks here and for training
    num_nodes = data.y.size(-1)
    if not nodes or any(not 0 <= n < num_nodes for n in nodes):  # (an empty list would fail after training)
        raise ValueError(f"--nodes must be one or more of 0..{num_nodes - 1} ({cfg.dataset} has {num_nodes} "
                         f"nodes), got {list(nodes)}")
    out = check_output_folder(out if out else default_out(cfg))
    out.mkdir(parents=True, exist_ok=True)
    try:  # a second run on the same folder would interleave its epochs with this one's files
        with folder_lock(out, wait=False):
            load_checkpoint(out / "checkpoint.pt", asdict(cfg))  # another configuration's: refused now
            (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
            result = train_temporal(cfg, on_epoch=HistoryWriter(out), data=data, checkpoint=out / "checkpoint.pt")
            return result, write_temporal_reports(result, out, nodes=nodes), out
    except FolderBusy:
        raise ValueError(f"{out} is in use by another gcnkit temporal run (it holds the folder's lock); wait "
                         f"for it to finish, or use another --out folder") from None
