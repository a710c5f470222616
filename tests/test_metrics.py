"""Metrics against direct (loop) implementations, limiting cases, bad input, and the scorers in GridSearchCV."""

import math
import pickle

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_lrnn.metrics import (
    elbo_scorer,
    generate_like,
    isi_cv,
    isi_distribution,
    mean_rates,
    pairwise_correlations,
    persistence_forecast,
    power_spectra,
    power_spectrum_distance,
    power_spectrum_scorer,
    prediction_error,
    prediction_error_scorer,
    spike_statistics_distance,
    spike_statistics_scorer,
    state_space_divergence,
    state_space_scorer,
)


def _ar1(n_trials, T, D, coef, rng, scale=1.0):
    x = np.zeros((n_trials, T, D))
    x[:, 0] = rng.normal(size=(n_trials, D)) * scale
    for t in range(1, T):
        x[:, t] = coef * x[:, t - 1] + scale * rng.normal(size=(n_trials, D))
    return x


# ----------------------------------------------------------------------------- slow references
def slow_binned_kl(true, gen, n_bins, alpha):
    """Dense histogram over the data box, Laplace smoothing, KL summed bin by bin."""
    D = true.shape[1]
    sd = true.std(axis=0, ddof=1)
    lo, hi = true.min(0) - 0.1 * sd, true.max(0) + 0.1 * sd
    hp = np.zeros((n_bins,) * D)
    hq = np.zeros((n_bins,) * D)
    for hist, data in ((hp, true), (hq, gen)):
        for x in data:
            idx = tuple(int(math.floor(n_bins * (x[d] - lo[d]) / (hi[d] - lo[d]))) for d in range(D))
            if all(0 <= i < n_bins for i in idx):
                hist[idx] += 1
    p = (hp + alpha) / (hp.sum() + alpha * n_bins**D)
    q = (hq + alpha) / (hq.sum() + alpha * n_bins**D)
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p.ravel(), q.ravel()))


def slow_samples(true, n_samples, sigma2, seed):
    rng = np.random.RandomState(seed)
    centre = rng.randint(0, true.shape[0], size=n_samples)
    return true[centre] + math.sqrt(sigma2) * rng.standard_normal((n_samples, true.shape[1]))


def slow_log_mixture(z, centres, sigma2):
    D = len(z)
    terms = []
    for mu in centres:
        d2 = sum((z[d] - mu[d]) ** 2 for d in range(D))
        terms.append(-0.5 * d2 / sigma2 - 0.5 * D * math.log(2 * math.pi * sigma2))
    m = max(terms)
    return m + math.log(sum(math.exp(t - m) for t in terms)) - math.log(len(centres))


def slow_reference_kl(true, gen, samples, sigma2):
    """The published float32 estimator written out sample by sample."""
    D = true.shape[1]
    logs = []
    for z in samples:
        dens = []
        for centres in (true, gen):
            acc = np.float32(0.0)
            for mu in centres:
                d2 = float(np.sum((z - mu) ** 2))
                acc += np.exp(np.float32(-0.5 * d2 / sigma2)) / np.float32(math.sqrt(sigma2) ** D)
            dens.append(acc / np.float32(len(centres)))
        if dens[0] > 0 and dens[1] > 0:
            logs.append(np.log(dens[0]) - np.log(dens[1]))
    return float(np.mean(np.array(logs, dtype=np.float32))) if logs else float("nan")


def slow_power(x):
    """|DFT|^2 of the z-scored series by an explicit sum."""
    T = len(x)
    x = (x - x.mean()) / x.std()
    n = np.arange(T)
    return np.array([abs(np.sum(x * np.exp(-2j * np.pi * k * n / T))) ** 2 for k in range(T // 2 + 1)])


def slow_spectrum(x, sigma, power=None):
    """Gaussian smoothing with reflecting edges (truncated at 4 sigma), normalised."""
    power = slow_power(x) if power is None else power
    radius = int(4 * sigma + 0.5)
    k = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * k**2 / sigma**2)
    w /= w.sum()
    padded = np.pad(power, radius, mode="symmetric")
    smooth = np.array([np.sum(w * padded[i : i + 2 * radius + 1]) for i in range(len(power))])
    return smooth / smooth.sum()


def slow_hellinger(true, gen, sigma):
    dists = []
    for d in range(true.shape[1]):
        p, q = slow_spectrum(true[:, d], sigma), slow_spectrum(gen[:, d], sigma)
        dists.append(math.sqrt(sum((math.sqrt(a) - math.sqrt(b)) ** 2 for a, b in zip(p, q))) / math.sqrt(2))
    return float(np.mean(dists))


# -------------------------------------------------------------------------------------- D_stsp
@pytest.mark.parametrize("D, n_bins", [(1, 7), (2, 10), (3, 6)])
def test_binned_matches_loop(D, n_bins):
    rng = np.random.default_rng(D)
    true = rng.normal(size=(300, D))
    gen = rng.normal(0.3, 1.3, size=(250, D))  # some points fall outside the data box
    got = state_space_divergence(true, gen, method="bins", n_bins=n_bins, smoothing=1e-5)
    assert got == pytest.approx(slow_binned_kl(true, gen, n_bins, 1e-5), rel=1e-10)


def test_binned_identical_zero_and_unrelated_large():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 3))
    assert state_space_divergence(X, X.copy(), method="bins") == 0.0
    assert state_space_divergence(X, rng.permutation(X), method="bins") == 0.0  # time order is irrelevant
    far = rng.normal(size=(3000, 3)) * 0.2 + 1.5
    assert state_space_divergence(X, far, method="bins") > 5.0


def test_binned_refuses_many_dims_and_outside_is_inf():
    X = np.random.default_rng(0).normal(size=(100, 6))
    with pytest.raises(ValueError, match="fewer than 6 features"):
        state_space_divergence(X, X, method="bins")
    with pytest.warns(RuntimeWarning, match="infinite"):
        assert state_space_divergence(X[:, :2], X[:, :2] + 100.0, method="bins") == np.inf


@pytest.mark.parametrize("sigma2", [1.0, 0.3])
def test_gmm_exact_matches_loop(sigma2):
    rng = np.random.default_rng(1)
    true, gen = rng.normal(size=(40, 3)), rng.normal(0.5, 1.2, size=(55, 3))
    samples = slow_samples(true, 30, sigma2, seed=7)
    want = np.mean([slow_log_mixture(z, true, sigma2) - slow_log_mixture(z, gen, sigma2) for z in samples])
    got = state_space_divergence(true, gen, n_samples=30, sigma2=sigma2, random_state=7, chunk_size=4)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-12)


def test_gmm_reference_matches_float32_loop():
    rng = np.random.default_rng(2)
    true, gen = rng.normal(size=(30, 2)), rng.normal(1.0, 1.0, size=(30, 2))
    samples = slow_samples(true, 25, 0.5, seed=3)
    want = slow_reference_kl(true, gen, samples, 0.5)
    got = state_space_divergence(true, gen, n_samples=25, sigma2=0.5, random_state=3, convention="reference")
    assert got == pytest.approx(want, rel=1e-5)


def test_gmm_reference_drops_underflow_exact_does_not():
    # data: two clusters 40 apart; generated data covers only one. Samples of the missing cluster have a
    # generated density below float32's range: the reference drops them and even turns negative.
    rng = np.random.default_rng(3)
    true = np.concatenate([rng.normal(0, 0.1, (200, 1)), rng.normal(40, 0.1, (200, 1))])
    gen = rng.normal(0, 0.1, (400, 1))
    exact = state_space_divergence(true, gen, random_state=0)
    ref = state_space_divergence(true, gen, random_state=0, convention="reference")
    assert ref < 0 < 100 < exact
    assert ref == pytest.approx(np.log(0.5), abs=0.05)
    with pytest.warns(RuntimeWarning, match="underflowed"):
        assert np.isnan(state_space_divergence(true[:200], gen + 60, random_state=0, convention="reference"))


def test_gmm_identical_unrelated_chunks_and_containers():
    rng = np.random.default_rng(4)
    X = _ar1(4, 150, 3, 0.8, rng)
    assert state_space_divergence(X, X.copy(), random_state=0) == pytest.approx(0.0, abs=1e-12)
    assert state_space_divergence(X, X + 4.0, random_state=0) > 3.0
    same_dist = _ar1(4, 150, 3, 0.8, rng)
    assert 0 < state_space_divergence(X, same_dist, random_state=0) < 0.5
    base = state_space_divergence(X, same_dist, random_state=5)
    assert state_space_divergence(X, same_dist, random_state=5, chunk_size=3) == pytest.approx(base, rel=1e-12)
    # trials are pooled: the 3-D array, its list, and the concatenation give one answer
    flat = X.reshape(-1, 3)
    assert state_space_divergence(list(X), same_dist, random_state=5) == pytest.approx(base, rel=1e-12)
    assert state_space_divergence(flat, same_dist.reshape(-1, 3), random_state=5) == pytest.approx(base, rel=1e-12)
    # max_timesteps keeps the first pooled time points
    assert state_space_divergence(flat, same_dist, max_timesteps=100, random_state=1) == pytest.approx(
        state_space_divergence(flat[:100], same_dist.reshape(-1, 3)[:100], random_state=1, max_timesteps=None)
    )


# ----------------------------------------------------------------------------------------- D_H
def test_power_spectrum_matches_loop():
    rng = np.random.default_rng(5)
    true = _ar1(1, 256, 2, 0.9, rng)[0]
    gen = _ar1(1, 256, 2, 0.5, rng)[0]
    got = power_spectrum_distance(true, gen, smoothing_sigma=20)
    assert got == pytest.approx(slow_hellinger(true, gen, 20), rel=1e-9)
    narrow = power_spectrum_distance(true, gen, smoothing_sigma=3)
    assert narrow == pytest.approx(slow_hellinger(true, gen, 3), rel=1e-9)


def test_power_spectrum_identical_trials_and_segments():
    rng = np.random.default_rng(6)
    X = _ar1(5, 200, 2, 0.9, rng)
    assert power_spectrum_distance(X, X.copy()) == 0.0
    assert power_spectrum_distance(X, 3.0 * X + 1.0) == pytest.approx(0.0, abs=1e-12)  # z-scored per channel
    slow, fast = _ar1(5, 200, 2, 0.95, rng), _ar1(5, 200, 2, -0.5, rng)
    assert power_spectrum_distance(X, slow) < power_spectrum_distance(X, fast)
    assert 0 <= power_spectrum_distance(X, fast) <= 1
    # trials: raw power spectra are averaged over trials of equal length, then smoothed and normalised
    want = [slow_spectrum(None, 20, power=np.mean([slow_power(x[:, d]) for x in X], axis=0)) for d in range(2)]
    assert np.allclose(power_spectra(X), np.array(want).T, rtol=1e-9)
    # a long generated recording is cut into segments of the trial length: same as passing the segments
    long = slow.reshape(-1, 2)
    assert power_spectrum_distance(X, long) == pytest.approx(power_spectrum_distance(X, slow), rel=1e-12)


def test_power_spectrum_constant_channels():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 2))
    gen = X.copy()
    gen[:, 1] = 2.0
    assert power_spectrum_distance(X, gen) == pytest.approx(0.5)  # channel 0 identical, channel 1 distance 1
    with pytest.raises(ValueError, match="channel 1 of X_true is constant"):
        power_spectrum_distance(gen, X)


# ------------------------------------------------------------------------------------------ PE
def test_prediction_error_matches_loop_and_alignments():
    rng = np.random.default_rng(8)
    X = _ar1(3, 40, 2, 0.9, rng)
    n = 4

    def ar_forecast(X, n_steps):  # origin alignment: row t forecasts X[t + n]
        return 0.9**n_steps * X

    want = np.mean([(0.9**n * X[i, t] - X[i, t + n]) ** 2 for i in range(3) for t in range(40 - n)])
    assert prediction_error(ar_forecast, X, n_steps=n) == pytest.approx(want, rel=1e-12)

    def target_aligned(X, n_steps):  # row t forecasts X[t] from X[t - n]; first rows undefined
        out = np.full_like(X, np.nan)
        out[:, n_steps:] = 0.9**n_steps * X[:, :-n_steps]
        return out

    assert prediction_error(target_aligned, X, n_steps=n, alignment="target") == pytest.approx(want, rel=1e-12)
    assert prediction_error(lambda X, k: (0.9**k * X)[:, :-k], X, n_steps=n) == pytest.approx(want, rel=1e-12)
    # list of trials of different lengths
    trials = [X[0], X[1, :25]]
    want_list = np.mean(np.concatenate([((0.9**n * x[:-n] - x[n:]) ** 2).ravel() for x in trials]))
    assert prediction_error(ar_forecast_list := (lambda X, k: [0.9**k * x for x in X]), trials, n_steps=n) == (
        pytest.approx(want_list, rel=1e-12)
    )
    assert callable(ar_forecast_list)


def test_prediction_error_estimator_protocol_and_persistence():
    class Forecaster:
        def predict(self, X, *, n_steps=1):
            self.called_with = n_steps
            return persistence_forecast(X, n_steps)

    ramp = np.arange(50.0).reshape(-1, 1)
    est = Forecaster()
    assert prediction_error(est, ramp, n_steps=20) == 400.0
    assert est.called_with == 20
    assert prediction_error(persistence_forecast, np.ones((2, 30, 3)), n_steps=20) == 0.0


def test_prediction_error_bad_input():
    X = np.random.default_rng(0).normal(size=(2, 10, 2))
    with pytest.raises(ValueError, match="at least 21 are needed"):
        prediction_error(persistence_forecast, X, n_steps=20)
    with pytest.raises(ValueError, match="expected 10"):
        prediction_error(lambda X, n: X[:, :5], X, n_steps=2)
    with pytest.raises(ValueError, match="NaN or inf where a target exists"):
        prediction_error(lambda X, n: np.full_like(X, np.nan), X, n_steps=2)
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        prediction_error(persistence_forecast, X, n_steps=0)
    with pytest.raises(ValueError, match="predict"):
        prediction_error(42, X, n_steps=2)


# -------------------------------------------------------------------------------------- spikes
def test_spike_statistics_match_loops():
    rng = np.random.default_rng(9)
    counts = rng.poisson([0.3, 1.5, 0.05], size=(4, 60, 3))
    dt = 0.01
    assert np.allclose(mean_rates(counts, dt=dt), counts.reshape(-1, 3).mean(0) / dt)
    for unit, isi in enumerate(isi_distribution(counts, dt=dt)):
        expect = []
        for trial in counts:
            times = [t for t in range(60) for _ in range(trial[t, unit])]
            expect += [(b - a) * dt for a, b in zip(times[:-1], times[1:])]
        assert np.allclose(isi, expect)
    cv = isi_cv(counts)
    isis = isi_distribution(counts)
    assert np.allclose(cv, [np.std(i) / np.mean(i) for i in isis])
    assert np.allclose(pairwise_correlations(counts), np.corrcoef(counts.reshape(-1, 3).T))
    silent = counts.copy()
    silent[..., 2] = 0
    corr = pairwise_correlations(silent)
    assert np.isnan(corr[2]).all() and np.isnan(corr[:, 2]).all() and np.isnan(isi_cv(silent)[2])
    d = spike_statistics_distance(counts, counts)
    assert d == {"rates": 0.0, "isi_cv": 0.0, "correlations": 0.0}
    other = rng.poisson([1.0, 1.0, 1.0], size=(3, 80, 3))  # list vs 3-D, different lengths
    d = spike_statistics_distance(list(counts), other)
    want = np.mean(np.abs(mean_rates(counts) - mean_rates(other)))
    assert d["rates"] == pytest.approx(want) and d["correlations"] > 0


def test_spike_bad_input():
    with pytest.raises(ValueError, match="negative"):
        mean_rates(np.array([[1.0], [-1.0]]))
    with pytest.raises(ValueError, match="non-integer"):
        isi_distribution(np.array([[0.5], [1.0]]))
    with pytest.raises(ValueError, match="units"):
        spike_statistics_distance(np.ones((5, 2)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="dt"):
        mean_rates(np.ones((5, 2)), dt=0)


# ------------------------------------------------------------------------------ shared bad input
@pytest.mark.parametrize(
    "metric", [
        lambda a, b: state_space_divergence(a, b, method="bins"),
        lambda a, b: state_space_divergence(a, b, method="gmm", random_state=0),
        power_spectrum_distance,
    ],
)
def test_bad_input_raises(metric):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    with pytest.raises(ValueError, match="X_true has 2 features but X_gen has 3"):
        metric(X, rng.normal(size=(50, 3)))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metric(X, bad)
    with pytest.raises(ValueError, match="NaN"):
        metric(bad, X)
    with pytest.raises(ValueError, match="reshape"):
        metric(X[:, 0], X)
    with pytest.raises(ValueError, match="empty list"):
        metric([], X)


def test_too_short_and_bad_options():
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="at least 4"):
        power_spectrum_distance(X, X[:3])
    with pytest.raises(ValueError, match="at least 2 time points"):
        state_space_divergence(X[:1], X, method="bins")
    with pytest.raises(ValueError, match="method"):
        state_space_divergence(X, X, method="kde")
    with pytest.raises(ValueError, match="convention"):
        state_space_divergence(X, X, convention="float32")


# -------------------------------------------------------------------------------------- scorers
class DummyAR(BaseEstimator):
    """Stand-in generative model: AR(1) with coefficient ``coef`` and offset ``loc`` (LR-RNN protocol)."""

    def __init__(self, coef=0.5, loc=0.0):
        self.coef, self.loc = coef, loc

    def fit(self, X, y=None, u=None):
        X = np.asarray(X)
        self.n_features_in_ = X.shape[-1]
        self.fit_u_ = None if u is None else np.asarray(u).shape
        return self

    sampled_u = []  # shapes of the inputs sample() received (class-level: fitted clones are not kept)

    def sample(self, n_trials=1, n_timesteps=100, *, u=None, random_state=None):
        if u is not None:
            DummyAR.sampled_u.append(np.asarray(u).shape)
        x = _ar1(n_trials, n_timesteps, self.n_features_in_, self.coef, np.random.default_rng(random_state))
        return x * np.sqrt(1 - self.coef**2) + self.loc, x  # (X, Z) like StochasticLowRankRNN

    def predict(self, X, *, n_steps=1):
        return np.asarray(X) * self.coef**n_steps

    def score(self, X, y=None, u=None):
        return -abs(self.coef - 0.9) - abs(self.loc)


class DummyPLRNN(DummyAR):
    """PLRNNRegressor protocol: ``sample(n_timesteps, *, x0, u, random_state)`` returns one 2-D trial."""

    def sample(self, n_timesteps, *, x0=None, u=None, random_state=None):
        rng = np.random.default_rng(random_state)
        x = _ar1(1, n_timesteps, self.n_features_in_, self.coef, rng)[0] * np.sqrt(1 - self.coef**2) + self.loc
        if x0 is not None:
            x[0] = x0
        return (x, None) if self.coef > 0.7 else x  # both return styles


def _data():
    rng = np.random.default_rng(10)
    return _ar1(12, 200, 2, 0.9, rng) * np.sqrt(1 - 0.81)


@pytest.mark.parametrize("cls", [DummyAR, DummyPLRNN])
@pytest.mark.parametrize(
    "scoring, grid",
    [
        (state_space_scorer(method="bins", n_bins=10), {"loc": [0.0, 2.0]}),
        (state_space_scorer(method="gmm", n_samples=200), {"loc": [2.0, 0.0]}),
        (power_spectrum_scorer(), {"coef": [0.0, 0.9, -0.5]}),
        (prediction_error_scorer(n_steps=3), {"coef": [0.2, 0.9, 1.5]}),
        (elbo_scorer, {"coef": [0.2, 0.9]}),
    ],
)
def test_scorers_select_truth_in_grid_search(cls, scoring, grid):
    X = _data()
    search = GridSearchCV(cls(coef=0.9), grid, scoring=scoring, cv=KFold(3)).fit(X)
    truth = {"loc": 0.0, "coef": 0.9}
    assert search.best_params_ == {k: truth[k] for k in grid}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_score_ <= 1e-12 or scoring is elbo_scorer  # negative divergences
    pickle.loads(pickle.dumps(scoring))  # picklable for joblib / dask workers


def test_scorer_values_and_generation_protocol():
    X = _data()
    est = DummyAR(coef=0.9).fit(X)
    gen = generate_like(est, X, random_state=0)
    assert len(gen) == 12 and gen[0].shape == (200, 2)
    assert [g.shape[0] for g in generate_like(est, [X[0], X[1, :50]], burn_in=30)] == [200, 50]
    plr = DummyPLRNN(coef=0.5).fit(X)
    assert [g.shape for g in generate_like(plr, X[0], n_timesteps=80)] == [(80, 2)]
    started = generate_like(plr, X[:3], x0_from_data=True)
    assert all(np.array_equal(g[0], x[0]) for g, x in zip(started, X[:3]))
    scorer = state_space_scorer(method="bins", n_bins=10, random_state=3)
    want = -state_space_divergence(X, generate_like(est, X, random_state=3), method="bins", n_bins=10)
    assert scorer(est, X) == pytest.approx(want)
    assert scorer(est, X) == scorer(est, X)  # fixed seed: folds compared on equal terms
    assert prediction_error_scorer(n_steps=2)(est, X) == pytest.approx(-prediction_error(est, X, n_steps=2))
    post = power_spectrum_scorer(postprocess=lambda trials: [t[::-1] for t in trials])
    assert post(est, X) <= 0
    assert repr(state_space_scorer(method="bins")) == "state_space_scorer(method='bins', random_state=0)"
    with pytest.warns(RuntimeWarning, match="NaN or inf"), np.errstate(invalid="ignore"):
        assert state_space_scorer()(DummyAR(coef=1.5).fit(X), X) == -np.inf  # sqrt(1 - 1.5^2) is NaN
    with pytest.raises(ValueError, match="burn_in cannot be combined"):
        generate_like(est, X, burn_in=5, u=X)


def test_spike_scorer():
    class Poisson(DummyAR):
        def __init__(self, rate=1.0):
            self.rate = rate

        def sample(self, n_trials=1, n_timesteps=100, *, u=None, random_state=None):
            shape = (n_trials, n_timesteps, self.n_features_in_)
            c = np.random.default_rng(random_state).poisson(self.rate, size=shape)
            return c, None

    counts = np.random.default_rng(0).poisson(2.0, size=(9, 100, 3))
    search = GridSearchCV(Poisson(), {"rate": [0.5, 2.0, 4.0]}, scoring=spike_statistics_scorer(), cv=3).fit(counts)
    assert search.best_params_ == {"rate": 2.0}
    with pytest.raises(ValueError, match="statistic"):
        spike_statistics_scorer(statistic="fano")


def test_scorer_receives_routed_u():
    X = _data()
    u = np.zeros((12, 200, 1))
    DummyAR.sampled_u.clear()
    with sklearn.config_context(enable_metadata_routing=True):
        est = DummyAR(coef=0.9).set_fit_request(u=True).set_score_request(u=True)
        GridSearchCV(est, {"loc": [0.0]}, scoring=state_space_scorer(method="bins"), cv=KFold(3)).fit(X, u=u)
        # the held-out fold's inputs (4 of 12 trials) reached the model's sample() through the scorer
        assert DummyAR.sampled_u == [(4, 200, 1)] * 3
        search = GridSearchCV(est, {"loc": [0.0]}, scoring=elbo_scorer, cv=KFold(3)).fit(X, u=u)
        assert search.best_estimator_.fit_u_ == (12, 200, 1)
        DummyAR.sampled_u.clear()
        scorer = state_space_scorer(method="bins").set_score_request(u=False)
        GridSearchCV(est, {"loc": [0.0]}, scoring=scorer, cv=KFold(3)).fit(X, u=u)
        assert DummyAR.sampled_u == []
