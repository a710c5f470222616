"""Sparse spike counts of a low-rank teacher, as real recordings give them (``make_sparse_spiking``).

Most units of real recordings fire below 1 Hz, so that 95-99.5% of their 10-50 ms bins are empty, a few
fire in bursts, and some are silent in part of a session. This generator makes such data from a known
teacher, so that fits on it can be checked against the truth.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._validation import check_nonnegative_float, check_nonnegative_int, check_positive_float, check_real
from ._spiking import _softplus
from ._teachers import _check_sizes, _oscillator_teacher, simulate_teacher

__all__ = ["make_sparse_spiking"]


def _offsets_for_rates(currents: np.ndarray, gain: float, target: np.ndarray) -> np.ndarray:
    """Per-unit offsets c with mean(softplus(gain * currents + c)) = target (bisection; monotone in c)."""
    lo, hi = np.full(len(target), -60.0), np.full(len(target), 20.0)
    flat = currents.reshape(-1, currents.shape[-1])
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        too_high = _softplus(gain * flat + mid).mean(0) > target
        hi, lo = np.where(too_high, mid, hi), np.where(too_high, lo, mid)
    return 0.5 * (lo + hi)


def make_sparse_spiking(n_trials: int = 60, n_timesteps: int = 200, *, n_units: int = 40, bin_size: float = 0.02,
                        rate_range=(0.05, 5.0), gain: float = 12.0, noise_std: float = 0.1, n_bursting: int = 2,
                        n_silent: int = 1, n_silent_early: int = 1, silent_early_fraction: float = 0.8,
                        random_state=None) -> Bunch:
    """Sparse spike counts of a rank-2 oscillator teacher with place-cell-like tuning.

    The latents follow the limit-cycle teacher of :func:`make_low_rank_teacher` (one lap of the cycle
    per period, like an animal running laps). Each of the ``n_units`` tuned units fires
    ``Poisson(softplus(gain * (U z)_i + c_i))`` spikes per bin, with ``c_i`` set so that its mean rate is
    its target, drawn log-uniformly from ``rate_range`` (in Hz, at ``bin_size`` seconds per bin). With
    the default sharp tuning a unit fires in a small part of each lap, so most bins are empty (97-99%
    with the defaults). Then come units that real recordings have and teachers usually lack:

    - ``n_bursting`` units that fire, independently of the latents, in rare bursts of 2-6 spikes over
      1-3 bins (about one burst per 5 s);
    - ``n_silent`` units that never fire;
    - ``n_silent_early`` tuned units that are silent in the first ``silent_early_fraction`` of the trials
      (a unit lost and found again by spike sorting; split by trial, it is silent in the training part).

    Parameters
    ----------
    n_trials, n_timesteps : int
        Size of the data set.
    n_units : int
        Tuned (latent-driven) units, at least 4; the others come on top.
    bin_size : float
        Seconds per bin; with ``rate_range`` it sets the mean counts per bin.
    rate_range : (float, float)
        Smallest and largest mean rate of the tuned units, in Hz.
    gain : float
        Tuning sharpness: rates are softplus(gain * current + offset).
    noise_std : float
        Transition noise of the teacher's latents.
    n_bursting, n_silent, n_silent_early : int
        Extra units of each kind (see above); the silent-early units are taken from the tuned ones.
    silent_early_fraction : float in (0, 1)
        Fraction of the trials (the first ones) in which the silent-early units do not fire.
    random_state : int, RandomState or None

    Returns
    -------
    data : Bunch
        ``X`` (n_trials, n_timesteps, n_units + n_bursting + n_silent) counts (float dtype; columns:
        tuned, then bursting, then silent units); ``rates`` their expected values per bin (the bursting
        units' long-run mean); ``Z`` the teacher's latents; ``unit_kind`` (one of ``"tuned"``,
        ``"silent_early"``, ``"bursting"``, ``"silent"`` per column); ``target_rates`` (Hz, tuned units);
        ``teacher`` dict as :func:`make_poisson_teacher`'s (``gain``, ``offset`` per tuned unit).

    Examples
    --------
    >>> from sklearn_lrnn.datasets import make_sparse_spiking
    >>> data = make_sparse_spiking(n_trials=10, n_timesteps=100, random_state=0)
    >>> data.X.shape, bool((data.X == 0).mean() > 0.95)
    ((10, 100, 43), True)
    """
    _check_sizes(4, n_trials=n_trials, n_timesteps=n_timesteps, n_units=n_units)
    bin_size = check_positive_float(bin_size, "bin_size")
    gain = check_real(gain, "gain")
    noise_std = check_nonnegative_float(noise_std, "noise_std")
    n_bursting = check_nonnegative_int(n_bursting, "n_bursting")
    n_silent = check_nonnegative_int(n_silent, "n_silent")
    n_silent_early = check_nonnegative_int(n_silent_early, "n_silent_early")
    if n_silent_early > n_units:
        raise ValueError(f"n_silent_early ({n_silent_early}) cannot exceed n_units ({n_units}).")
    frac = float(silent_early_fraction)
    if not 0.0 < frac < 1.0:
        raise ValueError(f"silent_early_fraction must be in (0, 1); got {silent_early_fraction!r}.")
    try:
        low, high = (float(r) for r in rate_range)
    except (TypeError, ValueError):
        raise ValueError(f"rate_range must be two rates in Hz (low, high); got {rate_range!r}.") from None
    if not 0.0 < low <= high:
        raise ValueError(f"rate_range needs 0 < low <= high (Hz); got {rate_range!r}.")
    rng = check_random_state(random_state)
    teacher = _oscillator_teacher(n_units, rng)
    r, p = 1.0 + rng.uniform(0, 1, n_trials), rng.uniform(0, 2 * np.pi, n_trials)
    z0 = np.stack([r * np.cos(p), r * np.sin(p)], 1)
    currents, Z = simulate_teacher(teacher, n_trials, n_timesteps, noise_std=noise_std, obs_noise_std=0.0, z0=z0,
                                   random_state=rng)
    target = np.exp(rng.uniform(np.log(low), np.log(high), n_units))
    offsets = _offsets_for_rates(currents, gain, target * bin_size)
    tuned_rates = _softplus(gain * currents + offsets)
    kind = np.array(["tuned"] * n_units + ["bursting"] * n_bursting + ["silent"] * n_silent, dtype=object)
    early = rng.choice(n_units, n_silent_early, replace=False)
    kind[early] = "silent_early"
    X = np.zeros((n_trials, n_timesteps, len(kind)))
    X[..., :n_units] = rng.poisson(tuned_rates)
    X[: int(round(frac * n_trials)), :, early] = 0.0
    # bursts: onsets at 0.2 Hz, each 2-6 spikes spread over 1-3 consecutive bins
    p_onset = 0.2 * bin_size
    for j in range(n_units, n_units + n_bursting):
        for trial, t in zip(*np.nonzero(rng.uniform(size=(n_trials, n_timesteps)) < p_onset)):
            width = rng.randint(1, 4)
            spikes = rng.randint(2, 7)
            bins = np.minimum(t + rng.randint(0, width, spikes), n_timesteps - 1)
            np.add.at(X[trial, :, j], bins, 1.0)
    rates = np.zeros_like(X)
    rates[..., :n_units] = tuned_rates
    rates[: int(round(frac * n_trials)), :, early] = 0.0
    rates[..., n_units: n_units + n_bursting] = p_onset * 4.0  # onset rate x mean spikes per burst
    teacher.update(noise_std=noise_std, gain=gain, offset=offsets)
    return Bunch(X=X, rates=rates, Z=Z, unit_kind=kind, target_rates=target, teacher=teacher)
