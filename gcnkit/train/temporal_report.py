"""Reports of forecasting runs: the results table, CSV/JSON files saved as results come, and a
plot of predicted against true series."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from torch import Tensor

from gcnkit.train.metrics import METRICS

PathLike = Union[str, Path]


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class HistoryWriter:
    """Appends one CSV row per epoch to ``<out>/history.csv`` and flushes it, so an interrupted
    run keeps every finished epoch."""

    def __init__(self, out_dir: PathLike):
        self.path = Path(out_dir) / "history.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fields: Optional[list] = None
        self.path.write_text("")

    def __call__(self, record: Dict[str, float]) -> None:
        with self.path.open("a", newline="") as f:
            if self._fields is None:
                self._fields = list(record)
                csv.writer(f, lineterminator="\n").writerow(self._fields)
            csv.writer(f, lineterminator="\n").writerow([record.get(k, "") for k in self._fields])


def results_frame(summary: dict):
    """A pandas table: the model's and the baselines' test metrics, one row each."""
    import pandas as pd

    rows = [{"method": summary["model"], **{k: summary[k] for k in METRICS}}]
    for name, metrics in summary.get("baselines", {}).items():
        rows.append({"method": f"baseline:{name}", **{k: metrics[k] for k in METRICS}})
    return pd.DataFrame(rows).set_index("method")


def plot_predictions(y_true: Tensor, y_pred: Tensor, path: PathLike, *, nodes: Sequence[int] = (0, 1, 2),
                     step: int = 0, title: str = "") -> Path:
    """PNG of true against predicted series (horizon step ``step``) on the test part, one panel
    per node. ``y_*``: ``[S, horizon, N]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    num_nodes = y_true.size(-1)
    bad = [n for n in nodes if not 0 <= n < num_nodes]
    if bad or not nodes:
        raise ValueError(f"nodes to plot must be in 0..{num_nodes - 1}, got {list(nodes)}")
    fig, axes = plt.subplots(len(nodes), 1, figsize=(10, 2.2 * len(nodes)), sharex=True, squeeze=False)
    for ax, n in zip(axes[:, 0], nodes):
        ax.plot(y_true[:, step, n].numpy(), label="true", lw=1.2)
        ax.plot(y_pred[:, step, n].numpy(), label="predicted", lw=1.0)
        ax.set_ylabel(f"node {n}")
    axes[0, 0].legend(loc="upper right")
    axes[0, 0].set_title(title or f"test part, horizon step {step + 1}")
    axes[-1, 0].set_xlabel("test sample")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_temporal_reports(result, out_dir: PathLike, *, nodes: Sequence[int] = (0, 1, 2)) -> Dict[str, Path]:
    """Writes ``metrics.json`` (summary + config + history), ``results.csv`` (model and
    baselines) and ``predictions.png``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    paths = {"json": out / "metrics.json", "csv": out / "results.csv", "png": out / "predictions.png"}
    paths["json"].write_text(json.dumps(_clean({**summary, "config": result.config,
                                                 "history": result.history}), indent=2, allow_nan=False))
    results_frame(summary).to_csv(paths["csv"])
    plot_predictions(result.y_true, result.y_pred, paths["png"], nodes=nodes,
                     title=f"{summary['dataset']} / {summary['model']}: test part, first horizon step")
    return paths


def summary_json(result) -> str:
    """The one-line JSON object printed by ``gcnkit temporal --json``."""
    return json.dumps(_clean(result.summary()), allow_nan=False)
