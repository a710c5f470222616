"""PLRNNRegressor(architecture="linear"): the linear latent baseline z' = (A + W) z + h (+ C s).

scikit-learn's estimator checks run on it in tests/test_plrnn.py."""

import warnings

import numpy as np
import pytest
import torch

from sklearn_lrnn import dynamics
from sklearn_lrnn._engine.plrnn import rollouts as plrnn_engine  # the rollout loops (C++ or Python)
from sklearn_lrnn._engine.plrnn import PLRNN, jacobians, reference_rollout, rollout
from sklearn_lrnn.plrnn import PLRNNRegressor

torch.set_num_threads(1)


def _linear_system(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    J = 0.95 * np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])  # a damped rotation
    h = np.array([0.2, -0.1])
    z, Z = np.zeros(2), []
    for _ in range(n):
        z = J @ z + h + 0.3 * rng.standard_normal(2)
        Z.append(z)
    return np.array(Z) + 0.01 * rng.standard_normal((n, 2)), J, h


def test_fits_a_linear_system_and_its_fixed_point():
    X, J, h = _linear_system()
    m = PLRNNRegressor(architecture="linear", sequence_length=50, batches_per_epoch=20, max_iter=30,
                       learning_rate=1e-2, random_state=0, compute_lyapunov=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 30 epochs end before the stopping rule
        m.fit(X)
    J_fit = np.diag(m.A_) + m.W_
    np.testing.assert_allclose(J_fit, J, atol=0.03)
    assert not hasattr(m, "W1_") and np.all(np.diag(m.W_) == 0)
    vanilla = PLRNNRegressor(architecture="vanilla", sequence_length=50, batches_per_epoch=1, max_iter=1,
                             compute_fixed_points=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vanilla.fit(X[:200])
    assert m.n_parameters_ == vanilla.n_parameters_  # the same parameters, counted the same way
    # one fixed point, by a linear solve, stable, where the true one is
    fp = m.fixed_points_
    assert len(fp) == 1 and fp.exact and fp.stability[0] == "stable"
    np.testing.assert_allclose(fp.points[0], np.linalg.solve(np.eye(2) - J_fit, m.h_), atol=1e-10)
    np.testing.assert_allclose(fp.points[0], np.linalg.solve(np.eye(2) - J, h), atol=0.05)
    np.testing.assert_allclose(np.sort(np.abs(fp.eigvals[0])), np.sort(np.abs(np.linalg.eigvals(J_fit))))
    # no isolated cycles; the Lyapunov exponent is the log spectral radius (< 0: no chaos)
    assert len(m.cycles_[2]) == 0
    np.testing.assert_allclose(m.lyapunov_exponent_, np.log(np.max(np.abs(np.linalg.eigvals(J_fit)))), atol=1e-3)
    # the noise-free free run converges to the fixed point
    traj, _ = m.sample(400, x0=X[0])
    np.testing.assert_allclose(traj[-1], fp.points[0], atol=1e-6)
    assert m.score(X) > 0.8  # one-step R^2 of a noisy linear system


def test_latent_map_is_affine_and_public_attributes_give_the_same_map():
    X, _, _ = _linear_system(600)
    m = PLRNNRegressor(architecture="linear", sequence_length=30, batches_per_epoch=3, max_iter=2,
                       random_state=0).fit(X)
    pmap = m.latent_map()
    assert pmap.n_planes == 0
    np.testing.assert_allclose(pmap.J0, np.diag(m.A_) + m.W_)
    np.testing.assert_allclose(pmap.c0, m.h_)
    np.testing.assert_allclose(dynamics.build_map(A=m.A_, W=m.W_, h=m.h_, architecture="linear").J0, pmap.J0)
    z = np.array([[0.3, -1.2], [2.0, 0.5]])
    np.testing.assert_allclose(pmap.step(z), z @ pmap.J0.T + m.h_)
    Xp = m.predict(X[:5], n_steps=1)
    np.testing.assert_allclose(Xp[:4], X[:4] @ pmap.J0.T + m.h_, atol=1e-5)  # identity readout, M = N


@pytest.mark.parametrize("readout", ["identity", "affine"])
def test_rollout_gradients_match_autograd_without_the_cpp_loops(readout, monkeypatch):
    calls = []
    real = plrnn_engine._cpp_loops
    monkeypatch.setattr(plrnn_engine, "_cpp_loops", lambda *t: calls.append(1) or real(*t))
    g = torch.Generator().manual_seed(0)
    m = PLRNN(5, 3, architecture="linear", n_inputs=2, readout=readout, n_mar=2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        m.A.mul_(0.8)
    T, B = 12, 4
    x = torch.randn(T, B, 3, generator=g, dtype=torch.float64)
    s = torch.randn(T, B, 2, generator=g, dtype=torch.float64)
    keep, P = m.forcing(x, 0.4)
    forced = tuple(t % 3 == 0 for t in range(T))
    grads = []
    for fn in (rollout, reference_rollout):
        m.zero_grad()
        z0 = m.infer_state(x[0]).detach().requires_grad_(True)
        Y = fn(m, z0, m.base(s), P, keep, forced)
        (Y.square().sum() + Y.sum()).backward()
        grads.append([Y.detach(), z0.grad] + [p.grad for p in m.parameters() if p.grad is not None])
    assert not calls  # the C++ loops serve the three piecewise-linear maps only
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    z = torch.randn(7, 5, generator=g, dtype=torch.float64)
    J = jacobians(m, z)
    torch.testing.assert_close(J, (torch.diag(m.A) + m.W * m.offdiag).detach().expand(7, 5, 5))


def _sustained_oscillation(n=300, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.stack([np.sin(2 * np.pi * t / 25), np.cos(2 * np.pi * t / 25)], 1) + 0.05 * rng.standard_normal((n, 2))


def test_warns_when_the_free_run_comes_to_rest_on_oscillating_data():
    """A linear model fitted briefly to a sustained oscillation damps it: its free run settles on the fixed point,
    and the fit says so instead of silently generating a constant."""
    X = _sustained_oscillation()
    m = PLRNNRegressor(architecture="linear", max_iter=15, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.fit(X)
    rest = [w for w in caught if "comes to rest" in str(w.message)]
    assert len(rest) == 1 and issubclass(rest[0].category, RuntimeWarning)
    assert "noise around a stable state" in str(rest[0].message)


def test_rest_check_spares_oscillating_runs_and_quiet_data():
    """The check itself: an oscillating free run passes, a constant one warns, and data that come to rest
    themselves (a decaying transient) give no reference, so nothing is compared."""
    from sklearn_lrnn._lifecycle import check_generated, late_fluctuation

    X = _sustained_oscillation()
    fluct = late_fluctuation([X], 50)
    assert fluct is not None and 0.5 < fluct < 1.0
    moving = X[None, :200]
    resting = np.concatenate([X[None, :50], np.full((1, 150, 2), 0.3)], 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_generated(moving, 50, 1.0, data_fluctuation=fluct) is None
        assert check_generated(resting, 50, 1.0, data_fluctuation=None) is None
    with pytest.warns(RuntimeWarning, match="comes to rest"):
        check_generated(resting, 50, 1.0, data_fluctuation=fluct)
    decay = np.exp(-np.arange(300) / 20.0)[:, None] * X
    assert late_fluctuation([decay], 50) is None
