"""Spiking and input-driven low-rank RNN teachers, in scikit-learn's ``make_*`` style.

The published teachers are described in section "Teacher networks" of the theory page (``doc/theory.rst``).

Both teachers live in latent coordinates with orthonormal left vectors U (N x R), as in
``make_low_rank_teacher``:  z_t = a z_{t-1} + V relu(U z_{t-1} - h + W_u u_t) + N(0, sigma_z^2 I).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._validation import check_nonnegative_float, check_nonnegative_int, check_numeric, check_positive_int, check_real
from ._teachers import _check_sizes, _oscillator_teacher, simulate_teacher

__all__ = ["make_poisson_teacher", "make_ring_teacher", "ring_inputs"]


def _softplus(x):
    return np.logaddexp(0.0, x)


def make_poisson_teacher(n_trials: int = 400, n_timesteps: int = 200, *, n_units: int = 40, noise_std: float = 0.2,
                         gain: float = 4.0, offset: float = -3.0, offset_spread: float = 0.0,
                         random_state=None) -> Bunch:
    """Spike counts of a rank-2 ReLU oscillator teacher (the Poisson setting of Pals et al., 2024).

    Latents follow the limit-cycle teacher of :func:`make_low_rank_teacher`; every unit emits
    ``counts ~ Poisson(softplus(gain * (U z)_i + offset))`` per time bin.

    Parameters
    ----------
    n_trials, n_timesteps : int
        Size of the data set (published setting: 400 trials x 200 steps).
    n_units : int
        Units N = observed neurons (published: 40).
    noise_std : float
        Latent transition noise sigma_z (0.2).
    gain, offset : float
        Rates softplus(gain * currents + offset) (published: 4 and -3).
    offset_spread : float, default=0.0
        Standard deviation of a per-unit jitter of ``offset`` (0 in the published setting). The
        published units tile the circle evenly, so their mean rates are all alike; a spread gives
        neurons distinct mean rates (needed to test that a student reproduces per-neuron rates).
    random_state : int, RandomState or None

    Returns
    -------
    data : Bunch
        ``X`` (n_trials, n_timesteps, n_units) integer counts (float dtype), ``rates`` their expected
        values, ``Z`` (n_trials, n_timesteps, 2) true latents, ``teacher`` dict (``left_vectors``,
        ``right_vectors``, ``bias``, ``decay``, ``activation``, ``noise_std``, ``gain``, ``offset``).

    Examples
    --------
    >>> from sklearn_lrnn.datasets import make_poisson_teacher
    >>> data = make_poisson_teacher(n_trials=3, n_timesteps=50, random_state=0)
    >>> data.X.shape, bool((data.X >= 0).all())
    ((3, 50, 40), True)
    """
    _check_sizes(4, n_trials=n_trials, n_timesteps=n_timesteps, n_units=n_units)
    noise_std = check_nonnegative_float(noise_std, "noise_std")
    gain, offset = check_real(gain, "gain"), check_real(offset, "offset")
    offset_spread = check_nonnegative_float(offset_spread, "offset_spread")
    rng = check_random_state(random_state)
    teacher = _oscillator_teacher(n_units, rng)
    offsets = np.full(n_units, float(offset))
    if offset_spread > 0:
        offsets = offsets + offset_spread * rng.standard_normal(n_units)
    teacher.update(noise_std=noise_std, gain=gain, offset=offsets)
    r, p = 2 * rng.standard_normal(n_trials), rng.uniform(0, 2 * np.pi, n_trials)
    z0 = np.stack([r * np.cos(p), r * np.sin(p)], 1)
    currents, Z = simulate_teacher(teacher, n_trials, n_timesteps, noise_std=noise_std, obs_noise_std=0.0, z0=z0,
                                   random_state=rng)
    rates = _softplus(gain * currents + offsets)
    X = rng.poisson(rates).astype(float)
    return Bunch(X=X, rates=rates, Z=Z, teacher=teacher)


def _ring_teacher(n_units: int, rng: np.random.RandomState, input_gain: float) -> dict:
    # 8 groups of units with preferred directions at multiples of 45 degrees (small jitter). Each group has
    # excitatory units (threshold 0, push outwards along the group's direction: the origin is unstable)
    # and inhibitory units (threshold 0.6, push inwards, stronger): radial growth saturates at a ring.
    # Pushes are radial (no rotation); the 8-fold modulation breaks the ring into 8 stable states with 8
    # saddles between them (17 fixed points with the origin, as the published reach teacher).
    n_groups, g_exc, g_inh, h_inh, jitter = 8, 0.03, 0.08, 0.6, 0.02
    # equal group sizes keep the 8-fold symmetry (unequal ones rotate the attractors off the targets):
    # 3 excitatory and 4 inhibitory units per group; units left over (N mod 56) have no recurrent output
    per = n_units // n_groups
    n_exc, n_inh = n_groups * (per * 3 // 7), n_groups * (per - per * 3 // 7)
    n_rest = n_units - n_exc - n_inh
    group = np.r_[np.arange(n_exc) % n_groups, np.arange(n_inh) % n_groups, rng.randint(n_groups, size=n_rest)]
    # the attractors form between neighbouring groups (each group's own direction is a saddle, where its
    # inhibition outweighs), so groups sit half a step off the targets 0, 45, ..., 315 degrees
    centre = 2 * np.pi * (group + 0.5) / n_groups
    pref = centre + rng.uniform(-jitter, jitter, n_units)
    M = np.stack([np.cos(pref), np.sin(pref)], 1)
    sign = np.r_[np.full(n_exc, g_exc), np.full(n_inh, -g_inh), np.zeros(n_rest)]
    n = (sign[:, None] * np.stack([np.cos(centre), np.sin(centre)], 1)).T
    thresh = np.r_[np.zeros(n_exc), np.full(n_inh, h_inh), np.zeros(n_rest)]
    # latent coordinates with orthonormal left vectors: M = U Rr, z~ = Rr z
    U, Rr = np.linalg.qr(M)
    flip = np.sign(np.diag(Rr))
    U, Rr = U * flip, Rr * flip[:, None]
    # inputs drive the excitatory units tuned to the input's direction (driving the inhibitory ones too
    # would push the state away from the target)
    w_in = input_gain * M * (sign > 0)[:, None]
    return dict(left_vectors=U, right_vectors=Rr @ n, bias=thresh, decay=0.9, activation="relu",
                input_weights=w_in, raw_to_latent=Rr)


def ring_inputs(target_angles, n_timesteps: int, *, onset: int = 25, duration: int = 25) -> np.ndarray:
    """Input sequences of the reach task: (cos, sin) of each trial's target angle from ``onset`` for
    ``duration`` steps, zero elsewhere. Returns an array (n_trials, n_timesteps, 2)."""
    a = check_numeric(target_angles, "target_angles").reshape(-1)
    n_timesteps = check_positive_int(n_timesteps, "n_timesteps")
    onset, duration = check_nonnegative_int(onset, "onset"), check_nonnegative_int(duration, "duration")
    u = np.zeros((len(a), n_timesteps, 2))
    u[:, onset: onset + duration] = np.stack([np.cos(a), np.sin(a)], 1)[:, None]
    return u


def make_ring_teacher(n_trials: int = 800, n_timesteps: int = 250, *, n_units: int = 60, noise_std: float = 0.05,
                      obs_noise_std: float = 0.05, n_targets: int = 8, input_onset: int = 25, input_duration: int = 25,
                      input_gain: float = 1.0, random_state=None) -> Bunch:
    """Input-driven ring attractor (the reach setting of Pals et al., 2024): a rank-2 ReLU network of
    ``n_units`` with 8 stable states on a ring, steered to one of ``n_targets`` target angles by two inputs.

    Each trial starts near the (unstable) origin; from ``input_onset`` for ``input_duration`` steps the
    inputs are (cos, sin) of the trial's target angle; afterwards the network holds the nearest of its
    8 attractors, i.e. the target. Observations are the units' currents plus noise.

    Parameters
    ----------
    n_trials, n_timesteps : int
        Published setting: 800 trials x 250 steps.
    n_units : int
        Units N (published: 60; at least 16).
    noise_std, obs_noise_std : float
        Transition noise (in unit space, with orthonormal left vectors) and observation noise (0.05 both).
    n_targets : int
        Number of target angles, evenly spaced (8: one per attractor).
    input_onset, input_duration : int
    input_gain : float
        Scale of the input weights.
    random_state : int, RandomState or None

    Returns
    -------
    data : Bunch
        ``X`` (n_trials, n_timesteps, n_units), ``u`` (n_trials, n_timesteps, 2) inputs, ``Z`` true
        latents (orthonormal coordinates), ``target`` (n_trials,) target index, ``target_angle``
        (n_trials,) in radians, ``teacher`` dict (``left_vectors``, ``right_vectors``, ``bias``,
        ``decay``, ``activation``, ``input_weights`` (N, 2), ``noise_std``, ``obs_noise_std``).

    Examples
    --------
    >>> from sklearn_lrnn.datasets import make_ring_teacher
    >>> data = make_ring_teacher(n_trials=4, n_timesteps=80, random_state=0)
    >>> data.X.shape, data.u.shape
    ((4, 80, 60), (4, 80, 2))
    """
    _check_sizes(16, n_trials=n_trials, n_timesteps=n_timesteps, n_units=n_units, n_targets=n_targets)
    noise_std = check_nonnegative_float(noise_std, "noise_std")
    obs_noise_std = check_nonnegative_float(obs_noise_std, "obs_noise_std")
    input_onset = check_nonnegative_int(input_onset, "input_onset")
    input_duration = check_nonnegative_int(input_duration, "input_duration")
    input_gain = check_real(input_gain, "input_gain")
    rng = check_random_state(random_state)
    teacher = _ring_teacher(n_units, rng, input_gain)
    teacher.update(noise_std=noise_std, obs_noise_std=obs_noise_std)
    target = rng.randint(n_targets, size=n_trials)
    angle = 2 * np.pi * target / n_targets
    u = ring_inputs(angle, n_timesteps, onset=input_onset, duration=input_duration)
    z0 = 0.1 * rng.standard_normal((n_trials, 2))
    X, Z = simulate_teacher(teacher, n_trials, n_timesteps, noise_std=noise_std, obs_noise_std=obs_noise_std, z0=z0,
                            inputs=u, random_state=rng)
    return Bunch(X=X, u=u, Z=Z, target=target, target_angle=angle, teacher=teacher)
