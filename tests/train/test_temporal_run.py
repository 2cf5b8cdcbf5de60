"""The output folder of a forecasting run: one per configuration."""
from gcnkit.train.temporal import TemporalConfig
from gcnkit.train.temporal_run import default_out


def test_default_out_is_one_folder_per_configuration():
    base = TemporalConfig(dataset="chickenpox", model="gconvgru").resolved()
    same = TemporalConfig(dataset="Chickenpox", model="gconvgru", lr=0.01, progress=False,
                          root="/elsewhere").resolved()  # defaults spelled out; settings that change no number
    assert default_out(base) == default_out(same)
    assert default_out(base).parent.as_posix() == "runs/temporal"
    assert default_out(base).name.startswith("chickenpox-gconvgru-")
    other = TemporalConfig(dataset="chickenpox", model="gconvgru", lr=0.02).resolved()
    assert default_out(other) != default_out(base)
