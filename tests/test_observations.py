"""Observation models behind one protocol: the registry, what each model builds, starts from, computes and exports,
and that a model added to the registry is fitted by the estimator without any change to it."""

import math

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import StrOptions
from torch import nn

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn._engine.low_rank import LowRankTransition
from sklearn_lrnn._engine.observations import (
    OBSERVATION_MODELS, OBSERVATION_NAMES, DataStats, ObservationModel, build_observation, observation_model,
    register,
)

R, D = 2, 6
MASK = np.array([0, 1, 0, 1, 1, 0], dtype=bool)
TINY = dict(rank=R, max_iter=2, n_particles=4, batch_size=4, random_state=0, compute_fixed_points=False,
            encoder_channels=(8, 8))


def _stats():
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(D, R, generator=g, dtype=torch.float64))
    return DataStats(mean=torch.rand(D, generator=g, dtype=torch.float64) * 3 + 0.5, components=q,
                     noise_var=torch.rand(D, generator=g, dtype=torch.float64) + 0.1)


def _model(name):
    transition = LowRankTransition(R, D, 0, generator=torch.Generator().manual_seed(1))
    obs = observation_model(name).build(R, D, count_mask=MASK, generator=torch.Generator().manual_seed(2))
    return obs, transition


def test_registry_lists_every_model_in_order():
    assert OBSERVATION_NAMES == ("gaussian", "gaussian_currents", "gaussian_rates", "poisson", "poisson_currents",
                                 "poisson_rates", "multimodal")
    for name, cls in OBSERVATION_MODELS.items():
        assert issubclass(cls, ObservationModel) and cls.name == name
    with pytest.raises(ValueError, match="observation must be one of"):
        observation_model("gamma")
    with pytest.raises(ValueError, match="already registered"):
        register("poisson")(type("Again", (ObservationModel,), {}))


@pytest.mark.parametrize("name", OBSERVATION_NAMES)
@torch.no_grad()
def test_protocol(name):
    obs, tr = _model(name)
    assert isinstance(obs, ObservationModel) and obs.name == name
    obs.init_from_data(_stats(), tr)
    z = torch.randn(3, 5, R, generator=torch.Generator().manual_seed(3))
    mu = obs.mean(z, tr)
    assert mu.shape == (3, 5, D) and torch.isfinite(mu).all()
    x = obs.sample(z, tr, generator=torch.Generator().manual_seed(4))
    assert x.shape == (3, 5, D)
    counts = obs.count_mask(D, MASK).numpy()
    assert np.all(x.numpy()[..., counts] == np.round(x.numpy()[..., counts]))
    lp = obs.log_prob(x, z, tr)
    assert lp.shape == (3, 5) and torch.isfinite(lp).all()
    # the SMC loop's split of the same log-likelihood: per-step part + particle-independent constant
    step, const = obs.prepare(x, tr)
    per_step = torch.stack([step(t, z[:, t : t + 1]).squeeze(1) for t in range(5)], 1)
    torch.testing.assert_close(per_step + (0 if const is None else const), lp)
    out = obs.export(tr)
    assert {"observation_matrix_", "observation_offset_", "observation_noise_var_"} <= set(out)
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in out.values())
    assert out["observation_matrix_"].shape == (D, R) and out["observation_offset_"].shape == (D,)
    assert np.array_equal(np.isnan(out["observation_noise_var_"]), counts)  # no noise variance for counts
    assert obs.per_unit == (name in ("gaussian_currents", "gaussian_rates", "poisson_currents", "poisson_rates"))
    if obs.per_unit:  # readouts of the units start the shared left vectors at the data's PCA directions
        torch.testing.assert_close(tr.m, _stats().components.float())
        np.testing.assert_array_equal(out["observation_matrix_"], tr.m.detach().double().numpy())


@pytest.mark.parametrize("name", ["gaussian", "gaussian_currents"])
def test_linear_models_export_their_linear_gaussian_form(name):
    obs, tr = _model(name)
    with torch.no_grad():
        obs.init_from_data(_stats(), tr)
    assert obs.linear
    C, d, var = obs.linear_gaussian(tr)
    out = obs.export(tr)
    for key, t in zip(("observation_matrix_", "observation_offset_", "observation_noise_var_"), (C, d, var)):
        np.testing.assert_array_equal(out[key], t.detach().double().numpy())
    np.testing.assert_allclose(out["observation_offset_"], _stats().mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out["observation_noise_var_"], _stats().noise_var.numpy(), rtol=1e-5)


def test_poisson_models_start_at_the_mean_counts():
    for name in ("poisson", "poisson_currents", "multimodal"):
        obs, tr = _model(name)
        with torch.no_grad():
            obs.init_from_data(_stats(), tr)
            rate = obs.mean(torch.zeros(1, R), tr)[0].double().numpy()
        counts = obs.count_mask(D, MASK).numpy()
        np.testing.assert_allclose(rate[counts], _stats().mean.numpy()[counts], rtol=1e-5)


def test_count_masks():
    assert not observation_model("gaussian").count_mask(D).any()
    assert observation_model("poisson_rates").count_mask(D).all()
    assert observation_model("multimodal").takes_count_columns
    np.testing.assert_array_equal(observation_model("multimodal").count_mask(D, MASK).numpy(), MASK)
    for bad in (None, np.ones(D, bool), np.zeros(D, bool), MASK[:4]):
        with pytest.raises(ValueError, match="some, but not all"):
            observation_model("multimodal").count_mask(D, bad)


def test_build_observation_is_the_registry():
    obs = build_observation("poisson_rates", R, D, link="exp")
    assert type(obs) is observation_model("poisson_rates") and obs.link == "exp"


# --------------------------------------------------------------------------- a model added in one place
class LaplaceAffine(ObservationModel):
    """x ~ Laplace(B z + b, s): a model the estimator has never heard of."""

    def __init__(self, rank, n_features, generator=None):
        super().__init__()
        self.B = nn.Parameter(torch.randn(n_features, rank, generator=generator))
        self.b = nn.Parameter(torch.zeros(n_features))
        self.log_scale = nn.Parameter(torch.zeros(n_features))

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(rank, n_features, generator)

    def init_from_data(self, stats, transition):
        self.B.copy_(stats.components.float())
        self.b.copy_(stats.mean.float())
        self.log_scale.copy_((0.5 * stats.noise_var.log()).float())

    def mean(self, z, transition, current=None):
        return z @ self.B.T + self.b

    def log_prob(self, x, z, transition, current=None):
        s = self.log_scale.exp()
        return (-(x - self.mean(z, transition)).abs() / s - self.log_scale - math.log(2)).sum(-1)

    def sample(self, z, transition, generator=None, current=None):
        mu = self.mean(z, transition)
        u = torch.rand(mu.shape, generator=generator) - 0.5
        return mu - self.log_scale.exp() * u.sign() * torch.log1p(-2 * u.abs())

    def export(self, transition):
        s = self.log_scale.exp().detach().double().numpy()
        return {"observation_matrix_": self.B.detach().double().numpy().copy(),
                "observation_offset_": self.b.detach().double().numpy().copy(),
                "observation_noise_var_": 2 * s**2, "observation_scale_": s}


@pytest.fixture
def laplace(monkeypatch):
    register("laplace_test")(LaplaceAffine)
    # the estimator's parameter check reads the registry at import; a model added in the module is in it
    monkeypatch.setitem(StochasticLowRankRNN._parameter_constraints, "observation",
                        [StrOptions({*OBSERVATION_NAMES, "laplace_test"})])
    yield "laplace_test"
    del OBSERVATION_MODELS["laplace_test"]


def test_a_registered_model_is_fitted_without_changing_the_estimator(laplace):
    rng = np.random.default_rng(0)
    X = rng.laplace(size=(8, 15, 4)).cumsum(1) * 0.2
    model = StochasticLowRankRNN(observation=laplace, **TINY).fit(X)
    assert model.config_.proposal == "encoder" and not model.config_.exact_likelihood
    assert model.observation_scale_.shape == (4,) and np.all(model.observation_scale_ > 0)
    assert np.isfinite(model.score(X))
    Xs, _ = model.sample(2, 10, random_state=0)
    assert Xs.shape == (2, 10, 4)
    assert model.inverse_transform(np.zeros((3, R))).shape == (3, 4)
    with pytest.raises(ValueError, match="linear-Gaussian"):
        StochasticLowRankRNN(observation=laplace, proposal="optimal", **TINY).fit(X)
    # refitting with another model drops the attributes only the first one exports
    model.set_params(observation="gaussian").fit(X)
    assert not hasattr(model, "observation_scale_") and hasattr(model, "observation_matrix_")
