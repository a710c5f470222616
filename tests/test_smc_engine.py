"""The SMC engine against exact answers: Kalman filter likelihoods, resampling, the NaN-safe loop."""

import math

import numpy as np
import pytest
import torch

from sklearn_lrnn._engine.covariance import Covariance
from sklearn_lrnn._engine.low_rank import LowRankTransition, activate
from sklearn_lrnn._engine.observations import GaussianAffine, GaussianCurrents
from sklearn_lrnn._engine.smc import StateSpaceModel, _resample_indices, run_smc
from sklearn_lrnn._engine.training import TrainingDiverged, fit_module


def _linear_model(D, R=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    tr = LowRankTransition(R, 8, generator=g, noise_std=0.3, init_std=1.0)
    with torch.no_grad():
        tr.n.zero_()  # no recurrent input: a linear-Gaussian model with a closed-form likelihood
        tr.noise.off_diag.normal_(0, 0.1, generator=g)  # strictly lower entries
        tr.init_mean.normal_(generator=g)
    return StateSpaceModel(tr, GaussianAffine(R, D, generator=g, noise_std=0.5))


def _kalman_loglik(model, x):
    tr, obs = model.transition, model.observation
    a = float(tr.decay.detach())
    Q, P = tr.noise.matrix().double(), tr.init_cov.matrix().double()
    C, d, Rx = obs.B.double(), obs.b.double(), torch.diag(obs.noise.variance().double())
    m, ll = tr.init_mean.double(), 0.0
    for t in range(x.shape[0]):
        if t > 0:
            m, P = a * m, a * a * P + Q
        S = C @ P @ C.T + Rx
        r = x[t].double() - C @ m - d
        ll += float((-0.5 * (r @ torch.linalg.solve(S, r)) - 0.5 * torch.logdet(2 * math.pi * S)).detach())
        gain = P @ C.T @ torch.linalg.inv(S)
        m, P = m + gain @ r, (torch.eye(len(m)) - gain @ C) @ P
    return ll


@pytest.mark.parametrize("D", [3, 12])  # covariance (D < 4R) and information (D >= 4R) forms
@pytest.mark.parametrize("proposal,resampling,ess", [
    ("optimal", "systematic", None), ("optimal", "multinomial", 0.5), ("bootstrap", "systematic", 0.5),
])
def test_log_evidence_matches_kalman(D, proposal, resampling, ess):
    model = _linear_model(D)
    x = torch.randn(2, 25, D, generator=torch.Generator().manual_seed(1))
    exact = [_kalman_loglik(model, x[b]) for b in range(2)]
    K = 10000 if proposal == "optimal" else 20000
    with torch.no_grad():
        est = run_smc(model, x, n_particles=K, proposal=proposal, resampling=resampling, ess_threshold=ess,
                      generator=torch.Generator().manual_seed(2)).log_evidence
    np.testing.assert_allclose(est.numpy(), exact, atol=1.0 if proposal == "bootstrap" else 0.6)


def test_padding_mask_equals_separate_runs():
    model = _linear_model(3)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 20, 3, generator=g)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 12:] = False
    with torch.no_grad():
        padded = run_smc(model, x, mask=mask, n_particles=3000, generator=g).log_evidence
    exact_short = _kalman_loglik(model, x[1, :12])
    assert abs(float(padded[1]) - exact_short) < 0.4


def test_filter_means_track_kalman_state():
    model = _linear_model(3)
    x = torch.randn(1, 15, 3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        res = run_smc(model, x, n_particles=4000, return_filter=True, generator=torch.Generator().manual_seed(4))
    assert res.filter_means.shape == (1, 15, 2)
    assert torch.isfinite(res.filter_means).all()


def test_systematic_resampling_is_unbiased():
    logw = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]]))
    counts = torch.zeros(4)
    g = torch.Generator().manual_seed(0)
    for _ in range(2000):
        pos = (torch.arange(4) + torch.rand(1, 1, generator=g)) / 4
        counts += torch.bincount(_resample_indices(logw, pos, "systematic", None)[0], minlength=4)
    np.testing.assert_allclose((counts / counts.sum()).numpy(), [0.1, 0.2, 0.3, 0.4], atol=0.01)


def test_clipped_relu_and_fast_step_agree_with_definition():
    g = torch.Generator().manual_seed(0)
    for act in ("relu", "clipped_relu", "tanh"):
        tr = LowRankTransition(3, 30, activation=act, generator=g)
        z = torch.randn(7, 3, generator=g)
        ref = tr.decay * z + activate(z @ tr.m.T, tr.h, act) @ tr.n.T
        torch.testing.assert_close(tr.fast_step()(z), ref)
        torch.testing.assert_close(tr.step(z), ref)
    x, h = torch.tensor([-2.0, -0.5, 0.5, 2.0]), torch.tensor([1.0, 1.0, 1.0, 1.0])
    torch.testing.assert_close(activate(x, h, "clipped_relu"), torch.tensor([0.0, 0.5, 1.0, 1.0]))


def test_covariance_kinds_are_positive_definite():
    for kind in ("full", "diag", "scalar"):
        cov = Covariance(3, kind, 0.5)
        M = cov.matrix()
        assert torch.linalg.eigvalsh(M).min() > 0
        torch.testing.assert_close(torch.diagonal(M), cov.variance())
    with pytest.raises(ValueError, match="covariance kind"):
        Covariance(3, "fulll")


def test_currents_readout_shares_left_vectors():
    g = torch.Generator().manual_seed(0)
    tr = LowRankTransition(2, 6, generator=g)
    obs = GaussianCurrents(2, 6)
    C, _, _ = obs.linear_gaussian(tr)
    torch.testing.assert_close(C, tr.m)


def test_training_rolls_back_on_nan_and_raises_when_it_keeps_failing():
    module = torch.nn.Linear(2, 1)
    calls = {"n": 0}

    def loss_fn(batch):
        calls["n"] += 1
        out = module(batch).pow(2).mean()
        return out * float("nan") if calls["n"] == 3 else out

    with pytest.warns(RuntimeWarning, match="rolled back"):
        res = fit_module(module, loss_fn, lambda: torch.ones(4, 2), n_epochs=3, batches_per_epoch=2, lr=1e-2)
    assert res.n_rollbacks == 1 and all(np.isfinite(res.loss_curve))
    assert all(torch.isfinite(p).all() for p in module.parameters())

    def always_nan(batch):
        return module(batch).sum() * float("nan")

    with pytest.warns(RuntimeWarning), pytest.raises(TrainingDiverged, match="NaN"):
        fit_module(module, always_nan, lambda: torch.ones(4, 2), n_epochs=2, batches_per_epoch=5, max_rollbacks=3)
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_learning_rate_decays_exponentially_to_final():
    module = torch.nn.Linear(2, 1)
    res = fit_module(module, lambda b: module(b).pow(2).mean(), lambda: torch.ones(3, 2), n_epochs=10,
                     batches_per_epoch=1, lr=1e-3, final_lr=1e-6)
    assert res.optimizer_state["param_groups"][0]["lr"] == pytest.approx(1e-6, rel=1e-6)


@pytest.mark.parametrize("D", [3, 12])  # covariance form (D < 4R) and information form (Woodbury, D >= 4R)
def test_optimal_proposal_terms_match_dense_algebra(D):
    from sklearn_lrnn._engine.proposals import optimal_terms

    g = torch.Generator().manual_seed(0)
    R = 2
    L = torch.tril(torch.randn(R, R, generator=g, dtype=torch.float64)) + 2 * torch.eye(R, dtype=torch.float64)
    C = torch.randn(D, R, generator=g, dtype=torch.float64)
    var = torch.rand(D, generator=g, dtype=torch.float64) + 0.1
    e = torch.randn(4, 5, D, generator=g, dtype=torch.float64)
    terms = optimal_terms(L, C, var)
    Sigma = L @ L.T
    S = C @ Sigma @ C.T + torch.diag(var)
    Sinv = torch.linalg.inv(S)
    K = Sigma @ C.T @ Sinv
    P = Sigma - K @ C @ Sigma
    ke, cse, q = terms.data_terms(e)
    torch.testing.assert_close(ke, e @ K.T)
    torch.testing.assert_close(cse, e @ Sinv @ C)
    torch.testing.assert_close(q, torch.einsum("...i,ij,...j->...", e, Sinv, e))
    torch.testing.assert_close(terms.GtG, C.T @ Sinv @ C)
    torch.testing.assert_close(terms.IKC, torch.eye(R, dtype=torch.float64) - K @ C)
    torch.testing.assert_close(terms.LP @ terms.LP.T, P, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(terms.const, -0.5 * D * math.log(2 * math.pi) - 0.5 * torch.logdet(S))
