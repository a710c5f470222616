"""Exceptions and warnings raised by the estimators.

- :class:`TrainingDiverged` (a ``FloatingPointError``): ``fit`` could not produce a usable model:
  the loss stayed non-finite after repeated roll-backs with smaller steps, no epoch had a finite
  loss, or the trained model generates non-finite data. Nothing is fitted when it is raised (a
  previously fitted estimator keeps its state). With ``n_init > 1`` it is raised only when every
  restart failed; failed restarts are skipped with a ``RuntimeWarning``.
- :class:`sklearn.exceptions.ConvergenceWarning`: ``max_iter`` ended a fit before the stopping rule
  of ``learning_rate_schedule`` was met (``converged_`` is False).
"""

from sklearn.exceptions import ConvergenceWarning

from ._engine.training import TrainingDiverged

__all__ = ["TrainingDiverged", "ConvergenceWarning"]
