"""Exceptions and warnings raised by the estimators.

- :class:`TrainingDiverged` (a ``FloatingPointError``): ``fit`` could not produce a usable model:
  the loss stayed non-finite after repeated roll-backs with smaller steps, no epoch had a finite
  loss, or the trained model generates non-finite data. Nothing is fitted when it is raised (a
  previously fitted estimator keeps its state). With ``n_init > 1`` it is raised only when every
  restart failed; failed restarts are skipped with a ``RuntimeWarning``.
- :class:`SilentUnitWarning` (a ``UserWarning``): a count column of the training data holds no spike.
  Its fitted rate is near zero (it cannot be learnt from the data); it never makes a score NaN, but a
  unit silent in training and active in held-out data lowers the held-out likelihood. Drop such units
  (or fit on a part of the recording where they fire) unless a near-zero rate is what you mean.
- :class:`sklearn.exceptions.ConvergenceWarning`: ``max_iter`` ended a fit before the stopping rule
  of ``learning_rate_schedule`` was met (``converged_`` is False).
"""

from sklearn.exceptions import ConvergenceWarning

from ._engine.training import TrainingDiverged

__all__ = ["TrainingDiverged", "ConvergenceWarning", "SilentUnitWarning"]


class SilentUnitWarning(UserWarning):
    """A count (Poisson) column of the training data has no spike at all."""
