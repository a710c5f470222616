"""External inputs u: the ring-attractor teacher, a student that recovers its noise and follows unseen
input sequences to the right target, and validation of u."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import make_ring_teacher, ring_inputs
from sklearn_lrnn.dynamics import low_rank_fixed_points

TINY = dict(rank=2, max_iter=2, n_particles=4, batch_size=4, random_state=0, compute_fixed_points=False)


def unit_noise_std(model):
    m, S = model.left_vectors_, model.noise_cov_
    return np.sqrt(np.linalg.eigvalsh(m @ S @ m.T)[-model.rank:])


def _angle_error(pred_angle, target_angle):
    return np.degrees(np.abs(np.angle(np.exp(1j * (pred_angle - target_angle)))))


def test_ring_teacher_has_eight_attractors_and_inputs_steer():
    data = make_ring_teacher(n_trials=160, n_timesteps=75, random_state=0)
    t = data.teacher
    fps = low_rank_fixed_points(t["left_vectors"], t["right_vectors"], t["bias"], t["decay"], activation="relu")
    stab = np.asarray(fps.stability)
    assert len(stab) == 17 and (stab == "stable").sum() == 8
    stable = np.asarray(fps.points)[stab == "stable"]
    raw = np.linalg.solve(t["raw_to_latent"], stable.T).T  # back to the coordinates of the unit directions
    radius, angle = np.linalg.norm(raw, axis=1), np.sort(np.degrees(np.arctan2(raw[:, 1], raw[:, 0])) % 360)
    assert radius.std() < 0.1 * radius.mean()  # on a ring
    assert np.all(np.abs(angle - 45 * np.arange(8)) < 10) or np.all(np.abs(np.sort((angle + 22.5) % 360) - 22.5
                                                                            - 45 * np.arange(8)) < 10)
    # without input the states stay where they are: start at each attractor, no noise, run long
    from sklearn_lrnn.datasets import simulate_teacher

    _, Z = simulate_teacher(t, 8, 300, noise_std=0.0, obs_noise_std=0.0, z0=stable)
    np.testing.assert_allclose(Z[:, -1], stable, atol=1e-6)
    # with input, the end state is the target's attractor
    end = np.linalg.solve(t["raw_to_latent"], data.Z[:, -1].T).T
    err = _angle_error(np.arctan2(end[:, 1], end[:, 0]), data.target_angle)
    assert np.mean(err < 30) > 0.95


@pytest.fixture(scope="module")
def ring():
    return make_ring_teacher(n_trials=100, n_timesteps=75, random_state=0)


def _fit_student(teacher, max_iter):
    return StochasticLowRankRNN(
        rank=2, observation="gaussian_currents", n_particles=16, batch_size=16, max_iter=max_iter, learning_rate=1e-2,
        learning_rate_schedule="exponential", final_learning_rate=1e-3, random_state=0,
    ).fit(teacher.X, u=teacher.u)


@pytest.fixture(scope="module")
def student_small():
    """Default suite: a 32-unit ring teacher, 160 trials, 150 epochs (~30 s). Measured: unit noise
    0.056 / 0.057 (true 0.05), held-out angle error 22 deg (seed 1: 0.056 / 0.058, 21 deg)."""
    teacher = make_ring_teacher(n_trials=160, n_timesteps=75, n_units=32, random_state=0)
    return teacher, _fit_student(teacher, 150)


@pytest.fixture(scope="module")
def student_n60():
    """The published size (N = 60), 160 trials, 400 epochs (~2-3 min). Measured: 0.056 / 0.057, 11 deg.
    With 150 epochs it has not converged yet (noise 0.23-0.26); with 100 trials 0.6-0.7."""
    teacher = make_ring_teacher(n_trials=160, n_timesteps=75, random_state=0)
    return teacher, _fit_student(teacher, 400)


STUDENTS = ["student_small", pytest.param("student_n60", marks=pytest.mark.slow)]


@pytest.mark.parametrize("student", STUDENTS)
def test_input_student_recovers_noise(student, request):
    teacher, model = request.getfixturevalue(student)
    np.testing.assert_allclose(unit_noise_std(model), teacher.teacher["noise_std"], rtol=0.25)


@pytest.mark.parametrize("student", STUDENTS)
def test_input_student_follows_unseen_inputs_to_the_target(student, request):
    teacher, model = request.getfixturevalue(student)
    # decoder of the target from the teacher's end-of-trial activity
    decoder = Ridge(alpha=1e-3).fit(teacher.X[:, -1],
                                    np.c_[np.cos(teacher.target_angle), np.sin(teacher.target_angle)])
    # unseen inputs: earlier onset, longer pulse, longer trials
    angles = np.repeat(np.arange(8) * np.pi / 4, 4)
    u_new = ring_inputs(angles, 90, onset=15, duration=30)
    X, Z = model.sample(u=u_new, random_state=0)
    assert X.shape == (32, 90, teacher.X.shape[2]) and Z.shape == (32, 90, 2)
    pred = decoder.predict(X[:, -1])
    assert _angle_error(np.arctan2(pred[:, 1], pred[:, 0]), angles).mean() < 30


@pytest.fixture(scope="module")
def small_input_fit(ring):
    return StochasticLowRankRNN(**TINY).fit(ring.X[:8, :30], u=ring.u[:8, :30])


def test_bad_inputs_raise(ring, small_input_fit):
    X, u = ring.X[:8, :30], ring.u[:8, :30]
    m = small_input_fit
    with pytest.raises(ValueError, match="fitted with 2 external inputs"):
        m.transform(X)
    with pytest.raises(ValueError, match="pass u to sample"):
        m.sample(2, 10)
    bad = u.copy()
    bad[1, 3, 0] = np.nan
    for method in (m.transform, m.score, m.score_samples):
        with pytest.raises(ValueError, match="NaN"):
            method(X, u=bad)
    with pytest.raises(ValueError, match="NaN"):
        StochasticLowRankRNN(**TINY).fit(X, u=bad)
    with pytest.raises(ValueError, match="NaN"):
        m.sample(u=bad)
    with pytest.raises(ValueError, match="differ in length"):
        m.transform(X, u=u[:, :20])
    with pytest.raises(ValueError, match="trials"):
        m.transform(X, u=u[:5])
    with pytest.raises(ValueError, match="features"):
        m.transform(X, u=np.concatenate([u, u], -1))
    with pytest.raises(ValueError, match="features"):
        m.sample(u=u[..., :1])
    with pytest.raises(ValueError, match="without inputs"):
        StochasticLowRankRNN(**TINY).fit(X).transform(X, u=u)
    unfitted = StochasticLowRankRNN(**TINY)
    with pytest.raises(ValueError):
        unfitted.fit(X, u=u[:, :20])
    assert not hasattr(unfitted, "n_iter_")


def test_inputs_reach_every_method(ring, small_input_fit):
    X, u = ring.X[:8, :30], ring.u[:8, :30]
    m = small_input_fit
    assert m.input_weights_.shape == (60, 2) and m.n_inputs_ == 2
    Zf = m.transform(X, u=u)
    assert not np.allclose(Zf, m.transform(X, u=np.zeros_like(u)))  # the inputs matter
    assert m.transform(X, u=u, method="smoothing").shape == Zf.shape
    assert np.isfinite(m.score(X, u=u))
    # list containers with unseen lengths, low-pass filtered inputs, inputs into a Poisson model
    Xl, Zl = m.sample(u=[u[0], u[1, :12]], random_state=0)
    assert [x.shape for x in Xl] == [(30, 60), (12, 60)]
    filt = StochasticLowRankRNN(input_filter=True, **TINY).fit(X, u=u)
    assert np.isfinite(filt.score(X, u=u))
    counts = np.random.default_rng(0).poisson(1.0, X.shape).astype(float)
    pois = StochasticLowRankRNN(observation="poisson_currents", encoder_channels=(4, 4), **TINY).fit(counts, u=u)
    Xs, _ = pois.sample(u=u[:2], random_state=0)
    assert np.all(Xs == np.round(Xs))
