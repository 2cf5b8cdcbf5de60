"""The output folder of a forecasting run: one per configuration; what run_temporal refuses first."""
import pytest
from gcnkit_test_data import find_shared_data_root  # tests/gcnkit_test_data.py

from gcnkit.train.temporal import TemporalConfig
from gcnkit.train.temporal_run import default_out, run_temporal


def test_default_out_is_one_folder_per_configuration():
    base = TemporalConfig(dataset="chickenpox", model="gconvgru").resolved()
    same = TemporalConfig(dataset="Chickenpox", model="gconvgru", lr=0.01, progress=False,
                          root="/elsewhere").resolved()  # defaults spelled out; settings that change no number
    assert default_out(base) == default_out(same)
    assert default_out(base).parent.as_posix() == "runs/temporal"
    assert default_out(base).name.startswith("chickenpox-gconvgru-")
    other = TemporalConfig(dataset="chickenpox", model="gconvgru", lr=0.02).resolved()
    assert default_out(other) != default_out(base)


def test_zero_and_none_turn_tbptt_and_patience_off_in_one_folder():
    # was: three folders (and a refused resume with --out) for one run: 0 and None both mean "off"
    for name, key in (("chickenpox", "tbptt"), ("losloop", "patience")):
        off = TemporalConfig(dataset=name).resolved()
        zero = TemporalConfig(dataset=name, **{key: 0}).resolved()
        assert getattr(zero, key) is None and zero == off and default_out(zero) == default_out(off)
    assert TemporalConfig(dataset="chickenpox", tbptt=5).resolved().tbptt == 5


@pytest.mark.skipif(find_shared_data_root() is None, reason="shared temporal datasets not found")
@pytest.mark.parametrize("nodes", [(), (15,)])
def test_nodes_to_plot_are_checked_before_training(tmp_path, nodes):
    # was: nodes=() trained the model and wrote its files, then failed when plotting
    cfg = TemporalConfig(dataset="pedalme", epochs=1, hidden=4, progress=False, root=str(find_shared_data_root()))
    with pytest.raises(ValueError, match=r"--nodes must be one or more of 0\.\.14"):
        run_temporal(cfg, tmp_path / "out", nodes=nodes)
    assert not (tmp_path / "out").exists()
