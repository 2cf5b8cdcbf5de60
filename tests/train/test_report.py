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
        assert titles == ["Propagation models, another protocol than Kipf & Welling's (see summary.md)"]
        assert labels == ["paper (its protocol)"] and note in (tmp_path / "summary.md").read_text()
    else:
        assert titles == ["Propagation models (Kipf & Welling 2017, Table 3)"] and labels == ["paper"]


def test_summary_means_do_not_print_the_float_sums_tail(tmp_path):
    import json

    rows = [{**ROWS[0], "seed": s, "test_acc": a} for s, a in enumerate((69.0, 69.1, 68.993))]
    assert sum(r["test_acc"] for r in rows) / 3 != 69.031  # 69.03099999999999
    write_reports(rows, tmp_path, ["kipf"], ["karate"])
    assert "karate,kipf,69.031," in (tmp_path / "summary.csv").read_text()
    assert json.loads((tmp_path / "summary.json").read_text())[0]["mean"] == 69.031
