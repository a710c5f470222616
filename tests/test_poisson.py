"""Spiking data: Poisson observations, the encoder proposal, multimodal fits and count validation."""

import numpy as np
import pytest
import torch

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn._engine.encoder import ConvEncoder
from sklearn_lrnn._engine.observations import build_observation
from sklearn_lrnn.datasets import make_poisson_teacher
from sklearn_lrnn.metrics import isi_distribution, mean_rates

TINY = dict(rank=2, max_iter=2, n_particles=4, batch_size=4, random_state=0, compute_fixed_points=False,
            encoder_channels=(8, 8))


@pytest.fixture(scope="module")
def spikes():
    # offset_spread gives neurons distinct mean rates, so the rate correlation below can fail
    return make_poisson_teacher(n_trials=80, n_timesteps=50, offset_spread=0.5, random_state=0)


@pytest.fixture(scope="module")
def student(spikes):
    return StochasticLowRankRNN(
        rank=2, observation="poisson_currents", n_particles=8, batch_size=16, max_iter=60, learning_rate=2e-2,
        learning_rate_schedule="exponential", final_learning_rate=1e-3, transition_noise="diag",
        encoder_channels=(32, 32), random_state=0,
    ).fit(spikes.X)


def _mean_isi(counts):
    return np.array([d.mean() if len(d) else np.nan for d in isi_distribution(counts)])


def test_student_matches_teacher_rates_and_isis(spikes, student):
    X, _ = student.sample(80, 50, random_state=1)
    assert np.all(X >= 0) and np.all(X == np.round(X))
    assert np.corrcoef(mean_rates(spikes.X), mean_rates(X))[0, 1] >= 0.9
    isi_t, isi_s = _mean_isi(spikes.X), _mean_isi(X)
    ok = np.isfinite(isi_t) & np.isfinite(isi_s)
    assert ok.sum() > 30
    assert np.median(np.abs(isi_s[ok] / isi_t[ok] - 1)) < 0.15
    assert np.corrcoef(isi_t[ok], isi_s[ok])[0, 1] > 0.9


def test_auto_proposal_is_encoder_and_expected_counts(spikes, student):
    model = student._model()
    assert hasattr(model, "encoder")
    Z = student.transform(spikes.X[:5])
    rates = student.inverse_transform(Z)
    assert rates.shape == spikes.X[:5].shape and np.all(rates > 0)
    # expected counts track the data: per-neuron means close to the observed ones
    assert np.corrcoef(rates.mean((0, 1)), spikes.X[:5].mean((0, 1)))[0, 1] > 0.8


def test_encoder_proposal_has_proper_weights():
    """With an untrained, overconfident encoder the proposal is poor, but the importance weights must
    still make the bound a consistent estimate: at many particles it matches the bootstrap estimate."""
    from sklearn_lrnn._engine.low_rank import LowRankTransition
    from sklearn_lrnn._engine.smc import StateSpaceModel, run_smc

    g = torch.Generator().manual_seed(0)
    tr = LowRankTransition(2, 10, generator=g, noise_std=0.3, noise_kind="full")
    with torch.no_grad():
        tr.noise.off_diag.fill_(0.1)  # full Sigma_z: the proposal uses its diagonal, the weights the full one
    x = torch.poisson(torch.full((2, 20, 10), 0.5), generator=g)
    for padding in ("causal", "acausal", "centred"):
        enc = ConvEncoder(10, 2, kernels=(5, 1), channels=(8,), padding=padding)
        with torch.no_grad():
            enc.convs[-1].bias[2:].fill_(-0.5)
        model = StateSpaceModel(tr, build_observation("poisson_currents", 2, 10), enc)
        with torch.no_grad():
            est = run_smc(model, x, n_particles=20000, proposal="encoder", generator=g).log_evidence
            ref = run_smc(model, x, n_particles=20000, proposal="bootstrap", generator=g).log_evidence
        np.testing.assert_allclose(est.numpy(), ref.numpy(), atol=0.5)


def test_poisson_log_prob_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    from sklearn_lrnn._engine.low_rank import LowRankTransition

    tr = LowRankTransition(2, 6, generator=g)
    z, x = torch.randn(3, 4, 2, generator=g), torch.poisson(torch.full((3, 4, 6), 2.0), generator=g)
    for name in ("poisson", "poisson_currents", "poisson_rates"):
        for link in ("softplus", "exp"):
            obs = build_observation(name, 2, 6, link=link, generator=g)
            ref = torch.distributions.Poisson(obs.mean(z, tr)).log_prob(x).sum(-1)
            torch.testing.assert_close(obs.log_prob(x, z, tr), ref, rtol=1e-4, atol=1e-4)
            step, const = obs.prepare(x, tr)  # x read as (B=3, T=4, D); z as (B, K=4, R)
            torch.testing.assert_close(step(1, z) + const[:, 1:2], obs.log_prob(x[:, 1:2], z, tr), rtol=1e-4,
                                       atol=1e-4)


@pytest.mark.parametrize("bad,match", [(-1.0, "non-negative integer"), (0.5, "non-negative integer")])
def test_bad_counts_raise(spikes, bad, match):
    X = spikes.X[:6].copy()
    X[2, 3, 5] = bad
    model = StochasticLowRankRNN(observation="poisson", **TINY)
    with pytest.raises(ValueError, match=match):
        model.fit(X)
    assert not hasattr(model, "n_iter_")
    fitted = StochasticLowRankRNN(observation="poisson", **TINY).fit(spikes.X[:6])
    with pytest.raises(ValueError, match=match):
        fitted.transform(X)


def test_multimodal_fit_and_validation(spikes):
    rng = np.random.default_rng(0)
    counts = spikes.X[:16, :, :10]
    cont = spikes.Z[:16] @ rng.standard_normal((2, 5)) + 0.1 * rng.standard_normal((16, 50, 5))
    X = np.concatenate([cont, counts], -1)
    cols = list(range(5, 15))
    model = StochasticLowRankRNN(observation="multimodal", poisson_columns=cols, link="exp", **TINY).fit(X)
    assert np.isfinite(model.loss_curve_).all()
    assert np.isnan(model.observation_noise_var_[5:]).all() and np.isfinite(model.observation_noise_var_[:5]).all()
    Xs, _ = model.sample(3, 20, random_state=0)
    assert np.all(Xs[..., 5:] == np.round(Xs[..., 5:])) and np.all(Xs[..., 5:] >= 0)
    assert np.any(Xs[..., :5] != np.round(Xs[..., :5]))  # Gaussian block stays continuous
    mask = np.zeros(15, bool)
    mask[5:] = True
    same = StochasticLowRankRNN(observation="multimodal", poisson_columns=mask, link="exp", **TINY).fit(X)
    np.testing.assert_allclose(same.observation_matrix_, model.observation_matrix_)
    Xbad = X.copy()
    Xbad[0, 0, 7] = 1.5  # a Poisson column; Gaussian columns may hold any real number
    with pytest.raises(ValueError, match="columns \\[7\\]"):
        StochasticLowRankRNN(observation="multimodal", poisson_columns=cols, **TINY).fit(Xbad)
    with pytest.raises(ValueError, match="poisson_columns"):
        StochasticLowRankRNN(observation="multimodal", **TINY).fit(X)
    with pytest.raises(ValueError, match="some, but not all"):
        StochasticLowRankRNN(observation="multimodal", poisson_columns=list(range(15)), **TINY).fit(X)


def test_options_validated(spikes):
    X = spikes.X[:6]
    with pytest.raises(ValueError, match="optimal"):
        StochasticLowRankRNN(observation="poisson", proposal="optimal", **TINY).fit(X)
    with pytest.raises(ValueError, match="link"):
        StochasticLowRankRNN(observation="poisson", link="relu", **TINY).fit(X)
    with pytest.raises(ValueError, match="encoder_kernels"):
        StochasticLowRankRNN(observation="poisson", **{**TINY, "encoder_kernels": (3,)}).fit(X)
    with pytest.raises(ValueError, match="n_units"):
        StochasticLowRankRNN(observation="poisson_rates", n_units=7, **TINY).fit(X)
    # kernels far longer than the trials are fine (padding), and bootstrap / rates / gaussian_rates run
    for kw in (dict(observation="poisson_rates", encoder_kernels=(41, 1), encoder_channels=(4,),
                    encoder_padding="centred"),
               dict(observation="poisson", proposal="bootstrap"), dict(observation="gaussian_rates")):
        m = StochasticLowRankRNN(**{**TINY, **kw}).fit(X[:, :8])
        assert np.isfinite(m.score(X[:, :8]))


def test_encoder_reproducible(spikes):
    a = StochasticLowRankRNN(observation="poisson", **TINY).fit(spikes.X[:6])
    torch.manual_seed(123)  # the global RNG must not matter
    b = StochasticLowRankRNN(observation="poisson", **TINY).fit(spikes.X[:6])
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    np.testing.assert_array_equal(a.transform(spikes.X[:3]), b.transform(spikes.X[:3]))
