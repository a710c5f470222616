"""Ground-truth low-rank RNN teachers, in scikit-learn's ``make_*`` style.

The published teachers are described in section "Teacher networks" of the theory page (``doc/theory.rst``).

Teachers live in latent coordinates with orthonormal left vectors U (N x R):

    z_t = a z_{t-1} + V relu(U z_{t-1} + b) + N(0, sigma_z^2),    x_t = U z_t + N(0, sigma_x^2)

In the estimator's convention (relu(m z - h)) that is m = U, n = V, h = -b.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._validation import check_nonnegative_float, check_numeric, check_positive_int


def _check_sizes(n_units_min, **sizes):
    """Positive-int sizes; ``n_units`` at least ``n_units_min``."""
    out = {k: check_positive_int(v, k) for k, v in sizes.items()}
    if "n_units" in out and out["n_units"] < n_units_min:
        raise ValueError(f"n_units must be >= {n_units_min}; got {out['n_units']}.")
    return out

__all__ = ["make_low_rank_teacher", "simulate_teacher"]


def _oscillator_teacher(n_units: int, rng: np.random.RandomState) -> dict:
    # Units tile the circle; near the origin all are active and the map is 0.9 I + 0.6 Rot(90 deg)
    # (|eigenvalue| 1.08: an unstable spiral); far out about half are silent and the effective
    # gain drops below one, so trajectories settle on a limit cycle between the two.
    theta = np.linspace(0, 2 * np.pi, n_units, endpoint=False) + rng.uniform(-0.05, 0.05, n_units)
    U, upper = np.linalg.qr(np.stack([np.cos(theta), np.sin(theta)], 1))  # orthonormal despite the jitter
    U = U * np.sign(np.diag(upper))
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    V = 0.6 * rot @ U.T
    b = np.full(n_units, 0.4)
    return dict(left_vectors=U, right_vectors=V, bias=-b, decay=0.9, activation="relu")


def simulate_teacher(teacher: dict, n_trials: int, n_timesteps: int, *, noise_std: float, obs_noise_std: float,
                     z0=None, inputs=None, random_state=None):
    """Simulate a latent-form teacher; returns observations (n_trials, T, N) and latents (n_trials, T, R)."""
    _check_sizes(1, n_trials=n_trials, n_timesteps=n_timesteps)
    noise_std = check_nonnegative_float(noise_std, "noise_std")
    obs_noise_std = check_nonnegative_float(obs_noise_std, "obs_noise_std")
    missing = {"left_vectors", "right_vectors", "bias", "decay"} - set(teacher)
    if missing:
        raise ValueError(f"teacher lacks {sorted(missing)}; pass the dict of a make_*_teacher data set (data.teacher).")
    rng = check_random_state(random_state)
    U, V, h, a = teacher["left_vectors"], teacher["right_vectors"], teacher["bias"], teacher["decay"]
    R = U.shape[1]
    z = np.zeros((n_trials, R)) if z0 is None else check_numeric(z0, "z0").copy()
    if z.shape not in ((R,), (n_trials, R)):
        raise ValueError(f"z0 must have shape ({R},) or (n_trials, {R}) = ({n_trials}, {R}); got {z.shape}.")
    if inputs is not None:
        inputs = check_numeric(inputs, "inputs")
        if inputs.ndim != 3 or inputs.shape[:2] != (n_trials, n_timesteps):
            raise ValueError(f"inputs must have shape (n_trials, n_timesteps, n_inputs) = ({n_trials}, {n_timesteps}, "
                             f"n_inputs); got {inputs.shape}.")
    Z = np.empty((n_trials, n_timesteps, R))
    for t in range(n_timesteps):
        if t > 0:
            cur = z @ U.T - h
            if inputs is not None:
                cur = cur + inputs[:, t] @ teacher["input_weights"].T
            z = a * z + np.maximum(cur, 0) @ V.T + noise_std * rng.standard_normal((n_trials, R))
        Z[:, t] = z
    X = Z @ U.T + obs_noise_std * rng.standard_normal((n_trials, n_timesteps, U.shape[0]))
    return X, Z


def make_low_rank_teacher(n_trials: int = 200, n_timesteps: int = 75, *, n_units: int = 20, noise_std: float = 0.2,
                          obs_noise_std: float = 0.1, random_state=None) -> Bunch:
    """Data from a rank-2 ReLU RNN teacher with a limit cycle (the oscillator setting of Pals et al., 2024).

    Parameters
    ----------
    n_trials, n_timesteps : int
        Size of the data set (published setting: 200 trials x 75 steps).
    n_units : int
        Number of units N (and of observed channels: the teacher's currents are observed).
    noise_std, obs_noise_std : float
        Latent transition noise sigma_z (0.2) and observation noise sigma_x (0.1).
    random_state : int, RandomState or None
        Seed for the teacher's jitter, initial states and noise.

    Returns
    -------
    data : Bunch
        ``X`` (n_trials, n_timesteps, n_units) observations, ``Z`` (n_trials, n_timesteps, 2) true
        latents, ``teacher`` dict (``left_vectors`` (N, 2) orthonormal, ``right_vectors`` (2, N),
        ``bias`` (N,) in the estimator's relu(m z - h) convention, ``decay``, ``activation``,
        ``noise_std``, ``obs_noise_std``), and ``period`` (the noise-free limit cycle's period in steps).

    Examples
    --------
    >>> from sklearn_lrnn.datasets import make_low_rank_teacher
    >>> data = make_low_rank_teacher(n_trials=4, n_timesteps=30, random_state=0)
    >>> data.X.shape, data.Z.shape
    ((4, 30, 20), (4, 30, 2))
    """
    _check_sizes(4, n_trials=n_trials, n_timesteps=n_timesteps, n_units=n_units)
    noise_std = check_nonnegative_float(noise_std, "noise_std")
    obs_noise_std = check_nonnegative_float(obs_noise_std, "obs_noise_std")
    rng = check_random_state(random_state)
    teacher = _oscillator_teacher(n_units, rng)
    teacher.update(noise_std=noise_std, obs_noise_std=obs_noise_std)
    # z_0 = r (cos p, sin p), r ~ 2 N(0, 1)
    r, p = 2 * rng.standard_normal(n_trials), rng.uniform(0, 2 * np.pi, n_trials)
    z0 = np.stack([r * np.cos(p), r * np.sin(p)], 1)
    X, Z = simulate_teacher(teacher, n_trials, n_timesteps, noise_std=noise_std, obs_noise_std=obs_noise_std,
                            z0=z0, random_state=rng)
    _, Zc = simulate_teacher(teacher, 1, 600, noise_std=0.0, obs_noise_std=0.0, z0=np.array([[1.0, 0.0]]))
    return Bunch(X=X, Z=Z, teacher=teacher, period=dominant_period(Zc[0, 200:, 0]))


def dominant_period(signal) -> float:
    """Period (in steps) of the strongest non-zero frequency of a 1-D signal, by FFT peak with
    parabolic interpolation."""
    s = check_numeric(signal, "signal")
    if s.ndim != 1 or len(s) < 4:
        raise ValueError(f"signal must be 1-D with at least 4 samples; got shape {s.shape}.")
    s = s - s.mean()
    n = len(s) * 8  # zero-padding for a finer frequency grid
    power = np.abs(np.fft.rfft(s * np.hanning(len(s)), n)) ** 2
    k = int(np.argmax(power[1:]) + 1)
    if 1 <= k < len(power) - 1:
        a, b, c = np.log(power[k - 1 : k + 2] + 1e-300)
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return n / k
