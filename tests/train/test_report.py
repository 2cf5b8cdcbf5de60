"""gcnkit.train.report: the ablation's files; the plot says when the protocol was not Kipf's."""
import matplotlib.axes
import pytest

from gcnkit.train.report import write_reports

ROWS = [{"dataset": "karate", "model": m, "seed": s, "test_acc": 80.0 + s, "val_acc": 70.0, "epochs": 10,
         "ms_per_epoch": 1.0} for m in ("kipf", "mlp") for s in (0, 1)]


@pytest.mark.parametrize("note", ["", "epochs=5 (Kipf: 200)"])
def test_plot_title_says_when_the_protocol_changed(tmp_path, monkeypatch, note):
    titles, labels = [], []
    real_title, real_scatter = matplotlib.axes.Axes.set_title, matplotlib.axes.Axes.scatter
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title",
                        lambda self, t, *a, **k: (titles.append(t), real_title(self, t, *a, **k))[1])
    monkeypatch.setattr(matplotlib.axes.Axes, "scatter",
                        lambda self, *a, **k: (labels.append(k.get("label")), real_scatter(self, *a, **k))[1])
    paths = write_reports(ROWS, tmp_path, ["kipf", "mlp"], ["karate"], note=note)
    assert (tmp_path / "ablation.png").stat().st_size > 0 and paths["plot"].endswith("ablation.png")
    if note:
        assert titles == ["Propagation models\n(another protocol than Kipf & Welling's: see summary.md)"]
        assert labels == ["paper (its protocol)"] and note in (tmp_path / "summary.md").read_text()
    else:
        assert titles == ["Propagation models (Kipf & Welling 2017, Table 3)"] and labels == ["paper"]


def test_summary_std_is_the_sample_standard_deviation():
    """Over seeds the spread is the sample standard deviation (ddof=1, as pandas and Kipf's
    reports): 80 and 82 give 1.414, not 1.0; one run has 0, not NaN."""
    from gcnkit.train.report import summary_frame

    rows = [{**ROWS[0], "seed": s, "test_acc": a} for s, a in enumerate((80.0, 82.0))]
    out = summary_frame(rows + [{**ROWS[0], "model": "mlp", "test_acc": 50.0}])
    assert out["std"].tolist() == pytest.approx([2 ** 0.5, 0.0]) and out["mean"].tolist() == [81.0, 50.0]
    assert out["runs"].tolist() == [2, 1]


def test_summary_means_do_not_print_the_float_sums_tail(tmp_path):
    import json

    rows = [{**ROWS[0], "seed": s, "test_acc": a} for s, a in enumerate((69.0, 69.1, 68.993))]
    assert sum(r["test_acc"] for r in rows) / 3 != 69.031  # 69.03099999999999
    write_reports(rows, tmp_path, ["kipf"], ["karate"])
    assert "karate,kipf,69.031," in (tmp_path / "summary.csv").read_text()
    assert json.loads((tmp_path / "summary.json").read_text())[0]["mean"] == 69.031


@pytest.mark.parametrize("models", [["kipf"], ["kipf", "mlp", "cheb2"]])
@pytest.mark.parametrize("changed", [False, True])
def test_plot_title_fits_the_figure(tmp_path, monkeypatch, models, changed):
    # was: with a changed protocol the one-line title ran off a figure of few models
    import matplotlib.pyplot as plt

    from gcnkit.train.report import plot_ablation, summary_frame

    spans, real_close = [], plt.close

    def close(fig):
        fig.canvas.draw()
        box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
        spans.append((box.x0, box.x1, fig.bbox.width))
        return real_close(fig)
    monkeypatch.setattr(plt, "close", close)
    rows = [{**ROWS[0], "model": m} for m in models]
    plot_ablation(summary_frame(rows), models, ["karate"], tmp_path / "a.png", changed=changed)
    (x0, x1, width), = spans
    assert 0 <= x0 < x1 <= width


def test_summary_rows_follow_the_datasets_and_models_asked_not_the_finishing_order(tmp_path):
    # was: the order of runs.csv, which parallel workers (and a resumed run) write in any order
    rows = [{**ROWS[0], "dataset": d, "model": m, "seed": s} for d, m in (
        ("karate", "mlp"), ("csbm", "kipf"), ("karate", "kipf"), ("csbm", "mlp")) for s in (0, 1)]
    texts = []
    for order in (rows, rows[::-1]):
        write_reports(order, tmp_path, ["kipf", "mlp"], ["karate", "csbm"])
        texts.append(tuple((tmp_path / f).read_text() for f in ("summary.csv", "summary.json", "summary.md")))
    assert texts[0] == texts[1]
    keys = [tuple(line.split(",")[:2]) for line in texts[0][0].splitlines()[1:]]
    assert keys == [("karate", "kipf"), ("karate", "mlp"), ("csbm", "kipf"), ("csbm", "mlp")]
