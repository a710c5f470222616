"""Co-smoothing: bits per spike (Neural Latents Benchmark) and the CoSmoothing meta-estimator.

The comparison with the reference implementation (nlb_tools.evaluation.bits_per_spike) is
benchmarks/bench_cosmoothing_nlb.py: nlb-tools 0.0.4 does not install next to this package's
dependencies (it pins pandas<=1.3.4).
"""

import doctest
import pickle
import warnings

import numpy as np
import pytest
import sklearn
from scipy.ndimage import gaussian_filter1d
from scipy.stats import poisson
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.linear_model import PoissonRegressor
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import make_poisson_teacher
from sklearn_lrnn.metrics import CoSmoothing, bits_per_spike, co_smoothing_scorer, elbo_scorer
from sklearn_lrnn.preprocessing import PerTimeBin

HELDOUT = list(range(15, 20))


def _smooth(X):
    """Gaussian smoothing along time of 3-D counts (the NLB smoothing baseline's first step)."""
    return gaussian_filter1d(np.asarray(X, dtype=float), 2.0, axis=1)


def _pca_baseline(n_components=3):
    return make_pipeline(FunctionTransformer(_smooth), PerTimeBin(PCA(n_components)))


@pytest.fixture(scope="module")
def teacher():
    return make_poisson_teacher(n_trials=60, n_timesteps=60, n_units=20, offset_spread=0.5, random_state=0)


def _reference_bits(rates, counts):
    """Independent of the implementation: scipy's Poisson log-pmf, 1e-9 for zero rates, NaN bins left out."""
    rates, counts = np.array(rates, dtype=float), np.asarray(counts, dtype=float)
    ok = ~np.isnan(counts)
    rates = np.where(rates == 0, 1e-9, rates)
    null = np.nanmean(counts, axis=tuple(range(counts.ndim - 1)), keepdims=True) * np.ones_like(counts)
    null = np.where(null == 0, 1e-9, null)
    ll = poisson.logpmf(counts[ok], rates[ok]).sum() - poisson.logpmf(counts[ok], null[ok]).sum()
    return ll / counts[ok].sum() / np.log(2)


# --------------------------------------------------------------------------------- bits_per_spike
def test_bits_per_spike_matches_poisson_likelihoods():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(6, 30, 4)).astype(float)
    rates = rng.gamma(2.0, 1.0, size=counts.shape)
    rates[0, :5] = 0.0  # nlb_tools' 1e-9 in place of exact zeros
    counts[1, 3:9, 2] = np.nan  # missing bins
    rates[1, 3:6, 2] = np.nan  # ignored where counts are missing
    counts[..., 3] = np.where(np.isnan(counts[..., 3]), np.nan, 0.0)  # a neuron that never fires
    before = rates.copy()
    assert bits_per_spike(rates, counts) == pytest.approx(_reference_bits(rates, counts), rel=1e-10, abs=1e-12)
    np.testing.assert_array_equal(rates, before)  # the caller's rates are left alone


def test_bits_per_spike_null_model_and_truth(teacher):
    counts = teacher.X[:, :, HELDOUT]
    null = np.broadcast_to(counts.mean(axis=(0, 1)), counts.shape)
    assert bits_per_spike(null, counts) == pytest.approx(0.0, abs=1e-12)
    assert bits_per_spike(teacher.rates[:, :, HELDOUT], counts) > 1.0


def test_bits_per_spike_containers_agree(teacher):
    rates, counts = teacher.rates[:5, :, HELDOUT], teacher.X[:5, :, HELDOUT]
    value = bits_per_spike(rates, counts)
    assert bits_per_spike(list(rates), list(counts)) == pytest.approx(value, rel=1e-12)
    assert bits_per_spike(list(rates), counts) == pytest.approx(value, rel=1e-12)
    # one 2-D recording: the trials laid end to end
    flat = (rates.reshape(-1, len(HELDOUT)), counts.reshape(-1, len(HELDOUT)))
    assert bits_per_spike(*flat) == pytest.approx(value, rel=1e-12)
    # trials of different lengths
    ragged_r, ragged_c = [rates[0], rates[1, :20]], [counts[0], counts[1, :20]]
    assert bits_per_spike(ragged_r, ragged_c) == pytest.approx(
        _reference_bits(np.concatenate(ragged_r), np.concatenate(ragged_c)), rel=1e-10)


@pytest.mark.parametrize("rates, counts, match", [
    (-np.ones((3, 2)), np.ones((3, 2)), "rates contains negative"),
    (np.full((3, 2), np.nan), np.ones((3, 2)), "rates contains NaN or infinite"),
    (np.full((3, 2), np.inf), np.ones((3, 2)), "rates contains NaN or infinite"),
    (np.ones((3, 2)), np.full((3, 2), 0.5), "non-integer"),
    (np.ones((3, 2)), -np.ones((3, 2)), "counts contains negative"),
    (np.ones((3, 2)), np.full((3, 2), np.inf), "counts contains infinite"),
    (np.ones((3, 2)), np.zeros((3, 2)), "no spikes"),
    (np.ones((3, 3)), np.ones((3, 2)), "3 neurons"),
    (np.ones((2, 3, 2)), np.ones((3, 3, 2)), "2 trials"),
    (np.ones((2, 4, 2)), np.ones((2, 3, 2)), "differ in length"),
    (np.ones(3), np.ones(3), "must be a 3-D array"),
])
def test_bits_per_spike_rejects_bad_input(rates, counts, match):
    with pytest.raises(ValueError, match=match):
        bits_per_spike(rates, counts)


# ------------------------------------------------------------------------------------ CoSmoothing
def test_cosmoothing_pca_baseline(teacher):
    X_train, X_test = teacher.X[:40], teacher.X[40:]
    model = CoSmoothing(_pca_baseline(), heldout_columns=HELDOUT).fit(X_train)
    rates = model.predict(X_test)
    assert rates.shape == (20, 60, 5) and np.all(rates >= 0)
    assert model.heldout_mask_.sum() == 5 and model.n_features_in_ == 20
    assert model.estimator_.named_steps["pertimebin"].n_features_in_ == 15  # fitted on held-in columns only
    score = model.score(X_test)
    assert score == pytest.approx(bits_per_spike(rates, X_test[:, :, HELDOUT]))
    assert 0.3 < score < bits_per_spike(teacher.rates[40:, :, HELDOUT], X_test[:, :, HELDOUT])
    assert co_smoothing_scorer(model, X_test) == score
    # the held-out columns are not used for the prediction (hidden on test trials)
    hidden = X_test.copy()
    hidden[:, :, HELDOUT] = np.nan
    np.testing.assert_allclose(model.predict(hidden), rates)
    # a boolean mask and negative indices name the same neurons
    mask = np.zeros(20, dtype=bool)
    mask[HELDOUT] = True
    for cols in (mask, [-5, -4, -3, -2, -1]):
        np.testing.assert_allclose(CoSmoothing(_pca_baseline(), heldout_columns=cols).fit(X_train).predict(X_test),
                                   rates)


def test_cosmoothing_containers(teacher):
    X = teacher.X[:30]
    model = CoSmoothing(PerTimeBin(PCA(2)), heldout_columns=HELDOUT).fit(list(X))
    out = model.predict(list(X[:3]))
    assert isinstance(out, list) and [o.shape for o in out] == [(60, 5)] * 3
    ragged = [X[0], X[1, :25]]
    assert [o.shape for o in model.predict(ragged)] == [(60, 5), (25, 5)]
    # one 2-D recording
    flat = X.reshape(-1, 20)
    rec = CoSmoothing(PCA(2), heldout_columns=HELDOUT).fit(flat)
    assert rec.predict(flat).shape == (1800, 5) and np.isfinite(rec.score(flat))
    # a multi-output decoder is used as it is, a single-output one is fitted per held-out neuron
    assert type(model.decoder_.estimator_).__name__ == "MultiOutputRegressor"
    assert len(model.decoder_.estimator_.estimators_) == 5


def test_cosmoothing_clone_params_pickle(teacher):
    model = CoSmoothing(PerTimeBin(PCA(2)), heldout_columns=HELDOUT, decoder=PoissonRegressor(alpha=0.1))
    params = model.get_params()
    assert params["estimator__estimator__n_components"] == 2 and params["decoder__alpha"] == 0.1
    copy = clone(model).set_params(estimator__estimator__n_components=3)
    assert copy.estimator.estimator.n_components == 3 and model.estimator.estimator.n_components == 2
    model.fit(teacher.X[:30])
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict(teacher.X[30:]), model.predict(teacher.X[30:]))


@pytest.mark.parametrize("params, match", [
    ({"heldout_columns": list(range(20))}, "all of them held out"),
    ({"heldout_columns": [25]}, "outside"),
    ({"heldout_columns": []}, "non-empty"),
    ({"heldout_columns": np.zeros(20, dtype=bool)}, "selects no column"),
    ({"heldout_columns": np.ones(3, dtype=bool)}, "one entry per feature"),
    ({"heldout_columns": [1.5]}, "column indices"),
])
def test_cosmoothing_bad_heldout_columns(teacher, params, match):
    with pytest.raises(ValueError, match=match):
        CoSmoothing(PerTimeBin(PCA(2)), **params).fit(teacher.X[:10])


def test_cosmoothing_bad_input(teacher):
    bad = teacher.X[:10].copy()
    bad[0, 0, HELDOUT[0]] = -1
    with pytest.raises(ValueError, match="held-out columns of X"):
        CoSmoothing(PerTimeBin(PCA(2)), heldout_columns=HELDOUT).fit(bad)
    with pytest.raises(ValueError, match="parameter of CoSmoothing"):
        CoSmoothing(PerTimeBin(PCA(2)), heldout_columns=HELDOUT, decoder="poisson").fit(teacher.X[:10])
    model = CoSmoothing(PerTimeBin(PCA(2)), heldout_columns=HELDOUT).fit(teacher.X[:10])
    with pytest.raises(ValueError, match="expecting 20 features"):
        model.predict(teacher.X[:3, :, :15])
    with pytest.raises(TypeError, match="scores a CoSmoothing"):
        co_smoothing_scorer(model.estimator_, teacher.X[:3])


def test_grid_search_pca_components(teacher):
    search = GridSearchCV(CoSmoothing(_pca_baseline(), heldout_columns=HELDOUT),
                          {"estimator__pertimebin__estimator__n_components": [1, 4]}, cv=KFold(3))
    search.fit(teacher.X)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and scores[1] > scores[0]  # the teacher's rates need the 2-D latent
    assert search.best_params_["estimator__pertimebin__estimator__n_components"] == 4
    multi = GridSearchCV(CoSmoothing(_pca_baseline(), heldout_columns=HELDOUT),
                         {"estimator__pertimebin__estimator__n_components": [1, 4]}, cv=KFold(3),
                         scoring={"co_bps": co_smoothing_scorer}, refit="co_bps").fit(teacher.X)
    np.testing.assert_allclose(multi.cv_results_["mean_test_co_bps"], scores)


def _slr(rank=2, max_iter=30):
    return StochasticLowRankRNN(rank=rank, observation="poisson", max_iter=max_iter, n_particles=8, batch_size=10,
                                window_length=30, compute_fixed_points=False, random_state=0)


def test_low_rank_rnn_beats_mean_rates_and_shuffled_latents(teacher):
    X_train, X_test = teacher.X[:40], teacher.X[40:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fit
        model = CoSmoothing(_slr(), heldout_columns=HELDOUT).fit(X_train)
    score = model.score(X_test)
    assert score > 0.5  # far above the mean-rate model (0); the true rates give about 1.5
    # control: the same decoder on latents of other trials
    latents = model.estimator_.transform(X_test[:, :, :15])
    perm = np.roll(np.arange(len(X_test)), 1)
    shuffled = bits_per_spike(model.decoder_.predict(latents[perm]), X_test[:, :, HELDOUT])
    assert shuffled < score - 0.5
    # smoothing latents (the whole trial) through transform_params
    smoothed = clone(model).set_params(transform_params={"method": "smoothing"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isfinite(smoothed.fit(X_train).score(X_test))


def test_grid_search_rank_default_score(teacher):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(CoSmoothing(_slr(max_iter=3), heldout_columns=HELDOUT), {"estimator__rank": [1, 2]},
                              cv=KFold(2), error_score="raise").fit(teacher.X[:30])
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.estimator_.rank in (1, 2)
    assert elbo_scorer(search.best_estimator_, teacher.X[30:]) == search.best_estimator_.score(teacher.X[30:])


class _InputsLatents(TransformerMixin, BaseEstimator):
    """A latent model with inputs: latents are the held-in mean plus the input (records what it got)."""

    def fit(self, X, y=None, u=None):
        self.fit_u_ = u
        return self

    def transform(self, X, u=None):
        self.transform_u_ = u
        return np.asarray(X).mean(axis=-1, keepdims=True) + (0 if u is None else np.asarray(u))


def test_inputs_reach_the_latent_model_and_missing_bins_are_skipped(teacher):
    X, u = teacher.X[:20], np.ones((20, 60, 1))
    model = CoSmoothing(_InputsLatents(), heldout_columns=HELDOUT).fit(X, u=u)
    assert model.estimator_.fit_u_ is u and model.estimator_.transform_u_ is u
    rates = model.predict(X, u=u)
    counts = X[:, :, HELDOUT].copy()
    counts[0] = np.nan  # NaN marks missing bins of the held-out neurons, as in the benchmark's files
    X_missing = X.copy()
    X_missing[:, :, HELDOUT] = counts
    assert model.score(X_missing, u=u) == pytest.approx(bits_per_spike(rates[1:], counts[1:]), rel=1e-12)
    assert co_smoothing_scorer(model, X_missing, u=u) == model.score(X_missing, u=u)


def test_docstring_examples():
    from sklearn_lrnn._metrics import _cosmoothing

    result = doctest.testmod(_cosmoothing, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_inputs_in_searches_need_routing(teacher):
    X, u = teacher.X[:20], np.ones((20, 60, 1))
    search = GridSearchCV(CoSmoothing(_InputsLatents(), heldout_columns=HELDOUT), {"transform_params": [None]},
                          cv=KFold(2), error_score="raise")
    with pytest.raises(ValueError, match=r"CoSmoothing\.fit received u"):
        search.fit(X, u=u)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = clone(search).set_params(estimator=clone(search.estimator).set_fit_request(u=True)
                                          .set_score_request(u=True))
        scores = routed.fit(X, u=u).cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and routed.best_estimator_.estimator_.fit_u_.shape == (20, 60, 1)


def test_overflowing_decoder_names_the_cause():
    # a held-in unit with one spike in the training trials: StandardScaler divides it by ~0.03, so its
    # burst in a test trial sends the default Poisson decoder's exp to infinity; the error says why
    rng = np.random.default_rng(0)
    X = rng.poisson(0.5, size=(20, 50, 4)).astype(float)
    X[:, :, 0] = 0.0
    X[3, 7, 0] = 1.0
    X[:, :, 3] = X[:, :, 0] * 5 + rng.poisson(0.2, size=(20, 50))  # the held-out unit follows unit 0
    model = CoSmoothing(PerTimeBin(FunctionTransformer()), heldout_columns=[3]).fit(X)
    test = X[:2].copy()
    test[:, :, 0] = 200.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow in exp, before the error
        with pytest.raises(ValueError, match=r"overflowing \(infinite or > 3.4e38\) rates for trial 0.*StandardScaler"):
            model.score(test)
    assert np.isfinite(CoSmoothing(PerTimeBin(FunctionTransformer()), heldout_columns=[3],
                                   decoder=PoissonRegressor(alpha=1e-2)).fit(X).score(X[:2]))
