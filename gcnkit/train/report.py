"""Tables (terminal, CSV, JSON, Markdown) and plots of benchmark runs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Sequence

from gcnkit.train.paper import LABELS, paper_value


def summary_frame(rows: List[dict]):
    """One row per (dataset, model): mean, std of test accuracy, paper value, epochs, ms/epoch."""
    import pandas as pd

    df = pd.DataFrame(rows)
    g = df.groupby(["dataset", "model"], sort=False)
    out = g.agg(mean=("test_acc", "mean"), std=("test_acc", "std"), runs=("seed", "count"),
                epochs=("epochs", "mean"), ms_per_epoch=("ms_per_epoch", "mean")).reset_index()
    out["std"] = out["std"].fillna(0.0)
    # percentages of a few thousand nodes averaged over seeds: 9 decimals keep every digit and drop
    # the float sum's tail (69.031, not 69.03099999999999)
    out[["mean", "std", "epochs"]] = out[["mean", "std", "epochs"]].round(9)
    out["paper"] = [paper_value(m, d) for d, m in zip(out["dataset"], out["model"])]
    out["delta"] = out["mean"] - out["paper"].astype(float)
    return out


def ablation_table(summary, models: Sequence[str], datasets: Sequence[str]):
    """Rows = models (paper order), columns = datasets; cells 'mean ± std (paper)'."""
    import pandas as pd

    table = {}
    for d in datasets:
        col = {}
        for m in models:
            r = summary[(summary.dataset == d) & (summary.model == m)]
            if r.empty:
                col[LABELS.get(m, m)] = ""
                continue
            r = r.iloc[0]
            cell = f"{r['mean']:.1f} ± {r['std']:.1f}"
            if r["paper"] is not None and r["paper"] == r["paper"]:
                cell += f" ({r['paper']:.1f})"
            cell += f", {r['ms_per_epoch']:.2f} ms"
            col[LABELS.get(m, m)] = cell
        table[d] = col
    return pd.DataFrame(table)


def write_reports(rows: List[dict], out_dir: Path, models: Sequence[str], datasets: Sequence[str],
                  note: str = "") -> dict:
    """Writes summary.csv/json/md and ablation.png to ``out_dir``; returns their paths. ``note``
    (e.g. :func:`gcnkit.train.paper.protocol_note`) is added below the Markdown table and to
    every summary.json record (``protocol_note``, null without one)."""
    out_dir = Path(out_dir).expanduser()
    if not rows:
        raise ValueError(f"no finished runs to report in {out_dir}")
    # in the order asked (datasets, then models), not the order the runs finished in (parallel
    # workers finish in any order): the same files however the runs were scheduled or resumed
    order = {key: i for i, key in enumerate((d, m) for d in datasets for m in models)}
    summary = summary_frame(rows)
    rank = [order.get(key, len(order)) for key in zip(summary["dataset"], summary["model"])]
    summary = summary.assign(_rank=rank).sort_values("_rank", kind="stable").drop(columns="_rank")
    summary = summary.reset_index(drop=True)
    table = ablation_table(summary, models, datasets)
    paths = {"runs": out_dir / "runs.csv", "summary_csv": out_dir / "summary.csv",
             "summary_json": out_dir / "summary.json", "markdown": out_dir / "summary.md",
             "plot": out_dir / "ablation.png"}
    summary[["dataset", "model", "mean", "std", "paper", "runs", "epochs", "ms_per_epoch"]].to_csv(
        paths["summary_csv"], index=False)
    records = [{**{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()},
                "protocol_note": note or None}
               for r in summary.to_dict(orient="records")]  # no paper value: null, not NaN
    paths["summary_json"].write_text(json.dumps(records, indent=2, default=float, allow_nan=False))
    paths["markdown"].write_text(
        "Test accuracy (%) mean ± std over seeds (paper value), ms per epoch\n\n" + table.to_markdown() + "\n"
        + (f"\nNote: {note}.\n" if note else ""))
    plot_ablation(summary, models, datasets, paths["plot"], changed=bool(note))
    return {k: str(v) for k, v in paths.items()}


def plot_ablation(summary, models: Sequence[str], datasets: Sequence[str], path: Path, *,
                  changed: bool = False) -> None:
    """The bar plot of ``summary``; ``changed``: the runs did not follow Kipf's protocol, so the
    title says so and the paper's values are marked as those of its own protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(max(5.5, 1.6 + 1.2 * len(models)), 4.2))  # room for the title
    width = 0.8 / max(len(datasets), 1)
    xs = np.arange(len(models))
    for i, d in enumerate(datasets):
        sub = summary[summary.dataset == d].set_index("model")
        means = [sub["mean"].get(m, np.nan) for m in models]
        stds = [sub["std"].get(m, 0.0) for m in models]
        ax.bar(xs + i * width, means, width, yerr=stds, label=d, capsize=2)
        papers = [paper_value(m, d) for m in models]
        ax.scatter(xs + i * width, [p if p is not None else np.nan for p in papers], marker="_", s=200,
                   color="black", zorder=3,
                   label=("paper (its protocol)" if changed else "paper") if i == 0 else None)
    ax.set_xticks(xs + width * (len(datasets) - 1) / 2)
    ax.set_xticklabels([LABELS.get(m, m) for m in models], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("Propagation models\n(another protocol than Kipf & Welling's: see summary.md)" if changed
                 else "Propagation models (Kipf & Welling 2017, Table 3)", fontsize=10 if changed else None)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
