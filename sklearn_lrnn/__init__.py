"""sklearn_lrnn: interpretable recurrent models of neural data for scikit-learn."""

from ._version import __version__
from ._io import load, save
from ._io import register_estimator as _register_estimator
from ._show_config import show_config
from ._validation import split_by_lengths
from .low_rank import StochasticLowRankRNN
from .plrnn import PLRNNRegressor
from .preprocessing import PerTimeBin

# the classes that load() may build from a file; _io names no estimator itself, since they sit above it
_register_estimator(StochasticLowRankRNN)
_register_estimator(PLRNNRegressor)

__all__ = ["__version__", "StochasticLowRankRNN", "PLRNNRegressor", "PerTimeBin", "save", "load", "split_by_lengths",
           "show_config"]
