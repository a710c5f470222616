"""Co-smoothing (Pei et al., 2021, Neural Latents Benchmark): predict held-out neurons from the latents of
held-in neurons and score the prediction in bits per spike against a mean-rate model."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.linear_model import PoissonRegressor
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from .._columns import column_mask
from .._validation import check_aligned, check_inputs_routed, check_sequences, restore
from ..preprocessing import PerTimeBin
from ._scorers import _RoutedScorer

__all__ = ["bits_per_spike", "CoSmoothing", "co_smoothing_scorer"]

# what nlb_tools.evaluation.neg_log_likelihood puts in place of a rate of exactly 0 (also of a null rate 0)
_ZERO_RATE = 1e-9


def _pooled(seq):
    return np.concatenate(seq.trials, axis=0)


def _check_rates_counts(rates, counts):
    """Both containers as ``(n_rows, n_neurons)`` float arrays; NaN counts mark missing bins."""
    c_seq = check_sequences(counts, name="counts", allow_nan=True)
    r_seq = check_sequences(rates, name="rates", allow_nan=True)
    if r_seq.n_features != c_seq.n_features:
        raise ValueError(f"rates has {r_seq.n_features} neurons (last axis) but counts has {c_seq.n_features}; pass "
                         "the predicted rates of the same (held-out) neurons as the counts.")
    check_aligned(r_seq, c_seq, name="rates", count_hint="pass one trial of rates per trial of counts.",
                  length_hint="pass one rate per time bin of counts.")
    R, C = _pooled(r_seq), _pooled(c_seq)
    observed = ~np.isnan(C)
    if np.isinf(C).any():
        raise ValueError("counts contains infinite values; spike counts must be finite (NaN marks a missing bin).")
    if np.any(C[observed] < 0):
        raise ValueError("counts contains negative values; spike counts must be >= 0.")
    if np.any(C[observed] != np.round(C[observed])):
        raise ValueError("counts contains non-integer values; pass binned spike counts (bits per spike is a "
                         "Poisson likelihood of counts).")
    if not np.all(np.isfinite(R[observed])):
        raise ValueError("rates contains NaN or infinite values (in bins where counts are observed); the model's "
                         "predicted rates must be finite.")
    if np.any(R[observed] < 0):
        raise ValueError("rates contains negative values; predicted rates (expected counts per bin) must be >= 0 "
                         "(use a decoder with a positive link, such as PoissonRegressor).")
    return R, C, observed


def bits_per_spike(rates, counts):
    """Bits per spike of predicted rates: the co-smoothing score of the Neural Latents Benchmark.

    ``(LL(rates) - LL(null)) / (n_spikes * ln 2)``, with Poisson log-likelihoods summed over all neurons
    and bins, where the null model predicts each neuron's mean count over the same data (all trials and
    bins pooled). 0 means no better than the mean rates, higher is better; the value is the information
    the predicted rates carry about the spike times, per spike. It follows ``nlb_tools.evaluation.
    bits_per_spike`` (Pei et al., 2021): bins where ``counts`` is NaN are left out (and the rates there
    ignored), and a rate of exactly 0 (also a null rate of a neuron that never fires) counts as 1e-9.
    Unlike ``nlb_tools`` it does not change the ``rates`` passed in, and it raises a ``ValueError`` where
    ``nlb_tools`` fails an assertion or divides by zero.

    Parameters
    ----------
    rates : array-like of shape (n_timesteps, n_neurons) or (n_trials, n_timesteps, n_neurons), or list of 2-D arrays
        Predicted expected counts per bin (not log-rates); finite and >= 0.
    counts : array-like or list of 2-D arrays, same trials and shapes as ``rates``
        Observed spike counts: non-negative integers, NaN for a missing bin.

    Returns
    -------
    bits : float

    Raises
    ------
    ValueError
        Mismatched shapes; negative, NaN or infinite rates; negative, non-integer or infinite counts;
        no spike at all in ``counts``.

    See Also
    --------
    CoSmoothing : held-out neurons predicted from the latents of the held-in ones.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import bits_per_spike
    >>> counts = np.array([[0, 1], [2, 0], [0, 1], [2, 0]])
    >>> round(bits_per_spike(counts.mean(axis=0) + 0 * counts, counts), 12)  # the null model itself
    0.0
    >>> bits_per_spike(np.array([[0.1, 1], [2, 0.1], [0.1, 1], [2, 0.1]]), counts) > 0
    True
    """
    R, C, observed = _check_rates_counts(rates, counts)
    n_spikes = float(C[observed].sum())
    if n_spikes == 0:
        raise ValueError("counts has no spikes at all; bits per spike is undefined (it is normalised by the "
                         "number of spikes): score on data with spikes in the held-out neurons.")
    C0 = np.where(observed, C, 0.0)
    R = np.where(observed, R, 1.0)
    R = np.where(R == 0, _ZERO_RATE, R)
    n_obs = observed.sum(axis=0)
    null = np.divide(C0.sum(axis=0), n_obs, out=np.zeros(C.shape[1]), where=n_obs > 0)
    null = np.where(null == 0, _ZERO_RATE, null)
    # the log(n!) terms of both likelihoods cancel
    ll_model = np.sum(np.where(observed, C0 * np.log(R) - R, 0.0))
    ll_null = np.sum(C0.sum(axis=0) * np.log(null) - n_obs * null)
    return float((ll_model - ll_null) / n_spikes / np.log(2))


def _heldout_mask(heldout_columns, n_features):
    mask = column_mask(heldout_columns, n_features, "heldout_columns")
    if not mask.any():
        raise ValueError("heldout_columns selects no column; name at least one held-out neuron.")
    if mask.all():
        raise ValueError(f"X has {n_features} feature(s), all of them held out by heldout_columns; the latents "
                         "need at least one held-in column.")
    return mask


class CoSmoothing(MetaEstimatorMixin, BaseEstimator):
    """Co-smoothing: predict held-out neurons from the latents of the held-in neurons.

    The evaluation protocol of the Neural Latents Benchmark (Pei et al., 2021). ``fit(X)`` fits a clone
    of ``estimator`` on the held-in columns of ``X`` only, takes its latents (``estimator.transform``)
    on the same trials, and fits a Poisson regression of the held-out counts on the latents, time bin
    by time bin (through :class:`~sklearn_lrnn.preprocessing.PerTimeBin`; one regression per held-out
    neuron). ``predict(X)`` gives the held-out rates from the held-in columns of new trials alone;
    ``score(X)`` is their :func:`bits_per_spike` (higher is better), so that ``GridSearchCV`` selects
    models by co-smoothing with its default scoring::

        GridSearchCV(CoSmoothing(StochasticLowRankRNN(observation="poisson"), heldout_columns=range(30, 40)),
                     {"estimator__rank": [1, 2, 3]})

    Parameters
    ----------
    estimator : estimator object with ``fit`` and ``transform``
        The latent model, fitted on the held-in columns (e.g.
        :class:`~sklearn_lrnn.StochasticLowRankRNN` with ``observation="poisson"``, or a baseline such as
        ``make_pipeline(smoother, PerTimeBin(PCA(3)))``). Its ``transform`` must return latents with one
        row per time bin in the container of ``X`` (3-D in, 3-D out; list in, list out).
    heldout_columns : array-like of int or of bool
        Indices (negative ones count from the end) or a boolean mask of the held-out neurons among the
        columns of ``X``.
    decoder : regressor or None, default=None
        Regressor of one time bin's held-out counts on its latents, cloned and fitted on all bins of the
        training trials; one clone per held-out neuron if it is single-output (through
        ``MultiOutputRegressor``). Its predictions must be non-negative rates. ``None``:
        ``make_pipeline(StandardScaler(), PoissonRegressor(alpha=1e-3, solver="newton-cholesky"))``.
    transform_params : dict or None, default=None
        Keyword arguments of ``estimator.transform``, e.g. ``{"method": "smoothing"}`` for latents
        given the whole trial (the benchmark allows acausal inference).

    Attributes
    ----------
    estimator_ : estimator object
        The latent model fitted on the held-in columns.
    decoder_ : PerTimeBin
        The fitted decoder of latents to held-out rates.
    heldout_mask_ : ndarray of bool of shape (n_features_in_,)
        Which columns are held out.
    n_features_in_ : int
        Number of columns of ``X`` (held-in and held-out).

    See Also
    --------
    bits_per_spike : the score.
    co_smoothing_scorer : the same score for ``GridSearchCV(scoring=...)``.

    Notes
    -----
    ``predict`` and ``score`` take ``X`` with all ``n_features_in_`` columns; ``predict`` does not look at
    the held-out columns (they may be NaN, e.g. on test trials whose held-out neurons are hidden).
    Held-out columns must be non-negative for ``fit`` and integer counts (NaN for a missing bin) for
    ``score``. Inputs ``u`` (:class:`~sklearn_lrnn.StochasticLowRankRNN`) are passed to the latent
    model's ``fit`` and ``transform``.

    References
    ----------
    Pei, F., Ye, J., Zoltowski, D., Wu, A., Chowdhury, R. H., Sohn, H., O'Doherty, J. E., Shenoy, K. V.,
    Kaufman, M. T., Churchland, M., Jazayeri, M., Miller, L. E., Pillow, J., Park, I. M., Dyer, E. L. and
    Pandarinath, C. (2021). Neural Latents Benchmark '21: evaluating latent variable models of neural
    population activity. NeurIPS Datasets and Benchmarks Track.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> from sklearn_lrnn.datasets import make_poisson_teacher
    >>> from sklearn_lrnn.metrics import CoSmoothing
    >>> from sklearn_lrnn.preprocessing import PerTimeBin
    >>> data = make_poisson_teacher(n_trials=40, n_timesteps=50, n_units=20, random_state=0)
    >>> model = CoSmoothing(PerTimeBin(PCA(2)), heldout_columns=range(15, 20)).fit(data.X[:30])
    >>> model.predict(data.X[30:]).shape
    (10, 50, 5)
    >>> model.score(data.X[30:]) > 0
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "transform"])],
        "heldout_columns": ["array-like"],
        "decoder": [HasMethods(["fit", "predict"]), None],
        "transform_params": [dict, None],
    }

    def __init__(self, estimator, heldout_columns, decoder=None, transform_params=None):
        self.estimator = estimator
        self.heldout_columns = heldout_columns
        self.decoder = decoder
        self.transform_params = transform_params

    # ------------------------------------------------------------------------------------ helpers
    def _split(self, X, *, fitted):
        """Held-in part of X (its container) and the held-out columns (list of trials, NaN kept)."""
        if fitted:
            seq = check_sequences(X, name="X", allow_nan=True, n_features=self.n_features_in_,
                                  estimator_name=type(self).__name__)
            mask = self.heldout_mask_
        else:
            seq = check_sequences(X, name="X", allow_nan=True)
            mask = _heldout_mask(self.heldout_columns, seq.n_features)
        heldin = restore([t[:, ~mask] for t in seq.trials], seq.layout)
        heldout = [t[:, mask] for t in seq.trials]
        return seq, mask, heldin, heldout

    def _latents(self, estimator, X_in, u):
        kwargs = dict(self.transform_params or {})
        if u is not None:
            kwargs["u"] = u
        return estimator.transform(X_in, **kwargs)

    def _default_decoder(self):
        return make_pipeline(StandardScaler(), PoissonRegressor(alpha=1e-3, solver="newton-cholesky", max_iter=300))

    def _rates(self, X, u):
        check_is_fitted(self)
        seq, _, heldin, heldout = self._split(X, fitted=True)
        rates = self.decoder_.predict(self._latents(self.estimator_, heldin, u))
        per_trial = rates if isinstance(rates, list) else (list(rates) if np.ndim(rates) == 3 else [rates])
        n_out = int(self.heldout_mask_.sum())
        per_trial = [np.reshape(np.asarray(r, dtype=float), (len(t), n_out)) for r, t in zip(per_trial, heldout)]
        too_large = np.finfo(np.float32).max  # the metric computes in float32: beyond it is an overflow too
        for i, r in enumerate(per_trial):
            if r.size and not np.max(np.abs(r)) <= too_large:  # inf is above it, and NaN compares False
                # A Poisson decoder's exp overflows where a latent lies far outside its training range, most
                # often a feature nearly constant in the training trials that StandardScaler divides by ~0
                # (a unit silent there in a smoothed-counts baseline): say so instead of failing in the score.
                raise ValueError(
                    f"the decoder predicted overflowing (infinite or > 3.4e38) rates for trial {i}: its latents "
                    "there lie far outside the range seen in fit (a latent nearly constant in the training trials, "
                    "standardised by the default decoder's StandardScaler, is the usual cause). Pass a decoder "
                    "without scaling or with a stronger penalty, e.g. decoder=PoissonRegressor(alpha=1e-2), or drop "
                    "such features.")
        return seq, per_trial, heldout

    # -------------------------------------------------------------------------------------- API
    def fit(self, X, y=None, *, u=None):
        """Fit the latent model on the held-in columns and the decoder on the held-out ones.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features), list of 2-D arrays, or (n_timesteps, n_features)
            Training trials, held-in and held-out neurons as columns.
        y : None
            Ignored.
        u : array-like or None, default=None
            Inputs, passed to the latent model's ``fit`` and ``transform``.

        Returns
        -------
        self : CoSmoothing
        """
        self._validate_params()
        check_inputs_routed(self, u)
        seq, mask, heldin, heldout = self._split(X, fitted=False)
        for i, t in enumerate(heldout):
            if not np.all(np.isfinite(t)):
                raise ValueError(f"the held-out columns of X (trial {i}) contain NaN or infinite values; the decoder "
                                 "is fitted on spike counts (finite, >= 0).")
            if np.any(t < 0):
                raise ValueError(f"Negative values in data passed to CoSmoothing.fit: the held-out columns of X (trial "
                                 f"{i}) are spike counts and must be >= 0.")
        estimator = clone(self.estimator)
        estimator.fit(heldin) if u is None else estimator.fit(heldin, u=u)
        latents = self._latents(estimator, heldin, u)
        decoder = self._default_decoder() if self.decoder is None else clone(self.decoder)
        if not get_tags(decoder).target_tags.multi_output:
            decoder = MultiOutputRegressor(decoder)
        self.decoder_ = PerTimeBin(decoder).fit(latents, restore(heldout, seq.layout))
        self.estimator_ = estimator
        self.heldout_mask_ = mask
        self.n_features_in_ = seq.n_features
        return self

    def predict(self, X, *, u=None):
        """Rates of the held-out neurons, predicted from the held-in columns of X.

        Parameters
        ----------
        X : array-like or list of 2-D arrays with ``n_features_in_`` columns
            Trials; the held-out columns are not used (they may be NaN).
        u : array-like or None, default=None
            Inputs of the latent model.

        Returns
        -------
        rates : ndarray or list
            Expected counts per bin of the held-out neurons, ``(n_trials, n_timesteps, n_heldout)`` for 3-D
            ``X`` (a list for a list, 2-D for a 2-D recording).
        """
        seq, rates, _ = self._rates(X, u)
        return restore(rates, seq.layout)

    def score(self, X, y=None, *, u=None):
        """Co-smoothing bits per spike of the held-out neurons of X (higher is better).

        Parameters
        ----------
        X : array-like or list of 2-D arrays with ``n_features_in_`` columns
            Test trials; the held-out columns hold the counts the prediction is scored against.
        y : None
            Ignored.
        u : array-like or None, default=None
            Inputs of the latent model.

        Returns
        -------
        bits : float
            :func:`bits_per_spike` of :meth:`predict` against the held-out counts.
        """
        _, rates, heldout = self._rates(X, u)
        return bits_per_spike(rates, heldout)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = True  # the held-out columns are spike counts
        tags.non_deterministic = inner.non_deterministic
        tags.target_tags.required = False
        return tags


class _CoSmoothingScorer(_RoutedScorer):
    _name = "co_smoothing_scorer"

    def __call__(self, estimator, X, y=None, **params):
        if not isinstance(estimator, CoSmoothing):
            raise TypeError(f"co_smoothing_scorer scores a CoSmoothing estimator; got {type(estimator).__name__}. "
                            "Wrap the latent model: CoSmoothing(model, heldout_columns=...).")
        return float(estimator.score(X, u=params.get("u")))

    def _repr_args(self):
        return {}


co_smoothing_scorer = _CoSmoothingScorer()
co_smoothing_scorer.__doc__ = """Scorer of a :class:`CoSmoothing` estimator: bits per spike of the held-out
neurons of the scored trials (higher is better; the same as ``scoring=None``, but usable in a dict of
several metrics). Routed metadata (``u``) reaches the latent model."""
