"""The linear baseline (activation="linear"): exact Kalman likelihood, torch fallback, fixed points."""

import warnings

import numpy as np
import pytest
import torch

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn._engine.kalman import kalman_filter
from sklearn_lrnn._engine.low_rank import LowRankTransition, activate
from sklearn_lrnn._engine.observations import GaussianAffine, GaussianCurrents
from sklearn_lrnn._engine.smc import StateSpaceModel, run_smc
from sklearn_lrnn.datasets import make_low_rank_teacher
from sklearn_lrnn.dynamics import build_map, low_rank_fixed_points, lyapunov_spectrum, map_fixed_points


def reference_kalman(J, drive, Q, mu0, P0, C, d, obs_var, x):
    """Textbook covariance-form Kalman filter in float64: log p(x_{1:T}) and the filtering means.

    z_1 ~ N(mu0, P0), z_t = J z_{t-1} + drive_t + N(0, Q), x_t = C z_t + d + N(0, diag(obs_var)).
    """
    m, P, ll, means = np.array(mu0, float), np.array(P0, float), 0.0, []
    for t in range(len(x)):
        if t > 0:
            m, P = J @ m + drive[t], J @ P @ J.T + Q
        S = C @ P @ C.T + np.diag(obs_var)
        r = x[t] - C @ m - d
        ll += -0.5 * r @ np.linalg.solve(S, r) - 0.5 * np.linalg.slogdet(2 * np.pi * S)[1]
        K = P @ C.T @ np.linalg.inv(S)
        m, P = m + K @ r, P - K @ S @ K.T
        means.append(m)
    return ll, np.array(means)


def _random_linear_model(R, N, D, n_inputs, readout, seed):
    g = torch.Generator().manual_seed(seed)
    tr = LowRankTransition(R, N, n_inputs, activation="linear", generator=g, noise_std=0.3)
    obs = (GaussianAffine(R, D, generator=g, noise_std=0.5) if readout == "affine"
           else GaussianCurrents(R, D, noise_std=0.5))
    model = StateSpaceModel(tr, obs).double()
    with torch.no_grad():
        tr.n.mul_(0.5)
        tr.noise.off_diag.normal_(0, 0.1, generator=g)
        tr.init_cov.off_diag.normal_(0, 0.3, generator=g)
        tr.init_mean.normal_(generator=g)
        tr.theta.fill_(float(np.log(-np.log(0.85))))
        obs.b.normal_(generator=g)
        obs.noise.log_std.uniform_(-1.5, 0.0, generator=g)
    return model


def _reference_for(model, x, u=None):
    with torch.no_grad():
        tr, obs = model.transition, model.observation
        m, n, h, a = (t.numpy() for t in (tr.m, tr.n, tr.h, tr.decay))
        C, d, var = (t.numpy() for t in obs.linear_gaussian(tr))
        J = a * np.eye(tr.rank) + n @ m
        cur = np.zeros((x.shape[0], m.shape[0])) if u is None else u @ tr.input_weights.numpy().T
        drive = (cur - h) @ n.T
        mu0 = tr.init_mean.numpy() + np.linalg.lstsq(m, cur[0], rcond=None)[0] * (u is not None)
        return reference_kalman(J, drive, tr.noise.matrix().numpy(), mu0, tr.init_cov.matrix().numpy(), C, d, var, x)


@pytest.mark.parametrize("readout,D", [("affine", 3), ("affine", 14), ("currents", 9)])
@pytest.mark.parametrize("n_inputs", [0, 2])
def test_kalman_engine_equals_reference_kalman_filter(readout, D, n_inputs):
    R, N, T = 3, (D if readout == "currents" else 9), 40
    model = _random_linear_model(R, N, D, n_inputs, readout, seed=D + n_inputs)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, T, D, generator=g, dtype=torch.float64)
    u = torch.randn(3, T, n_inputs, generator=g, dtype=torch.float64) if n_inputs else None
    mask = torch.ones(3, T, dtype=torch.bool)
    mask[2, 25:] = False
    with torch.no_grad():
        res = kalman_filter(model, x, mask=mask, u=u, return_filter=True)
    for b, length in enumerate((T, T, 25)):
        ll, means = _reference_for(model, x[b, :length].numpy(), None if u is None else u[b, :length].numpy())
        np.testing.assert_allclose(float(res.log_evidence[b]), ll, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(res.filter_means[b, :length].numpy(), means, rtol=1e-9, atol=1e-10)


def test_kalman_likelihood_is_differentiable():
    model = _random_linear_model(2, 6, 4, 0, "affine", seed=0)
    x = torch.randn(2, 15, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    params = [p for p in model.parameters() if p.requires_grad]
    torch.autograd.gradcheck(lambda *ps: kalman_filter(model, x).log_evidence.sum(), params[:3], eps=1e-6,
                             atol=1e-5)


def test_smc_estimate_converges_to_kalman_but_is_not_exact():
    """The optimal proposal does not make the SMC estimate exact (its weights N(x_t; C f(z_{t-1}^k) + d, S)
    depend on the particles); it converges to the Kalman value as the particle count grows."""
    model = _random_linear_model(2, 6, 4, 0, "affine", seed=3)
    x = torch.randn(1, 30, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    exact = _reference_for(model, x[0].numpy())[0]
    errors = {}
    with torch.no_grad():
        for K in (2, 2000):
            est = [float(run_smc(model, x, n_particles=K, generator=torch.Generator().manual_seed(s)).log_evidence[0])
                   for s in range(4)]
            errors[K] = np.abs(np.array(est) - exact).mean()
    assert errors[2] > 0.05  # not exact with few particles
    assert errors[2000] < min(0.3, errors[2] / 5)


def test_linear_transition_runs_the_torch_path_without_warnings():
    g = torch.Generator().manual_seed(0)
    tr = LowRankTransition(3, 12, 2, activation="linear", generator=g)
    z, cur = torch.randn(7, 3, generator=g), torch.randn(7, 12, generator=g)
    ref = tr.decay * z + activate(z @ tr.m.T + cur, tr.h, "linear") @ tr.n.T
    torch.testing.assert_close(tr.step(z, cur), ref)
    torch.testing.assert_close(tr.fast_step()(z, cur), ref)
    assert tr.fused_window() is None  # the C++ kernels do not cover the linear activation
    model = StateSpaceModel(tr, GaussianAffine(3, 5, generator=g))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = run_smc(model, torch.randn(2, 20, 5, generator=g), u=torch.randn(2, 20, 2, generator=g),
                      n_particles=16, generator=g)
    assert torch.isfinite(out.log_evidence).all()


@pytest.fixture(scope="module")
def fitted_linear():
    data = make_low_rank_teacher(n_trials=20, n_timesteps=30, n_units=6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no kernel fallback or convergence warning with this schedule
        model = StochasticLowRankRNN(rank=2, activation="linear", max_iter=15, learning_rate=1e-2,
                                     learning_rate_schedule="exponential", random_state=0).fit(data.X)
    return model, data


def test_fitted_linear_model_scores_its_exact_likelihood(fitted_linear):
    model, data = fitted_linear
    X = data.X.astype(np.float32).astype(np.float64)  # the estimator passes data to torch in float32
    J = model.decay_ * np.eye(2) + model.right_vectors_ @ model.left_vectors_
    drive = np.tile(-model.right_vectors_ @ model.bias_, (data.X.shape[1], 1))
    lls = [reference_kalman(J, drive, model.noise_cov_, model.initial_mean_, model.initial_cov_,
                            model.observation_matrix_, model.observation_offset_, model.observation_noise_var_,
                            x)[0] / len(x) for x in X]
    np.testing.assert_allclose(model.score_samples(data.X), lls, rtol=1e-9)
    np.testing.assert_allclose(model.score(data.X), np.mean(lls), rtol=1e-9)
    means = reference_kalman(J, drive, model.noise_cov_, model.initial_mean_, model.initial_cov_,
                             model.observation_matrix_, model.observation_offset_, model.observation_noise_var_,
                             X[0])[1]
    np.testing.assert_allclose(model.transform(data.X[:1])[0], means, rtol=1e-7, atol=1e-9)
    assert model.transform(data.X[:2], method="smoothing").shape == (2, 30, 2)  # particle smoother still works


def test_fitted_linear_model_has_one_fixed_point(fitted_linear):
    model, _ = fitted_linear
    J = model.decay_ * np.eye(2) + model.right_vectors_ @ model.left_vectors_
    expected = np.linalg.solve(np.eye(2) - J, -model.right_vectors_ @ model.bias_)
    fps = model.fixed_points_
    np.testing.assert_allclose(fps.points, expected[None], rtol=1e-8, atol=1e-10)
    eig = np.linalg.eigvals(J)
    np.testing.assert_allclose(np.sort(np.abs(fps.eigvals[0])), np.sort(np.abs(eig)), rtol=1e-10)
    assert fps.stability[0] == ("stable" if np.abs(eig).max() < 1 else
                                 "unstable" if np.abs(eig).min() > 1 else "saddle")
    pmap = build_map(model)
    assert pmap.n_planes == 0
    np.testing.assert_allclose(pmap.step(expected[None]), expected[None], atol=1e-10)


def test_linear_map_fixed_points_stability_and_lyapunov():
    rng = np.random.default_rng(0)
    m, n, h = rng.normal(size=(10, 2)), rng.normal(size=(2, 10)) / 30, rng.normal(size=10)
    J = 0.8 * np.eye(2) + n @ m
    fps = low_rank_fixed_points(m, n, h, 0.8, "linear")
    assert fps.exact and len(fps) == 1 and fps.n_cells == 1
    np.testing.assert_allclose(fps.points[0], np.linalg.solve(np.eye(2) - J, -n @ h))
    assert fps.stability[0] == "stable"
    lyap = lyapunov_spectrum(left=m, right=n, bias=h, decay=0.8, activation="linear", n_steps=3000)
    np.testing.assert_allclose(lyap, np.sort(np.log(np.abs(np.linalg.eigvals(J))))[::-1], atol=1e-3)
    # an unstable linear map still has its (unstable) fixed point
    fps = low_rank_fixed_points(m, 10 * n, h, 0.8, "linear")
    assert len(fps) == 1 and fps.stability[0] in ("unstable", "saddle")


def test_singular_linear_map_lists_no_point_and_says_why():
    m = np.zeros((3, 1))
    m[0, 0] = 1.0
    n = np.zeros((1, 3))
    n[0, 0] = 0.5  # a I + n m = 1: every point of the line is fixed (h = 0) or none is (h != 0)
    with pytest.warns(RuntimeWarning, match="continuum of fixed points"):
        fps = low_rank_fixed_points(m, n, np.zeros(3), 0.5, "linear")
    assert len(fps) == 0 and fps.n_singular == 1
    with pytest.warns(RuntimeWarning, match="no fixed point"):
        assert len(map_fixed_points(build_map(left=m, right=n, bias=np.array([1.0, 0, 0]), decay=0.5,
                                              activation="linear"), method="exact")) == 0
