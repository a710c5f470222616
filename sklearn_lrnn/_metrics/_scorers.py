"""Scorers (``scorer(estimator, X, y=None, **metadata) -> float``, higher is better) for model selection."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.metadata_routing import MetadataRequest

from .._validation import (
    check_nonnegative_float, check_nonnegative_int, check_positive_float, check_positive_int, check_sequences,
)
from ._divergence import state_space_divergence
from ._prediction import prediction_error
from ._spectrum import power_spectrum_distance
from ._spikes import spike_statistics_distance

__all__ = [
    "generate_like",
    "state_space_scorer",
    "power_spectrum_scorer",
    "prediction_error_scorer",
    "spike_statistics_scorer",
    "elbo_scorer",
]


class _RoutedScorer:
    """Base: a picklable scorer that takes part in scikit-learn metadata routing.

    By default it requests ``u`` (exogenous inputs) in ``score``: with
    ``sklearn.set_config(enable_metadata_routing=True)``, ``GridSearchCV(...).fit(X, u=u)`` hands the
    held-out fold's ``u`` to the scorer. Change it with :meth:`set_score_request`.
    """

    def __init__(self):
        self._score_requests = {"u": True}

    def set_score_request(self, **requests):
        """Set which metadata this scorer receives (``True``, ``False``, ``None`` or an alias string)."""
        self._score_requests.update(requests)
        return self

    def get_metadata_routing(self):
        request = MetadataRequest(owner=self)
        for param, alias in self._score_requests.items():
            request.score.add_request(param=param, alias=alias)
        return request

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._repr_args().items())
        return f"{self._name}({args})"


class _ScoreMethodScorer(_RoutedScorer):
    _name = "elbo_scorer"

    def __call__(self, estimator, X, y=None, **params):
        return float(estimator.score(X, y, **params))

    def _repr_args(self):
        return {}


elbo_scorer = _ScoreMethodScorer()
elbo_scorer.__doc__ = """Scorer returning the estimator's own ``score`` (held-out ELBO per time bin for
:class:`~sklearn_lrnn.StochasticLowRankRNN`; equivalent to ``scoring=None``, but usable in a dict of
several metrics). Routed metadata (``u``) is passed on to ``score``."""


def _check_sample_kwargs(sample_kwargs):
    if sample_kwargs is not None and not isinstance(sample_kwargs, dict):
        raise TypeError(f"sample_kwargs must be a dict or None; got {type(sample_kwargs).__name__}.")


def generate_like(estimator, X, *, n_trials=None, n_timesteps=None, burn_in=0, random_state=0, u=None,
                  sample_kwargs=None, x0_from_data=False):
    """Generate data from a fitted model in the shape of ``X`` (the protocol the scorers use).

    Two ``sample`` signatures are supported: ``sample(n_trials=..., n_timesteps=..., random_state=...)``
    (:class:`~sklearn_lrnn.StochasticLowRankRNN`, returns ``(X, Z)`` with 3-D arrays) and
    ``sample(n_timesteps, *, random_state=...)`` (:class:`~sklearn_lrnn.PLRNNRegressor`, one 2-D trial per
    call, called once per trial with seeds drawn from ``random_state``). A tuple result contributes its
    first element.

    Parameters
    ----------
    estimator : fitted estimator with a ``sample`` method
    X : array-like (any of the three containers)
        Data whose trial count and lengths are imitated.
    n_trials : int or None, default=None
        Trials to generate; ``None``: as many as ``X`` has.
    n_timesteps : int or None, default=None
        Steps per trial after the burn-in; ``None``: each trial as long as the matching trial of ``X``
        (the longest of ``X`` is generated and cut).
    burn_in : int, default=0
        Steps generated first and discarded (cannot be combined with ``u``).
    random_state : int, RandomState instance or None, default=0
        Seed of the generation.
    u : array-like or None, default=None
        Exogenous inputs passed on to ``sample``.
    sample_kwargs : dict or None, default=None
        Further keyword arguments of ``sample``.
    x0_from_data : bool, default=False
        For ``sample`` methods with an ``x0`` argument (``PLRNNRegressor``): start generated trial i from
        the first observation of trial i of ``X``.

    Returns
    -------
    X_gen : list of ndarray of shape (T_i, n_features)
        Generated trials.
    """
    seq = check_sequences(X, name="X")
    n_trials = len(seq) if n_trials is None else check_positive_int(n_trials, "n_trials")
    burn_in = check_nonnegative_int(burn_in, "burn_in")
    if u is not None and burn_in:
        raise ValueError("burn_in cannot be combined with inputs u (they cover the scored steps only); set burn_in=0.")
    length = int(seq.lengths.max()) if n_timesteps is None else check_positive_int(n_timesteps, "n_timesteps")
    if not hasattr(estimator, "sample"):
        raise TypeError(f"estimator must be a fitted model with a sample method; got {type(estimator).__name__}.")
    _check_sample_kwargs(sample_kwargs)
    kwargs = dict(sample_kwargs or {})
    rng = check_random_state(random_state)
    params = inspect.signature(estimator.sample).parameters
    if "n_trials" in params:
        if u is not None:
            kwargs["u"] = u
        # an int seed (not a RandomState) is what every estimator's sample() accepts
        seed = random_state if isinstance(random_state, (int, np.integer)) else rng.randint(2**31 - 1)
        out = estimator.sample(n_trials=n_trials, n_timesteps=length + burn_in, random_state=seed, **kwargs)
        out = out[0] if isinstance(out, tuple) else out
        trials = check_sequences(out, name="generated data", allow_nan=True).trials
    else:
        u_trials = None if u is None else check_sequences(u, name="u").trials
        trials = []
        for i in range(n_trials):
            if u_trials is not None:
                kwargs["u"] = u_trials[i]
            if x0_from_data and "x0" in params:
                kwargs["x0"] = seq.trials[i % len(seq)][0]
            out = estimator.sample(length + burn_in, random_state=rng.randint(2**31 - 1), **kwargs)
            out = out[0] if isinstance(out, tuple) else out
            trials.extend(check_sequences(out, name="generated data", allow_nan=True).trials)
    trials = [t[burn_in:] for t in trials]
    if n_timesteps is None and len(trials) == len(seq):
        trials = [t[:n] for t, n in zip(trials, seq.lengths)]
    return trials


class _GeneratedDataScorer(_RoutedScorer):
    """Negative divergence between held-out data and data generated by the fitted model."""

    def __init__(self, name, metric, metric_kwargs, *, n_trials, n_timesteps, burn_in, random_state,
                 sample_kwargs, postprocess, sign=-1.0, key=None, x0_from_data=False):
        super().__init__()
        # the settings fail here, when the scorer is made, not in every fold of a search
        for arg, value in (("n_trials", n_trials), ("n_timesteps", n_timesteps)):
            if value is not None:
                check_positive_int(value, arg)
        check_nonnegative_int(burn_in, "burn_in")
        check_random_state(random_state)
        _check_sample_kwargs(sample_kwargs)
        if postprocess is not None and not callable(postprocess):
            raise TypeError(f"postprocess must be a callable or None; got {type(postprocess).__name__}.")
        self._name, self.metric, self.metric_kwargs = name, metric, dict(metric_kwargs)
        self.n_trials, self.n_timesteps, self.burn_in = n_trials, n_timesteps, burn_in
        self.random_state, self.sample_kwargs, self.postprocess = random_state, sample_kwargs, postprocess
        self.sign, self.key, self.x0_from_data = sign, key, x0_from_data

    def __call__(self, estimator, X, y=None, **params):
        X_gen = generate_like(
            estimator, X, n_trials=self.n_trials, n_timesteps=self.n_timesteps, burn_in=self.burn_in,
            random_state=self.random_state, u=params.get("u"), sample_kwargs=self.sample_kwargs,
            x0_from_data=self.x0_from_data,
        )
        if not all(np.all(np.isfinite(t)) for t in X_gen):
            # a model whose generated trajectories diverge is the worst candidate, not a failed fit
            warnings.warn(f"{self._name}: the generated data contain NaN or inf; scoring -inf.", RuntimeWarning,
                          stacklevel=2)
            return -np.inf
        if self.postprocess is not None:
            X_gen = self.postprocess(X_gen)
        value = self.metric(X, X_gen, **self.metric_kwargs)
        if self.key is not None:
            value = value[self.key]
        return self.sign * float(value)

    def _repr_args(self):
        out = {"statistic": self.key} if self.key is not None else {}
        out.update(self.metric_kwargs)
        for k in ("n_trials", "n_timesteps", "burn_in", "random_state", "x0_from_data"):
            if getattr(self, k) not in (None, 0, False) or k == "random_state":
                out[k] = getattr(self, k)
        return out


def state_space_scorer(*, method="gmm", n_trials=None, n_timesteps=None, burn_in=0, random_state=0,
                       sample_kwargs=None, postprocess=None, x0_from_data=False, **metric_kwargs):
    """Scorer ``-D_stsp(X_heldout, X_generated)`` for ``GridSearchCV(scoring=...)`` (higher is better).

    The fitted model generates data shaped like the held-out ``X`` (see :func:`generate_like`), which is
    compared with :func:`state_space_divergence`.

    Parameters
    ----------
    method : {"gmm", "bins"}, default="gmm"
        See :func:`state_space_divergence`.
    n_trials, n_timesteps, burn_in : see :func:`generate_like`
    random_state : int, default=0
        Fixed seed of the generation and of the Monte-Carlo samples, so that folds and candidates are
        compared on equal terms.
    sample_kwargs : dict or None, default=None
        Extra keyword arguments of the estimator's ``sample``.
    postprocess : callable or None, default=None
        Applied to the generated list of trials before scoring (e.g. the EEG protocol's Hann(15)
        smoothing and z-scoring).
    x0_from_data : bool, default=False
        See :func:`generate_like`.
    **metric_kwargs
        Passed to :func:`state_space_divergence` (``n_bins``, ``sigma2``, ``convention``, ...).

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y=None, **metadata) -> float``

    Examples
    --------
    >>> from sklearn_lrnn.metrics import state_space_scorer
    >>> state_space_scorer(method="bins")
    state_space_scorer(method='bins', random_state=0)
    """
    if method not in ("gmm", "bins"):
        raise ValueError(f"method must be 'gmm' or 'bins'; got {method!r}.")
    metric_kwargs = {"method": method, **metric_kwargs}
    if method == "gmm":
        metric_kwargs.setdefault("random_state", random_state)
    return _GeneratedDataScorer(
        "state_space_scorer", state_space_divergence, metric_kwargs, n_trials=n_trials,
        n_timesteps=n_timesteps, burn_in=burn_in, random_state=random_state,
        sample_kwargs=sample_kwargs, postprocess=postprocess, x0_from_data=x0_from_data,
    )


def power_spectrum_scorer(*, smoothing_sigma=20, n_trials=None, n_timesteps=None, burn_in=0, random_state=0,
                          sample_kwargs=None, postprocess=None, x0_from_data=False):
    """Scorer ``-D_H(X_heldout, X_generated)`` for ``GridSearchCV(scoring=...)`` (higher is better).

    Parameters
    ----------
    smoothing_sigma : float, default=20
        See :func:`power_spectrum_distance`.
    n_trials, n_timesteps, burn_in, random_state, sample_kwargs, postprocess, x0_from_data
        As in :func:`state_space_scorer`.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y=None, **metadata) -> float``

    Examples
    --------
    >>> from sklearn_lrnn.metrics import power_spectrum_scorer
    >>> power_spectrum_scorer(burn_in=100)
    power_spectrum_scorer(smoothing_sigma=20, burn_in=100, random_state=0)
    """
    check_nonnegative_float(smoothing_sigma, "smoothing_sigma")
    return _GeneratedDataScorer(
        "power_spectrum_scorer", power_spectrum_distance, {"smoothing_sigma": smoothing_sigma},
        n_trials=n_trials, n_timesteps=n_timesteps, burn_in=burn_in, random_state=random_state,
        sample_kwargs=sample_kwargs, postprocess=postprocess, x0_from_data=x0_from_data,
    )


def spike_statistics_scorer(*, statistic="rates", dt=1.0, n_trials=None, n_timesteps=None, burn_in=0,
                            random_state=0, sample_kwargs=None):
    """Scorer ``-spike_statistics_distance(counts, generated)[statistic]`` (higher is better).

    Parameters
    ----------
    statistic : {"rates", "isi_cv", "correlations"}, default="rates"
        Which summary of :func:`spike_statistics_distance` to score.
    dt : float, default=1.0
        Bin width.
    n_trials, n_timesteps, burn_in, random_state, sample_kwargs
        As in :func:`state_space_scorer`; the model must generate integer counts (Poisson observations).

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y=None, **metadata) -> float``

    Examples
    --------
    >>> from sklearn_lrnn.metrics import spike_statistics_scorer
    >>> spike_statistics_scorer(statistic="correlations")
    spike_statistics_scorer(statistic='correlations', dt=1.0, random_state=0)
    """
    if statistic not in ("rates", "isi_cv", "correlations"):
        raise ValueError(f"statistic must be 'rates', 'isi_cv' or 'correlations'; got {statistic!r}.")
    check_positive_float(dt, "dt")
    return _GeneratedDataScorer(
        "spike_statistics_scorer", spike_statistics_distance, {"dt": dt}, n_trials=n_trials,
        n_timesteps=n_timesteps, burn_in=burn_in, random_state=random_state,
        sample_kwargs=sample_kwargs, postprocess=None, key=statistic,
    )


class _PredictionErrorScorer(_RoutedScorer):
    _name = "prediction_error_scorer"

    def __init__(self, n_steps, alignment):
        super().__init__()
        self._score_requests = {}  # predict(X, n_steps=...) takes no routed metadata
        self.n_steps, self.alignment = n_steps, alignment

    def __call__(self, estimator, X, y=None, **params):
        return -prediction_error(estimator, X, n_steps=self.n_steps, alignment=self.alignment)

    def _repr_args(self):
        return {"n_steps": self.n_steps, "alignment": self.alignment}


def prediction_error_scorer(*, n_steps=20, alignment="origin"):
    """Scorer ``-PE(n_steps)`` for ``GridSearchCV(scoring=...)`` (higher is better).

    Parameters
    ----------
    n_steps : int, default=20
        Forecast horizon.
    alignment : {"origin", "target"}, default="origin"
        See :func:`prediction_error`.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y=None) -> float``

    Examples
    --------
    >>> from sklearn_lrnn.metrics import prediction_error_scorer
    >>> prediction_error_scorer(n_steps=5)
    prediction_error_scorer(n_steps=5, alignment='origin')
    """
    check_positive_int(n_steps, "n_steps")
    if alignment not in ("origin", "target"):
        raise ValueError(f"alignment must be 'origin' or 'target'; got {alignment!r}.")
    return _PredictionErrorScorer(n_steps, alignment)
