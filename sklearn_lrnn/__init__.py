"""sklearn_lrnn: interpretable recurrent models of neural data for scikit-learn."""

from ._version import __version__
from ._persistence import load, save
from ._show_config import show_config
from ._validation import split_by_lengths
from .low_rank import StochasticLowRankRNN
from .plrnn import PLRNNRegressor
from .preprocessing import PerTimeBin

__all__ = ["__version__", "StochasticLowRankRNN", "PLRNNRegressor", "PerTimeBin", "save", "load", "split_by_lengths",
           "show_config"]
