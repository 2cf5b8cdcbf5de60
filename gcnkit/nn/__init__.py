"""Neural network modules: graph convolutions, recurrent cells, models."""
from gcnkit.nn.conv import *  # noqa: F401,F403
from gcnkit.nn.conv import __all__ as _conv_all

__all__ = list(_conv_all)
