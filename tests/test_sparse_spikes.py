"""Fits on sparse spike counts, as real recordings give them: they must start sanely, converge and
recover the rates, for every proposal and the multimodal model (issue: default Poisson fits on real
place-cell recordings diverged at the first epoch)."""

import warnings

import numpy as np
import pytest
from scipy.special import gammaln

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import make_sparse_spiking
from sklearn_lrnn.exceptions import SilentUnitWarning
from sklearn_lrnn.metrics import mean_rates

FAST = dict(n_particles=8, encoder_channels=(16, 16), compute_fixed_points=False, random_state=0)


def _constant_rate_loss(X, rate=None):
    """Loss per bin (negative Poisson log-likelihood, with log x!) of a constant rate per unit (default:
    each unit's mean count in X)."""
    rate = np.maximum(X.mean((0, 1)), 1e-12) if rate is None else rate
    return float(-(X * np.log(rate) - rate - gammaln(X + 1)).sum(-1).mean())


@pytest.fixture(scope="module")
def sparse():
    return make_sparse_spiking(n_trials=40, n_timesteps=150, n_units=40, random_state=0)


def test_generator_is_sparse_like_recordings(sparse):
    X = sparse.X
    assert X.shape == (40, 150, 43)
    empty = (X == 0).mean()
    assert 0.95 < empty < 0.995
    per_unit = (X == 0).mean((0, 1))
    tuned = sparse.unit_kind == "tuned"
    assert per_unit[tuned].min() > 0.85 and per_unit[tuned].max() < 1.0
    assert (X[..., sparse.unit_kind == "silent"] == 0).all()
    early = sparse.unit_kind == "silent_early"
    assert (X[:32][..., early] == 0).all() and X[32:][..., early].sum() > 0
    # bursting units: several spikes in a bin or in neighbouring bins
    assert X[..., sparse.unit_kind == "bursting"].max() >= 2
    # target rates (Hz) are met: mean counts / bin size, within Poisson error
    tuned_rates_hz = sparse.rates[..., tuned].mean((0, 1)) / 0.02
    np.testing.assert_allclose(tuned_rates_hz, sparse.target_rates[tuned[:40]], rtol=1e-3)
    assert 0.05 <= sparse.target_rates.min() and sparse.target_rates.max() <= 5.0


@pytest.mark.parametrize("proposal", ["encoder", "bootstrap"])
@pytest.mark.parametrize("observation", ["poisson", "poisson_currents", "multimodal"])
def test_first_loss_is_that_of_a_constant_rate(sparse, proposal, observation):
    """Before the fix the first epoch's loss was 1e6-1e13 times the constant-rate model's."""
    X = sparse.X[..., sparse.unit_kind != "silent"]
    kw = {}
    if observation == "multimodal":
        rng = np.random.RandomState(0)
        G = 0.5 * sparse.Z @ rng.randn(2, 3) + rng.randn(*sparse.Z.shape[:2], 3)  # noisy: no precise channel
        X = np.concatenate([G, X], -1)
        kw["poisson_columns"] = list(range(3, X.shape[-1]))
    n_units = X.shape[-1] if observation == "poisson_currents" else None

    def first_loss(data, **params):
        model = StochasticLowRankRNN(rank=2, proposal=proposal, max_iter=1, n_units=n_units, **FAST, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data)
        return model.loss_curve_[0]

    loss = first_loss(X, observation=observation, **kw)
    counts = X[..., 3:] if observation == "multimodal" else X
    limit = 2.0 * (_constant_rate_loss(counts))
    if observation == "multimodal":
        # the Gaussian block adds its own share, up to what the same proposal starts at on the Gaussian columns
        # alone (with a margin: the latents of a model with counts start in other units); before the fix the
        # bootstrap proposal raised TrainingDiverged here and the encoder started at ~2,300 per bin
        limit += 1.5 * first_loss(X[..., :3])
    assert np.isfinite(loss) and loss < limit, (loss, limit)


def test_prior_of_a_fresh_count_model_stays_bounded(sparse):
    model = StochasticLowRankRNN(rank=4, observation="poisson", max_iter=1, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(sparse.X[..., :40])
    X, Z = model.sample(n_trials=4, n_timesteps=500, random_state=0)
    assert np.isfinite(Z).all() and np.abs(Z).max() < 50
    assert X.mean() < 10 * sparse.X[..., :40].mean()


def test_silent_units_are_named_in_a_warning(sparse):
    model = StochasticLowRankRNN(rank=2, observation="poisson", max_iter=1, **FAST)
    with pytest.warns(SilentUnitWarning, match=r"2 of 43 count columns.*columns .*42"):
        model.fit(sparse.X[:32])  # the silent unit (42) and the unit silent in the first 32 trials
    assert np.isfinite(model.observation_offset_).all()
    assert np.isfinite(model.score(sparse.X[32:]))


def test_default_fit_on_sparse_counts_converges_and_recovers_rates():
    """A default fit (only rank and observation set) on a small sparse teacher: converges by its stopping
    rule, recovers the per-unit rates and the transition noise, scores held-out trials (in which a unit
    silent during training fires) finitely."""
    data = make_sparse_spiking(n_trials=40, n_timesteps=150, n_units=30, random_state=1)
    train, test = data.X[:32], data.X[32:]
    model = StochasticLowRankRNN(rank=2, observation="poisson", random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(train)
    kinds = {type(w.message).__name__ for w in caught}
    assert "ConvergenceWarning" not in kinds and model.converged_
    assert "SilentUnitWarning" in kinds
    X_gen, _ = model.sample(n_trials=64, n_timesteps=150, random_state=0)
    tuned = data.unit_kind == "tuned"
    true = data.rates[:32].mean((0, 1))
    gen = mean_rates(X_gen)
    assert np.corrcoef(np.log(true[tuned]), np.log(gen[tuned] + 1e-6))[0, 1] > 0.9
    # generated rates run 15-35% high (seeds 1-2): the transition noise is fitted ~1.5x too large, which
    # spreads the latents (the SMC bound's known noise bias for counts); a factor of 1.5 bounds it here
    assert 0.75 < np.median(gen[tuned] / true[tuned]) < 1.5
    assert gen[data.unit_kind == "silent"].max() < 1e-3
    held_out = model.score(test)
    assert np.isfinite(held_out)
    # better than each unit's constant mean rate on the held-out trials (the score is per bin)
    rate = np.maximum(train.mean((0, 1)), 0.5 / train[..., 0].size)
    assert held_out > -_constant_rate_loss(test, rate)


def test_real_place_cells_start_sanely(shared_dir):
    """The shared linear-track recording binned at 20 ms (99% of bins empty): the first loss of a default
    rank-4 Poisson fit is that of a constant rate, for both proposals (before: ~5e6 per bin)."""
    d = np.load(shared_dir / "data" / "hippocampus_linear_track" / "linear_track.npz")
    times, units = d["spike_times"], d["spike_units"]
    start = times.min()
    edges = np.arange(start, start + 300.0, 0.02)  # the first 5 minutes
    X = np.stack([np.histogram(times[units == u], edges)[0] for u in range(units.max() + 1)], 1).astype(float)
    assert (X == 0).mean() > 0.98
    X = X[:, X.sum(0) > 0]
    reference = _constant_rate_loss(X[None])
    for proposal in ("encoder", "bootstrap"):
        model = StochasticLowRankRNN(rank=4, observation="poisson", proposal=proposal, max_iter=1, random_state=0,
                                     compute_fixed_points=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)
        assert model.loss_curve_[0] < 2.0 * reference, (proposal, model.loss_curve_[0], reference)
