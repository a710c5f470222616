"""The stochastic low-rank RNN estimator, one job per module.

* :mod:`._estimator`: :class:`StochasticLowRankRNN`, its parameters and the hooks of the fit template;
* :mod:`._config`: the parameter table, the checks of how parameters combine, the Poisson columns and
  :class:`LowRankConfig`, what a fit resolves and freezes (``config_``);
* :mod:`._data`: validation of X and u, the held-out split, the batches (padded trials, random windows);
* :mod:`._inference`: ``transform``, ``score``, ``sample``, ... (Kalman filter, SMC, smoother);
* :mod:`._fitted`: the fitted attributes (parameters, ``fixed_points_``) and their persistence.

The torch model is built and initialised by ``_engine.initialisation``.
"""

from ._config import LowRankConfig
from ._estimator import StochasticLowRankRNN

__all__ = ["StochasticLowRankRNN", "LowRankConfig"]
