"""Teacher-student recovery (the oscillator of Pals et al., 2024): a student fitted to a rank-2
teacher's noisy observations must recover its noise, decay and oscillation frequency. Small enough for the default
suite, and able to fail: a student that explains the data by noise (an easy local optimum) has a
unit-space noise of 0.5-0.9 and no oscillation. Fitted with the default training settings."""

import numpy as np
import pytest

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import dominant_period, make_low_rank_teacher


def unit_noise_std(model):
    """Noise std in unit space: sqrt of the top-R eigenvalues of m Sigma_z m^T.

    Invariant to the latent reparameterisations z -> Q z that leave the model unchanged, and equal to
    sigma_z for the teacher (orthonormal left vectors, Sigma_z = sigma_z^2 I)."""
    m, S = model.left_vectors_, model.noise_cov_
    return np.sqrt(np.linalg.eigvalsh(m @ S @ m.T)[-model.rank:])


@pytest.fixture(scope="module")
def student_and_teacher():
    data = make_low_rank_teacher(n_trials=100, n_timesteps=75, random_state=0)
    # default training settings: the fit stops by itself (the demo fits the same data the same way)
    student = StochasticLowRankRNN(rank=2, observation="gaussian_currents", random_state=0).fit(data.X)
    return student, data


def test_recovers_noise_and_decay(student_and_teacher):
    student, data = student_and_teacher
    noise = unit_noise_std(student)
    np.testing.assert_allclose(noise, data.teacher["noise_std"], rtol=0.15)
    assert abs(student.decay_ - data.teacher["decay"]) < 0.03
    np.testing.assert_allclose(np.sqrt(student.observation_noise_var_).mean(), data.teacher["obs_noise_std"], rtol=0.15)


def test_generated_trajectories_oscillate_at_teacher_frequency(student_and_teacher):
    student, data = student_and_teacher
    _, Z = student.sample(20, 400, random_state=0)
    period = np.median([dominant_period(z[100:, 0]) for z in Z])
    assert abs(period / data.period - 1) < 0.10
    # and the noise-free dynamics has a limit cycle (an unstable fixed point inside it)
    _, Zc = student.sample(1, 600, z0=np.array([1.0, 0.0]), noise_scale=0.0)
    radius = np.linalg.norm(Zc[0, 300:], axis=1)
    assert radius.min() > 0.5 * radius.max() > 0.1


def test_posterior_latents_explain_teacher_latents(student_and_teacher):
    student, data = student_and_teacher
    Z = student.transform(data.X[:20]).reshape(-1, 2)
    true = data.Z[:20].reshape(-1, 2)
    # the student's latents are a linear reparameterisation of the teacher's
    A, *_ = np.linalg.lstsq(np.c_[Z, np.ones(len(Z))], true, rcond=None)
    r2 = 1 - ((np.c_[Z, np.ones(len(Z))] @ A - true) ** 2).sum() / ((true - true.mean(0)) ** 2).sum()
    assert r2 > 0.95
