"""n-step-ahead prediction error PE(n) and the persistence baseline."""

from __future__ import annotations

import numpy as np

from .._validation import check_sequences, restore
from ._checks import check_one, check_positive_int

__all__ = ["prediction_error", "persistence_forecast"]


def persistence_forecast(X, n_steps=1):
    """Persistence baseline: the forecast of ``X[t + n_steps]`` made at time t is ``X[t]``.

    Follows the forecast protocol of :func:`prediction_error` (row t of the output is the forecast
    issued at t), so ``prediction_error(persistence_forecast, X, n_steps=n)`` is the baseline PE(n).

    Parameters
    ----------
    X : array-like of shape (n_timesteps, n_features) or (n_trials, n_timesteps, n_features), or list of 2-D arrays
        Data.
    n_steps : int, default=1
        Forecast horizon (the persistence forecast does not depend on it).

    Returns
    -------
    forecast : same container as ``X``
        A copy of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import persistence_forecast, prediction_error
    >>> X = np.arange(10.0).reshape(-1, 1)
    >>> prediction_error(persistence_forecast, X, n_steps=2)  # every forecast is off by 2
    4.0
    """
    check_positive_int(n_steps, "n_steps")
    seq = check_sequences(X, name="X")
    return restore([t.copy() for t in seq.trials], seq.layout)


def prediction_error(estimator, X, *, n_steps=20, alignment="origin"):
    """n-step-ahead prediction error PE(n): mean squared error of forecasts from data-inferred states.

    Forecast protocol: if ``estimator`` has a ``predict`` method it is called as
    ``estimator.predict(X, n_steps=n_steps)``; otherwise ``estimator`` must be a callable
    ``forecast(X, n_steps) -> Y``. ``Y`` is in the container of ``X``, trial i of shape ``(T_i, n_features)``
    (or ``(T_i - n_steps, n_features)``), and with ``alignment="origin"`` (the default, used by
    :class:`~sklearn_lrnn.PLRNNRegressor`) row t of a trial is the forecast of ``X[t + n_steps]`` made from
    the data up to and including ``X[t]``. Rows ``t >= T_i - n_steps`` have no target and are ignored (they
    may hold NaN). With ``alignment="target"`` row t is the forecast *of* ``X[t]`` made at ``t - n_steps``, and
    the first ``n_steps`` rows are ignored. A ``Y`` of ``T_i - n_steps`` rows holds only the scored forecasts,
    for either alignment.

    PE(n) pools the squared errors of all scored rows of all trials and all features:
    ``mean_{i, t, d} (Y_i[t, d] - X_i[t + n, d])^2`` (origin alignment).

    Parameters
    ----------
    estimator : estimator with ``predict(X, *, n_steps)`` or callable ``forecast(X, n_steps)``
        The forecaster, e.g. a fitted ``PLRNNRegressor`` or :func:`persistence_forecast`.
    X : array-like of shape (n_timesteps, n_features) or (n_trials, n_timesteps, n_features), or list of 2-D arrays
        Data; every trial needs more than ``n_steps`` time steps.
    n_steps : int, default=20
        Forecast horizon n >= 1.
    alignment : {"origin", "target"}, default="origin"
        How the rows of the forecast line up with ``X`` (see above).

    Returns
    -------
    pe : float
        The mean squared n-step-ahead error (lower is better).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import prediction_error
    >>> X = np.arange(30.0).reshape(3, 10, 1)
    >>> linear = lambda X, n: X + n  # exact forecast of a unit-slope ramp
    >>> prediction_error(linear, X, n_steps=5)
    0.0
    """
    if alignment not in ("origin", "target"):
        raise ValueError(f"alignment must be 'origin' or 'target'; got {alignment!r}.")
    n_steps = check_positive_int(n_steps, "n_steps")
    seq = check_one(X, name="X", min_length=n_steps + 1)
    if hasattr(estimator, "predict"):
        Y = estimator.predict(X, n_steps=n_steps)
    elif callable(estimator):
        Y = estimator(X, n_steps)
    else:
        raise ValueError(
            "estimator must have a predict(X, *, n_steps) method or be a callable forecast(X, n_steps); "
            f"got {type(estimator).__name__}."
        )
    if isinstance(Y, tuple):
        Y = Y[0]
    pred = check_sequences(Y, name="the forecast", allow_nan=True, n_features=seq.n_features,
                           estimator_name="X")
    if len(pred) != len(seq):
        raise ValueError(f"the forecast has {len(pred)} trials but X has {len(seq)}; return one per trial.")
    total, count = 0.0, 0
    for i, (x, y) in enumerate(zip(seq.trials, pred.trials)):
        T = x.shape[0]
        if y.shape[0] == T:
            y = y[: T - n_steps] if alignment == "origin" else y[n_steps:]
        elif y.shape[0] != T - n_steps:
            raise ValueError(
                f"forecast of trial {i} has {y.shape[0]} time steps; expected {T} (one row per time step of X) "
                f"or {T - n_steps} (only the forecasts that have a target)."
            )
        if not np.all(np.isfinite(y)):
            raise ValueError(f"the forecast of trial {i} contains NaN or inf where a target exists.")
        err = y - x[n_steps:]
        total += float(np.sum(err**2))
        count += err.size
    return total / count
