import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_lrnn._engine import kernels
from sklearn_lrnn._engine.plrnn import rollouts as plrnn_engine  # the rollout loops (C++ or Python)
from sklearn_lrnn._engine.plrnn import ARCHITECTURES, PLRNN, reference_rollout, rollout, rollout_states
from sklearn_lrnn.datasets._systems import make_addition_problem, make_lorenz63
from sklearn_lrnn.plrnn import PLRNNRegressor, estimate_tf_interval

torch.set_num_threads(1)

FAST = dict(n_hidden=16, sequence_length=30, batch_size=8, batches_per_epoch=4, max_iter=2, random_state=0,
            compute_fixed_points=False)

EXPECTED_FAILED = {
    "check_methods_sample_order_invariance": "rows of a 2-D X are time steps of one sequence: predictions "
    "depend on the order of time (the recurrent state carries the past)",
    "check_methods_subset_invariance": "a subset of time steps is a different (shorter) sequence: each "
    "prediction depends on all earlier rows",
}


@parametrize_with_checks(
    [PLRNNRegressor(n_latents=4, n_hidden=8, sequence_length=20, batch_size=4, batches_per_epoch=2,
                    max_iter=2, random_state=0, compute_fixed_points=False),
     # the linear baseline: its own (Python) rollout loops and dynamics analysis (fixed point by a solve)
     PLRNNRegressor(architecture="linear", n_latents=4, sequence_length=20, batch_size=4, batches_per_epoch=2,
                    max_iter=2, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------- engine
@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("readout", ["identity", "affine"])
def test_fused_rollout_matches_autograd(architecture, readout):
    g = torch.Generator().manual_seed(1)
    m = PLRNN(5, 3, architecture=architecture, n_hidden=7, n_inputs=2, readout=readout, n_mar=2, generator=g,
              dtype=torch.float64)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    x = torch.randn(12, 4, 3, generator=g, dtype=torch.float64)
    s = torch.randn(11, 4, 2, generator=g, dtype=torch.float64)
    forced = [t % 3 == 1 for t in range(11)]
    out = []
    for fn in (rollout, reference_rollout):
        m.zero_grad()
        keep, P = m.forcing(x[1:], 0.3)
        Y = fn(m, m.infer_state(x[0]), m.base(s), P, keep, forced)
        loss = (m.observe(Y) - x[1:]).square().mean() + Y.sin().sum()
        loss.backward()
        out.append((Y.detach(), {k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None}))
    torch.testing.assert_close(out[0][0], out[1][0])
    assert out[0][1].keys() == out[1][1].keys()
    for k in out[0][1]:
        torch.testing.assert_close(out[0][1][k], out[1][1][k], msg=k)


FORCING = {"sparse": lambda t: t % 3 == 1, "none": None, "all": lambda t: True}


def _rollout_grads(m, x, s, forcing):
    """Y, Zin and every gradient (parameters, P) of one teacher-forced rollout through ``rollout``."""
    m.zero_grad()
    T = s.shape[0]
    if forcing == "none":
        P, keep, forced = None, None, None
    else:
        keep, P = m.forcing(x[1:], 0.3)
        P = P.detach().requires_grad_()
        forced = [FORCING[forcing](t) for t in range(T)]
    Y = rollout(m, m.infer_state(x[0]), m.base(s), P, keep, forced)
    (m.observe(Y) - x[1:]).square().mean().backward(retain_graph=True)
    Y.sin().sum().backward()
    grads = {k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None}
    if P is not None:
        grads["P"] = P.grad.clone()
    Y2, Zin = rollout_states(m, m.infer_state(x[0]).detach(), m.base(s).detach(),
                             None if P is None else P.detach(), keep, forced)
    torch.testing.assert_close(Y2, Y.detach(), rtol=0, atol=0)
    return Y.detach(), Zin, grads


@pytest.mark.parametrize("architecture,wide",  # the linear map has no C++ loops (tests/test_plrnn_linear.py)
                         [(a, False) for a in ARCHITECTURES if a != "linear"] + [("vanilla", True)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("forcing", list(FORCING))
def test_cpp_rollout_matches_python_loops(architecture, wide, dtype, forcing, monkeypatch):
    # the C++ time loops (csrc/plrnn_rollout.cpp) against the Python fallback loops, forward and backward;
    # ``wide``: B M^2 above the C++ threshold, where a vanilla step multiplies through BLAS
    if not kernels.available():
        pytest.skip(f"C++ rollout loops unavailable ({kernels.unavailable_reason()})")
    g = torch.Generator().manual_seed(2)
    M, B = (40, 12) if wide else (5, 6)
    m = PLRNN(M, 3, architecture=architecture, n_hidden=9, n_inputs=2, readout="identity", n_mar=1, generator=g,
              dtype=dtype)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    x = torch.randn(14, B, 3, generator=g, dtype=dtype)
    s = torch.randn(13, B, 2, generator=g, dtype=dtype)
    A, W1t, W2t, h2, _ = m.map_terms()
    assert plrnn_engine._cpp_loops(A, W1t, W2t, h2, s) is not None  # the C++ path is the one under test
    cpp = _rollout_grads(m, x, s, forcing)
    monkeypatch.setattr(plrnn_engine, "_cpp_loops", lambda *tensors: None)
    py = _rollout_grads(m, x, s, forcing)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cpp[0], py[0], **tol)
    torch.testing.assert_close(cpp[1], py[1], **tol)
    assert cpp[2].keys() == py[2].keys() and ("P" in cpp[2]) == (forcing != "none")
    for k in cpp[2]:
        torch.testing.assert_close(cpp[2][k], py[2][k], msg=k, **tol)


def test_parameter_attributes_and_structure():
    X = make_lorenz63(600, random_state=0)
    m = PLRNNRegressor(architecture="vanilla", n_latents=5, **FAST).fit(X)
    assert m.A_.shape == (5,) and m.W_.shape == (5, 5) and m.h_.shape == (5,)
    np.testing.assert_array_equal(np.diag(m.W_), 0)  # off-diagonal coupling only
    np.testing.assert_array_equal(m.B_, np.eye(3, 5))
    m = PLRNNRegressor(n_latents=4, readout="affine", **FAST).fit(X)
    assert m.W1_.shape == (4, 16) and m.W2_.shape == (16, 4) and m.h1_.shape == (4,) and m.h2_.shape == (16,)
    assert m.B_.shape == (3, 4) and m.C_.shape == (4, 0)
    assert m.loss_curve_.shape == (2,) and m.n_iter_ == 2 and m.n_features_in_ == 3
    assert all(isinstance(getattr(m, a), np.ndarray) for a in ("A_", "W1_", "alpha_history_", "loss_curve_"))


@pytest.mark.parametrize("init,radius", [("positive_definite", 1.0), ("random", 0.9)])
def test_initialisations(init, radius):
    # A + W starts at the stated spectral radius; MAR units start as line attractors under either start
    g = torch.Generator().manual_seed(0)
    m = PLRNN(30, 1, architecture="vanilla", n_inputs=2, readout="affine", n_mar=10, init=init, generator=g,
              dtype=torch.float64)
    free = slice(0, 20)
    with torch.no_grad():
        AW = torch.diag(m.A) + m.W * m.offdiag
        np.testing.assert_array_equal(m.A[20:].numpy(), 1.0)
        np.testing.assert_array_equal(m.W[20:].numpy(), 0.0)
        np.testing.assert_array_equal(m.C[20:].numpy(), 0.0)
        m0 = PLRNN(30, 1, architecture="vanilla", n_inputs=2, readout="affine", init=init,
                   generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        AW0 = torch.diag(m0.A) + m0.W * m0.offdiag
        np.testing.assert_allclose(torch.linalg.eigvals(AW0).abs().max().item(), radius, rtol=1e-9)
        np.testing.assert_allclose(AW[free, free].numpy(), AW0[free, free].numpy())  # same draw elsewhere
    if init == "positive_definite":  # symmetric positive definite: an integrator-like start
        assert torch.linalg.eigvalsh(AW0).min() > 0
    else:
        assert (m0.A < 0).any()  # a plain Gaussian start, no built-in memory


def test_one_step_map_matches_attributes():
    # the NumPy attributes define the map that predict() uses
    X = make_lorenz63(400, random_state=1)
    m = PLRNNRegressor(n_latents=3, **FAST).fit(X)
    Z = m.transform(X)
    z = Z[10]
    u = m.W2_ @ z
    z_next = m.A_ * z + m.W1_ @ (np.maximum(u + m.h2_, 0) - np.maximum(u, 0)) + m.h1_
    np.testing.assert_allclose(m.predict(X)[10], z_next[:3], rtol=1e-4, atol=1e-5)
    # n-step forecasts from the data-inferred state ("origin" alignment)
    x5, _ = m.sample(6, x0=X[10])
    np.testing.assert_allclose(m.predict(X, n_steps=5)[10], x5[5], rtol=1e-4, atol=1e-4)


def test_reproducible_and_pickles():
    X = make_lorenz63(500, random_state=0)
    a = PLRNNRegressor(**FAST).fit(X)
    b = PLRNNRegressor(**FAST).fit(X)
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    np.testing.assert_array_equal(a.W1_, b.W1_)
    c = pickle.loads(pickle.dumps(a))
    assert c._module_cache is None  # no torch state in the pickle
    np.testing.assert_allclose(c.predict(X, n_steps=3), a.predict(X, n_steps=3))
    c = PLRNNRegressor(**{**FAST, "random_state": 1}).fit(X)
    assert not np.allclose(c.W1_, a.W1_)


def test_containers_mirror_input():
    X = make_lorenz63(900, random_state=0)
    trials3 = X.reshape(3, 300, 3)
    m = PLRNNRegressor(**FAST).fit(trials3)
    assert m.predict(trials3).shape == (3, 300, 3)
    out = m.transform([X[:100], X[100:250]])
    assert isinstance(out, list) and [o.shape for o in out] == [(100, 3), (150, 3)]
    Xs, Zs = m.sample(20, x0=X[:4])
    assert Xs.shape == (4, 20, 3) and Zs.shape == (4, 20, 3)
    np.testing.assert_allclose(Xs[:, 0], X[:4], atol=1e-6)  # starts at x0 (identity readout)


def test_sample_latent_noise_seeded():
    X = make_lorenz63(500, random_state=0)
    m = PLRNNRegressor(latent_noise=0.1, **FAST).fit(X)
    a, _ = m.sample(50, random_state=3)
    b, _ = m.sample(50, random_state=3)
    c, _ = m.sample(50, random_state=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sparse_tf_auto_interval():
    t = np.arange(3000)[:, None] * 2 * np.pi / 80
    X = np.hstack([np.sin(t), np.cos(t)]) + 0.1 * np.random.default_rng(0).standard_normal((3000, 2))
    tau = estimate_tf_interval(X)
    assert 10 <= tau <= 30  # quarter period of the oscillation = first MI minimum
    m = PLRNNRegressor(training="sparse_tf", tf_interval="auto", **FAST).fit(X)
    assert m.tf_interval_ == tau and m.alpha_history_.size == 0


def test_inputs_for_reconstruction():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((400, 2))
    X = make_lorenz63(400, random_state=0)
    m = PLRNNRegressor(**FAST).fit(X, u=u)
    assert m.C_.shape == (3, 2)
    assert m.predict(X, u=u).shape == (400, 3)
    with pytest.raises(ValueError, match="pass u"):
        m.predict(X)
    assert m.sample(30, x0=X[0], u=u[:30])[0].shape == (30, 3)


def test_supervised_sequence_to_sequence():
    # y_t = running sum of the input: an integrator, learnt quickly with line-attractor (MAR) units
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (64, 40, 1))
    y = np.cumsum(X, axis=1) / 10
    m = PLRNNRegressor(architecture="vanilla", n_latents=8, sequence_length=40, batch_size=16, mar_weight=1.0,
                       batches_per_epoch=25, max_iter=8, learning_rate=5e-3,
                       random_state=0, compute_fixed_points=False)
    with pytest.warns(ConvergenceWarning):  # 8 epochs at the default (plateau) schedule: short on purpose
        m.fit(X, y)
    assert m.mode_ == "seq2seq" and m.predict(X).shape == y.shape
    assert m.score(X, y) > 0.7
    np.testing.assert_allclose(m.A_[4:], 1, atol=0.05)  # MAR units stay close to line attractors
    assert m.transform(X).shape == (64, 40, 8)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_messages():
    X = make_lorenz63(300, random_state=0)
    trials = X.reshape(3, 100, 3)
    m = PLRNNRegressor(**FAST)
    with pytest.raises(ValueError, match="y has 2 rows but X has 3 trials"):
        m.fit(trials, np.zeros(2))
    with pytest.raises(ValueError, match="differ in length for trial 1"):
        m.fit([X[:50], X[50:120]], [np.zeros((50, 1)), np.zeros((60, 1))])
    with pytest.raises(ValueError, match="2 trials but X has 3"):
        m.fit(trials, [np.zeros((100, 1))] * 2)
    with pytest.raises(ValueError, match="tf_interval=16 needs at least 17 steps"):
        PLRNNRegressor(training="sparse_tf", **FAST).fit(X.reshape(30, 10, 3))
    bad = X.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(bad)
    with pytest.raises(ValueError, match="y contains NaN"):
        m.fit(trials, np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="n_latents >= the number of features"):
        PLRNNRegressor(n_latents=2, **FAST).fit(X)
    with pytest.raises(ValueError, match="architecture"):
        PLRNNRegressor(architecture="deep").fit(X)
    with pytest.raises(ValueError, match="gtf_alpha"):
        PLRNNRegressor(gtf_alpha=2.0).fit(X)
    with pytest.raises(ValueError, match="init.*positive_definite"):
        PLRNNRegressor(init="zeros").fit(X)
    assert not hasattr(m, "n_iter_")  # nothing half-fitted
    m.fit(X)
    with pytest.raises(ValueError, match="expecting 3 features"):
        m.predict(X[:, :2])


# ---------------------------------------------------------------------------- must-show checks
def test_lorenz_reconstruction_small():
    """Small version of benchmarks/bench_plrnn_lorenz.py: noisy training data, clean evaluation.

    Ten short epochs (~10 s) give good forecasts and bounded free runs (the free run of such a short
    fit may still settle on a fixed point); the full claim (D_stsp, D_H, Lyapunov exponent) needs the
    benchmark's 1000 epochs: ``test_lorenz_reconstruction_full`` (slow)."""
    metrics = pytest.importorskip("sklearn_lrnn.metrics")
    X_train = make_lorenz63(20_000, noise=0.05, random_state=0)
    _, X_test = make_lorenz63(5000, random_state=1, return_clean=True)
    m = PLRNNRegressor(n_hidden=50, sequence_length=30, batch_size=64, batches_per_epoch=50, max_iter=10,
                       gtf_alpha=0.2, learning_rate=3e-3,
                       learning_rate_schedule="exponential", final_learning_rate=1e-4, random_state=0,
                       compute_fixed_points=False).fit(X_train)
    assert m.score(X_test) > 0.98  # one-step forecasts of clean data
    pe = metrics.prediction_error(m, X_test, n_steps=20)
    pe_persistence = metrics.prediction_error(metrics.persistence_forecast, X_test, n_steps=20)
    assert pe < 0.5 * pe_persistence, (pe, pe_persistence)
    X_gen, _ = m.sample(5000, x0=X_test[0])
    assert np.all(np.abs(X_gen) < 4)  # clipped shallow PLRNN: bounded orbits on the data's scale


@pytest.mark.slow
def test_lorenz_reconstruction_full():
    """The benchmark claim (1000 epochs = 50,000 gradient steps with the C++ rollout; measured D_stsp
    0.220 / 0.224, D_H 0.086 / 0.063, max Lyapunov exponent 0.0086 / 0.0093 per step for seeds 0 / 1)."""
    metrics = pytest.importorskip("sklearn_lrnn.metrics")
    X_train = make_lorenz63(100_000, noise=0.05, random_state=0)
    _, X_test = make_lorenz63(100_000, random_state=1, return_clean=True)
    m = PLRNNRegressor(n_latents=3, n_hidden=100, gtf_alpha=0.2, learning_rate=3e-3,
                       learning_rate_schedule="exponential", final_learning_rate=1e-5,
                       max_iter=1000, random_state=0, compute_lyapunov=True).fit(X_train)
    X_gen, _ = m.sample(100_000, x0=X_test[0])
    assert metrics.state_space_divergence(X_test, X_gen, method="bins", n_bins=30) <= 0.25
    assert metrics.power_spectrum_distance(X_test, X_gen, smoothing_sigma=20) <= 0.15
    assert m.lyapunov_exponent_ > 0


def _np_step(m, z):
    """The fitted map from the NumPy attributes alone (independent of the torch engine)."""
    if m.architecture == "vanilla":
        return m.A_ * z + m.W_ @ np.maximum(z, 0) + m.h_
    if m.architecture == "linear":
        return m.A_ * z + m.W_ @ z + m.h_
    u = m.W2_ @ z
    phi = np.maximum(u + m.h2_, 0) - (np.maximum(u, 0) if m.architecture == "clipped_shallow" else 0)
    return m.A_ * z + m.W1_ @ phi + m.h1_


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_fixed_points_and_cycles_agree_with_simulation(architecture):
    dyn = pytest.importorskip("sklearn_lrnn.dynamics")
    if not hasattr(dyn, "fixed_points"):
        pytest.skip("sklearn_lrnn.dynamics.fixed_points not available yet")
    X = make_lorenz63(3000, random_state=0)
    m = PLRNNRegressor(architecture=architecture, n_hidden=12, sequence_length=50, batches_per_epoch=20,
                       max_iter=3, learning_rate=3e-3, random_state=0, max_cycle_order=2).fit(X)
    fp = m.fixed_points_
    assert fp is not None and len(fp) >= 1
    for z, stab in zip(fp.points, fp.stability):
        np.testing.assert_allclose(_np_step(m, z), z, atol=1e-8)
        traj, _ = m.sample(300, x0=z)  # identity readout, M = N: x0 = z
        if stab == "stable":  # stays there
            np.testing.assert_allclose(traj[-1], z, atol=1e-6)
        np.testing.assert_allclose(traj[1], z, atol=1e-5)
    for orbit in m.cycles_[2].orbits:
        z1 = _np_step(m, orbit[0])
        np.testing.assert_allclose(z1, orbit[1], atol=1e-8)
        np.testing.assert_allclose(_np_step(m, z1), orbit[0], atol=1e-8)
        assert not np.allclose(z1, orbit[0])


def test_two_cycle_of_fitted_model_matches_simulation_and_data():
    dyn = pytest.importorskip("sklearn_lrnn.dynamics")
    if not hasattr(dyn, "cycles"):
        pytest.skip("sklearn_lrnn.dynamics.cycles not available yet")
    rng = np.random.default_rng(0)
    period2 = np.array([[1.0, 0.5], [-0.5, -1.0]])
    X = np.tile(period2, (500, 1)) + 0.01 * rng.standard_normal((1000, 2))
    m = PLRNNRegressor(architecture="vanilla", sequence_length=20, batches_per_epoch=50, max_iter=20,
                       learning_rate=3e-2,
                       learning_rate_schedule="exponential", final_learning_rate=1e-3, random_state=0).fit(X)
    cyc = m.cycles_[2]
    assert len(cyc) >= 1
    for orbit, stab in zip(cyc.orbits, cyc.stability):
        z1 = _np_step(m, orbit[0])
        np.testing.assert_allclose(z1, orbit[1], atol=1e-8)
        np.testing.assert_allclose(_np_step(m, z1), orbit[0], atol=1e-8)
        if stab == "stable":
            traj, _ = m.sample(11, x0=orbit[0])  # M = N: x0 is the latent state
            np.testing.assert_allclose(traj[10], orbit[0], atol=1e-4)  # back after an even number of steps
    # the learnt stable cycle is the one in the data
    stable = cyc.orbits[cyc.stability == "stable"]
    assert len(stable) >= 1
    best = min(stable, key=lambda o: np.abs(np.sort(o, 0) - np.sort(period2, 0)).max())
    np.testing.assert_allclose(np.sort(best, 0), np.sort(period2, 0), atol=0.25)


def test_addition_short_with_mar():
    """Short-T version of benchmarks/bench_addition.py (T = 200 there)."""
    X, y = make_addition_problem(2000, 30, random_state=0)
    X_test, y_test = make_addition_problem(500, 30, random_state=1)
    m = PLRNNRegressor(architecture="vanilla", n_latents=20, mar_weight=5.0, batch_size=64, batches_per_epoch=50,
                       max_iter=20, learning_rate=1e-2,
                       learning_rate_schedule="exponential", final_learning_rate=1e-4, random_state=0,
                       compute_fixed_points=False).fit(X, y)
    assert m.mode_ == "seq2one" and m.predict(X_test).shape == (500,)
    mse = np.mean((m.predict(X_test) - y_test) ** 2)
    assert mse < 0.15 * np.var(y_test), mse  # chance (predicting the mean) is var(y)
    assert m.score(X_test, y_test) > 0.85
    np.testing.assert_allclose(m.A_[10:], 1, atol=0.02)  # the MAR half stays line-attractor-like


@pytest.mark.slow
def test_addition_T200_mar_beats_no_mar():
    """benchmarks/bench_addition.py --init random --seed 0 (2 x ~6 minutes), markers placed as in Schmidt et
    al. 2021 (first 10 steps / first half): MAR solves T = 200 (measured 0.9999 on 10,000 held-out sequences)
    where the same model without MAR stays at chance (0.076, MSE 0.168 against a chance MSE of 0.162)."""
    X, y = make_addition_problem(10_000, 200, random_state=0)
    X_test, y_test = make_addition_problem(1000, 200, random_state=1000)
    acc, mse = {}, {}
    for mar_weight in (5.0, 0.0):
        m = PLRNNRegressor(architecture="vanilla", n_latents=40, mar_weight=mar_weight, init="random", batch_size=128,
                           batches_per_epoch=50, max_iter=250, learning_rate=5e-3,
                           learning_rate_schedule="exponential", final_learning_rate=1e-5,
                           random_state=0, compute_fixed_points=False).fit(X, y)
        err = m.predict(X_test) - y_test
        acc[mar_weight], mse[mar_weight] = np.mean(np.abs(err) < 0.04), np.mean(err**2)
    assert acc[5.0] >= 0.99, acc
    assert acc[0.0] < 0.5 and mse[0.0] > 0.5 * np.var(y_test), (acc, mse)  # no better than half of chance


def test_sequence_to_one_with_trials_of_different_lengths():
    X, y = make_addition_problem(40, 12, random_state=0)
    trials = [x[: 8 + i % 5] for i, x in enumerate(X)]
    m = PLRNNRegressor(architecture="vanilla", n_latents=6, batch_size=8, batches_per_epoch=3, max_iter=1,
                       random_state=0, compute_fixed_points=False).fit(trials, y)
    pred = m.predict(trials)
    assert m.mode_ == "seq2one" and pred.shape == (40,)
    # each trial is read out after its own last step
    Z = m.transform(trials)
    np.testing.assert_allclose(pred[3], (m.B_ @ Z[3][-1] + m.b_)[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="do not pass u"):
        m.predict(trials, u=trials)


# ---------------------------------------------------------------------------- n_parameters_
@pytest.mark.parametrize("arch, kw, y, expected", [
    # M = N = 2, no inputs, reconstruction: A (2) + off-diagonal W (2) + h (2); z0 is never used
    ("vanilla", {}, None, 6),
    ("linear", {}, None, 6),
    # M = 4 > N = 2: the map from x_0 to the two unobserved latents (L, 2 x 2) is trained too
    ("vanilla", dict(n_latents=4), None, 4 + 12 + 4 + 4),
    # shallow, H = 3: A (2) + W1 (2 x 3) + W2 (3 x 2) + h1 (2) + h2 (3)
    ("clipped_shallow", dict(n_hidden=3), None, 2 + 6 + 6 + 2 + 3),
    # supervised, inputs K = 2, one target, affine readout, M = 3: A 3, W 6, h 3, C 6, B 3, b 1, z0 3
    ("vanilla", dict(n_latents=3), "seq2seq", 3 + 6 + 3 + 6 + 3 + 1 + 3),
])
def test_n_parameters_counts_the_trainable_parameters(arch, kw, y, expected):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 20, 2))
    target = None if y is None else X[..., :1]
    m = PLRNNRegressor(architecture=arch, **{**FAST, "max_iter": 1, **kw})
    with pytest.warns(ConvergenceWarning):
        m.fit(X, target)
    assert m.n_parameters_ == expected
