"""``PLRNNRegressor``: piecewise-linear RNNs for dynamical-systems reconstruction and sequence regression.

The estimator (:mod:`._estimator`: its parameters, the configuration it resolves and hands to the engine,
:mod:`sklearn_lrnn._engine.plrnn`, which trains), its fitted methods (:mod:`._fitted`), the kind of targets a
supervised fit learns (:mod:`._targets`) and :func:`estimate_tf_interval` (:mod:`._tf_interval`).
"""

from ._estimator import PLRNNRegressor
from ._tf_interval import estimate_tf_interval

__all__ = ["PLRNNRegressor", "estimate_tf_interval"]
