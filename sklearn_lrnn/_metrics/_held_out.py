"""Held-out evaluation of a continuous recording: fit on its beginning, score on the rest.

One protocol for every model of the package (and for the linear baseline, ``activation="linear"``), so
that a nonlinear model and its baselines are compared on the same held-out data by the same metrics:
held-out log-likelihood per time bin, k-step-ahead prediction error, and the state-space and spectral
divergences of freely generated data (user guide, "Does my data need nonlinear dynamics?").
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import clone
from sklearn.utils import Bunch, check_random_state

from .._validation import check_sequences, restore
from ._divergence import state_space_divergence
from ._prediction import prediction_error
from ._scorers import _RoutedScorer, generate_like
from ._spectrum import power_spectrum_distance

__all__ = ["held_out_evaluation", "held_out_scorers", "latent_forecast"]


def latent_forecast(estimator, X, n_steps, *, u=None):
    """``estimator.forecast(X, n_steps, u=u)``: k-step-ahead forecasts of a fitted low-rank RNN.

    Kept as a function for ``prediction_error(lambda X, n: latent_forecast(model, X, n), ...)``; see
    :meth:`sklearn_lrnn.StochasticLowRankRNN.forecast` for the protocol (row t of each trial forecasts
    ``X[t + n_steps]`` from the data up to ``X[t]``; trial i has ``T_i - n_steps`` rows).
    """
    if not callable(getattr(estimator, "forecast", None)):
        raise ValueError(f"{type(estimator).__name__} has no forecast(X, n_steps) method; latent_forecast takes a "
                         "fitted StochasticLowRankRNN (a PLRNNRegressor forecasts with predict(X, n_steps=k)).")
    return estimator.forecast(X, _check_k(n_steps), u=u)


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"forecast horizons must be positive integers; got {k!r}.")
    return int(k)


def _forecaster(estimator, u):
    """A ``forecast(X, n)`` callable for :func:`prediction_error`, or None where the model cannot forecast."""
    if hasattr(estimator, "predict"):
        return lambda X, n: estimator.predict(X, n_steps=n, **({} if u is None else {"u": u}))
    if callable(getattr(estimator, "forecast", None)):
        return lambda X, n: estimator.forecast(X, n, u=u)
    return None


def _log_likelihood(estimator, X, u):
    """Held-out log-likelihood per time bin from ``score``, for models whose ``score`` is one (NaN otherwise)."""
    if not hasattr(estimator, "score_samples"):  # PLRNNRegressor: score is R^2, and it has no likelihood
        return float("nan")
    return float(estimator.score(X, **({} if u is None else {"u": u})))


def _generation_divergences(estimator, X, *, u, n_draws, burn_in, random_state, smoothing_sigma):
    """D_stsp and D_H of ``n_draws`` free generations, each as long as ``X``, against ``X`` (arrays of n_draws)."""
    rng = check_random_state(random_state)
    dstsp, dh = [], []
    for _ in range(int(n_draws)):
        seed = int(rng.randint(2**31 - 1))
        gen = generate_like(estimator, X, n_trials=None, burn_in=burn_in, random_state=seed, u=u)
        if not all(np.all(np.isfinite(t)) for t in gen):
            dstsp.append(np.inf)
            dh.append(np.inf)
            continue
        gen = restore(gen, check_sequences(X, name="X").layout)
        dstsp.append(float(state_space_divergence(X, gen, random_state=seed)))
        dh.append(float(power_spectrum_distance(X, gen, smoothing_sigma=smoothing_sigma)))
    return np.array(dstsp), np.array(dh)


def held_out_evaluation(estimator, X, *, u=None, train_fraction=0.75, k_steps=(1, 5, 20, 50), n_draws=3,
                        burn_in=0, smoothing_sigma=20, random_state=0):
    """Fit a clone of ``estimator`` on the beginning of a recording and evaluate it on the rest.

    The protocol for continuous recordings (for trial data, cross-validate by trial instead, e.g.
    ``cross_validate(model, X, cv=KFold(...))``): the first ``train_fraction`` of the time steps are
    used to fit, and the held-out remainder is scored by

    * the **log-likelihood per time bin** (the model's ``score`` on the held-out part, which is
      filtered from the model's initial-state distribution): the exact value for the linear
      baseline (``StochasticLowRankRNN(activation="linear")``, a Kalman filter), the SMC estimate for
      nonlinear models (a lower bound in expectation: a nonlinear model that wins on it wins for
      real); NaN for :class:`~sklearn_lrnn.PLRNNRegressor`, which has no likelihood;
    * the **k-step-ahead prediction error** PE(k) for each k in ``k_steps``
      (:func:`~sklearn_lrnn.metrics.prediction_error`; ``predict`` for ``PLRNNRegressor``, the
      filtering mean carried by the noise-free map for ``StochasticLowRankRNN``, see
      :func:`latent_forecast`);
    * **D_stsp** and **D_H** (:func:`~sklearn_lrnn.metrics.state_space_divergence` with its defaults,
      :func:`~sklearn_lrnn.metrics.power_spectrum_distance`) between the held-out part and free
      generations of the same length, averaged over ``n_draws`` generations.

    The likelihood and short-horizon forecasts reward models that track the data; only the generation
    metrics test whether a model reproduces the *dynamics* (a limit cycle, several attractors, chaos)
    that a linear model cannot have.

    Parameters
    ----------
    estimator : estimator
        Unfitted (it is cloned): e.g. ``StochasticLowRankRNN(...)``, ``StochasticLowRankRNN(activation=
        "linear", ...)`` or ``PLRNNRegressor(...)``.
    X : array-like of shape (n_timesteps, n_features)
        One continuous recording.
    u : array-like of shape (n_timesteps, n_inputs) or None, default=None
        Inputs aligned with ``X``, split at the same time step.
    train_fraction : float in (0, 1), default=0.75
        Fraction of the time steps used to fit.
    k_steps : sequence of int, default=(1, 5, 20, 50)
        Forecast horizons; the held-out part must be longer than the largest.
    n_draws : int, default=3
        Free generations compared with the held-out part.
    burn_in : int, default=0
        Steps generated and discarded before each generation (not with ``u``).
    smoothing_sigma : float, default=20
        Smoothing of the power spectra for D_H.
    random_state : int, default=0
        Seed of the generations and of D_stsp's Monte-Carlo samples (the fit is seeded by the
        estimator's own ``random_state``).

    Returns
    -------
    result : Bunch
        ``log_likelihood`` (float, NaN where the model has none), ``prediction_error`` (dict k -> PE(k),
        NaN where the model cannot forecast), ``state_space_divergence`` and ``power_spectrum_distance``
        (means over the draws; inf where a generation diverged), ``state_space_divergence_draws`` and
        ``power_spectrum_distance_draws`` (arrays), ``n_train`` and ``n_test`` (time steps),
        ``fit_seconds``, ``n_parameters`` (``n_parameters_`` of the fit, or None) and ``estimator`` (the
        fitted clone).

    Examples
    --------
    >>> from sklearn_lrnn import StochasticLowRankRNN
    >>> from sklearn_lrnn.datasets import make_low_rank_teacher
    >>> from sklearn_lrnn.metrics import held_out_evaluation
    >>> X = make_low_rank_teacher(n_trials=1, n_timesteps=400, n_units=6, random_state=0).X[0]
    >>> linear = StochasticLowRankRNN(activation="linear", max_iter=5, compute_fixed_points=False,
    ...                               learning_rate_schedule="exponential", random_state=0)
    >>> res = held_out_evaluation(linear, X, k_steps=(1, 10), n_draws=1)
    >>> res.n_train, res.n_test, sorted(res.prediction_error)
    (300, 100, [1, 10])
    """
    seq = check_sequences(X, name="X")
    if seq.layout != "2d":
        raise ValueError("held_out_evaluation splits one continuous recording in time: pass X of shape "
                         "(n_timesteps, n_features). For trials, cross-validate by trial (e.g. "
                         "sklearn.model_selection.cross_validate with KFold).")
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, numbers.Real) or not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be a number in (0, 1); got {train_fraction!r}.")
    ks = [_check_k(k) for k in np.atleast_1d(np.asarray(k_steps, dtype=object)).tolist()]
    if not ks:
        raise ValueError("k_steps must hold at least one forecast horizon.")
    if isinstance(n_draws, bool) or not isinstance(n_draws, numbers.Integral) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer; got {n_draws!r}.")
    Xa = seq.trials[0]
    T = len(Xa)
    cut = int(round(T * float(train_fraction)))
    if T - cut <= max(ks) or cut < 2:
        raise ValueError(f"the recording has {T} time steps: {cut} to fit and {T - cut} held out, but the held-out "
                         f"part must be longer than the largest forecast horizon ({max(ks)}); pass a longer "
                         "recording, smaller k_steps or a smaller train_fraction.")
    ua = None
    if u is not None:
        useq = check_sequences(u, name="u")
        if useq.layout != "2d" or len(useq.trials[0]) != T:
            raise ValueError(f"u must be one 2-D array with the {T} time steps of X; got {useq.layout} input "
                             f"of {int(useq.lengths.max())} steps.")
        ua = useq.trials[0]
    X_train, X_test = Xa[:cut], Xa[cut:]
    u_train, u_test = (None, None) if ua is None else (ua[:cut], ua[cut:])

    model = clone(estimator)
    start = time.perf_counter()
    model.fit(X_train, **({} if u_train is None else {"u": u_train}))
    fit_seconds = time.perf_counter() - start

    forecast = _forecaster(model, u_test)
    pe = {k: (float("nan") if forecast is None else float(prediction_error(forecast, X_test, n_steps=k)))
          for k in ks}
    dstsp, dh = _generation_divergences(model, X_test, u=u_test, n_draws=n_draws, burn_in=burn_in,
                                        random_state=random_state, smoothing_sigma=smoothing_sigma)
    n_params = getattr(model, "n_parameters_", None)
    return Bunch(
        log_likelihood=_log_likelihood(model, X_test, u_test),
        prediction_error=pe,
        state_space_divergence=float(np.mean(dstsp)),
        power_spectrum_distance=float(np.mean(dh)),
        state_space_divergence_draws=dstsp,
        power_spectrum_distance_draws=dh,
        n_train=cut,
        n_test=T - cut,
        fit_seconds=fit_seconds,
        n_parameters=None if n_params is None else int(n_params),
        estimator=model,
    )


class _HeldOutScorer(_RoutedScorer):
    """One metric of :func:`held_out_evaluation` as a scorer (higher is better)."""

    def __init__(self, name, metric, **kw):
        super().__init__()
        self._name, self.metric, self.kw = name, metric, kw

    def __call__(self, estimator, X, y=None, **params):
        u = params.get("u")
        if self.metric == "log_likelihood":
            return _log_likelihood(estimator, X, u)
        if self.metric == "prediction_error":
            forecast = _forecaster(estimator, u)
            return float("nan") if forecast is None else -float(prediction_error(forecast, X, n_steps=self.kw["k"]))
        dstsp, dh = _generation_divergences(estimator, X, u=u, **self.kw)
        return -float(np.mean(dstsp if self.metric == "state_space_divergence" else dh))

    def _repr_args(self):
        return dict(self.kw)


def held_out_scorers(*, k_steps=(1, 5, 20, 50), n_draws=3, burn_in=0, smoothing_sigma=20, random_state=0):
    """The metrics of :func:`held_out_evaluation` as a ``scoring`` dict (higher is better).

    For ``cross_validate`` / ``GridSearchCV`` on held-out data: with trials (``KFold`` over trials) or
    with one recording split in time (``TimeSeriesSplit``, whose test blocks follow their training
    data). Keys: ``"log_likelihood"``, ``"neg_prediction_error_<k>"`` for each k,
    ``"neg_state_space_divergence"``, ``"neg_power_spectrum_distance"``. Parameters as in
    :func:`held_out_evaluation`.

    Returns
    -------
    scoring : dict of str -> scorer

    Examples
    --------
    >>> from sklearn_lrnn.metrics import held_out_scorers
    >>> sorted(held_out_scorers(k_steps=(1, 20)))  # doctest: +NORMALIZE_WHITESPACE
    ['log_likelihood', 'neg_power_spectrum_distance', 'neg_prediction_error_1', 'neg_prediction_error_20',
     'neg_state_space_divergence']
    """
    gen_kw = dict(n_draws=n_draws, burn_in=burn_in, random_state=random_state, smoothing_sigma=smoothing_sigma)
    scoring = {"log_likelihood": _HeldOutScorer("held_out_log_likelihood", "log_likelihood")}
    for k in k_steps:
        k = _check_k(k)
        scoring[f"neg_prediction_error_{k}"] = _HeldOutScorer("held_out_prediction_error", "prediction_error", k=k)
    scoring["neg_state_space_divergence"] = _HeldOutScorer("held_out_state_space_divergence",
                                                           "state_space_divergence", **gen_kw)
    scoring["neg_power_spectrum_distance"] = _HeldOutScorer("held_out_power_spectrum_distance",
                                                            "power_spectrum_distance", **gen_kw)
    return scoring
