"""Benchmark dynamical systems and long-memory tasks in scikit-learn's ``make_*`` style.

* :func:`make_lorenz63`: the chaotic Lorenz-63 attractor sampled at ``dt = 0.01`` (the
  dynamical-systems-reconstruction benchmark of Hess et al. 2023), standardised, with optional
  Gaussian observation noise.
* :func:`make_lorenz96`: the Lorenz-96 model with ``n_dims`` sites and forcing ``F``.
* :func:`make_addition_problem` / :func:`make_multiplication_problem`: the long-memory tasks of
  Hochreiter & Schmidhuber (1997) used by Schmidt et al. (2021) to show manifold-attractor
  regularisation.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import odeint
from sklearn.utils import check_random_state

from .._validation import check_nonnegative_float, check_positive_float, check_real

__all__ = ["make_lorenz63", "make_lorenz96", "make_addition_problem", "make_multiplication_problem"]


def _check_positive_int(value, name, minimum=1):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _check_sampling(n_samples, burn_in, noise, dt):
    """The sampling arguments of the trajectory generators, checked: ``n_samples, burn_in, noise, dt``."""
    return (_check_positive_int(n_samples, "n_samples", 2), _check_positive_int(burn_in, "burn_in", 0),
            check_nonnegative_float(noise, "noise"), check_positive_float(dt, "dt"))


def _integrate(rhs, x0, n_samples, dt, burn_in):
    # odeint (LSODA, adaptive steps) evaluated on the sampling grid: accurate to ~1e-8, fast in C.
    n_total = burn_in + n_samples
    t = np.arange(n_total) * dt
    traj = odeint(rhs, x0, t, rtol=1e-9, atol=1e-9, tfirst=True)
    return traj[burn_in:]


def _finish(clean, noise, standardize, rng, return_clean):
    if standardize:
        clean = (clean - clean.mean(axis=0)) / clean.std(axis=0)
    X = clean + noise * rng.standard_normal(clean.shape) if noise > 0 else clean.copy()
    return (X, clean) if return_clean else X


def make_lorenz63(
    n_samples=10_000,
    *,
    dt=0.01,
    sigma=10.0,
    rho=28.0,
    beta=8.0 / 3.0,
    noise=0.0,
    standardize=True,
    burn_in=1000,
    random_state=None,
    return_clean=False,
):
    """Generate a trajectory of the Lorenz-63 system.

    ``dx/dt = sigma (y - x)``, ``dy/dt = x (rho - z) - y``, ``dz/dt = x y - beta z``, integrated
    accurately and sampled every ``dt`` time units, starting from a random point after a burn-in
    that lands it on the attractor.

    Parameters
    ----------
    n_samples : int, default=10000
        Number of time steps returned.
    dt : float, default=0.01
        Sampling interval (time units).
    sigma, rho, beta : float
        System parameters; the defaults give the chaotic attractor.
    noise : float, default=0.0
        Standard deviation of Gaussian observation noise, added after standardisation (so ``0.05``
        is 5% of each channel's standard deviation).
    standardize : bool, default=True
        Z-score each channel of the clean trajectory (noise is added afterwards).
    burn_in : int, default=1000
        Steps discarded before the returned trajectory starts.
    random_state : int, RandomState instance or None
        Seeds the initial condition and the noise.
    return_clean : bool, default=False
        Also return the noise-free trajectory.

    Returns
    -------
    X : ndarray of shape (n_samples, 3)
        The (noisy) trajectory, one continuous recording.
    X_clean : ndarray of shape (n_samples, 3)
        Only when ``return_clean=True``.

    Examples
    --------
    >>> from sklearn_lrnn.datasets._systems import make_lorenz63
    >>> X = make_lorenz63(500, noise=0.05, random_state=0)
    >>> X.shape
    (500, 3)
    """
    n_samples, burn_in, noise, dt = _check_sampling(n_samples, burn_in, noise, dt)
    sigma, rho, beta = (check_real(v, k) for k, v in (("sigma", sigma), ("rho", rho), ("beta", beta)))
    rng = check_random_state(random_state)

    def rhs(_t, s):
        x, y, z = s
        return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]

    x0 = rng.uniform(-10, 10, size=3) + np.array([0.0, 0.0, 25.0])
    clean = _integrate(rhs, x0, n_samples, dt, burn_in)
    return _finish(clean, noise, standardize, rng, return_clean)


def make_lorenz96(
    n_samples=10_000,
    *,
    n_dims=10,
    forcing=8.0,
    dt=0.01,
    noise=0.0,
    standardize=True,
    burn_in=1000,
    random_state=None,
    return_clean=False,
):
    """Generate a trajectory of the Lorenz-96 system.

    ``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` with cyclic indices; chaotic for ``F = 8``
    and ``n_dims >= 5``.

    Parameters
    ----------
    n_samples : int, default=10000
        Number of time steps returned.
    n_dims : int, default=10
        Number of sites (channels), at least 4.
    forcing : float, default=8.0
        The constant forcing ``F``.
    dt : float, default=0.01
        Sampling interval.
    noise : float, default=0.0
        Observation-noise standard deviation, added after standardisation.
    standardize : bool, default=True
        Z-score each channel of the clean trajectory.
    burn_in : int, default=1000
        Steps discarded at the start.
    random_state : int, RandomState instance or None
        Seeds the initial perturbation and the noise.
    return_clean : bool, default=False
        Also return the noise-free trajectory.

    Returns
    -------
    X : ndarray of shape (n_samples, n_dims)
    X_clean : ndarray of shape (n_samples, n_dims)
        Only when ``return_clean=True``.

    Examples
    --------
    >>> from sklearn_lrnn.datasets._systems import make_lorenz96
    >>> make_lorenz96(200, n_dims=6, random_state=0).shape
    (200, 6)
    """
    n_samples, burn_in, noise, dt = _check_sampling(n_samples, burn_in, noise, dt)
    n_dims = _check_positive_int(n_dims, "n_dims", 4)
    rng = check_random_state(random_state)
    F = check_real(forcing, "forcing")

    def rhs(_t, x):
        return (np.roll(x, -1) - np.roll(x, 2)) * np.roll(x, 1) - x + F

    x0 = F + 0.01 * rng.standard_normal(n_dims)
    clean = _integrate(rhs, x0, n_samples, dt, burn_in)
    return _finish(clean, noise, standardize, rng, return_clean)


MARKER_POSITIONS = ("hochreiter", "halves")


def _marked_problem(n_samples, n_timesteps, random_state, combine, marker_positions):
    n_samples = _check_positive_int(n_samples, "n_samples")
    if marker_positions not in MARKER_POSITIONS:
        raise ValueError(f"marker_positions must be one of {MARKER_POSITIONS}, got {marker_positions!r}.")
    n_timesteps = _check_positive_int(n_timesteps, "n_timesteps", 4 if marker_positions == "hochreiter" else 2)
    rng = check_random_state(random_state)
    X = np.zeros((n_samples, n_timesteps, 2))
    X[:, :, 0] = rng.uniform(0.0, 1.0, size=(n_samples, n_timesteps))
    half = n_timesteps // 2
    if marker_positions == "halves":
        # Le et al. 2015: one marker in each half; the second may fall on the last step
        first = rng.randint(0, half, size=n_samples)
        second = rng.randint(half, n_timesteps, size=n_samples)
    else:
        # Hochreiter & Schmidhuber 1997, Schmidt et al. 2021: one marker among the first 10 steps, another
        # (a different step) in the first half, so both values are held for at least T/2 steps
        first = rng.randint(0, min(10, half), size=n_samples)
        second = rng.randint(0, half - 1, size=n_samples)
        second += second >= first  # uniform over the first half without the first marker's step
    rows = np.arange(n_samples)
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    y = combine(X[rows, first, 0], X[rows, second, 0])
    return X, y


def make_addition_problem(n_samples=1000, n_timesteps=200, *, marker_positions="hochreiter", random_state=None):
    """Generate the addition problem: remember two marked values and add them.

    Each sequence has two input channels: a value drawn uniformly from [0, 1] at every step, and a
    marker that is 1 at exactly two steps and 0 elsewhere. The target, read out after the last step,
    is the sum of the two marked values. A prediction counts as correct when its absolute error is
    below 0.04 (Hochreiter & Schmidhuber 1997).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of sequences.
    n_timesteps : int, default=200
        Sequence length T.
    marker_positions : {"hochreiter", "halves"}, default="hochreiter"
        Where the two markers fall.

        - ``"hochreiter"``: one among the first 10 steps, the other anywhere else in the first half
          (Hochreiter & Schmidhuber 1997; the benchmarks of Schmidt et al. 2021, whose numbers
          ``benchmarks/bench_addition.py`` compares with). Both values are held for at least T/2 steps.
        - ``"halves"``: one in each half (Le et al. 2015). The second marker falls on the last step for
          1 sequence in T/2; a model read out linearly from its last state cannot add a value that
          arrives with the readout (it has no step left to gate it), which caps its accuracy near
          1 - 2/T at the 0.04 criterion.
    random_state : int, RandomState instance or None
        Seeds values and marker positions.

    Returns
    -------
    X : ndarray of shape (n_samples, n_timesteps, 2)
        Inputs: column 0 the values, column 1 the markers.
    y : ndarray of shape (n_samples,)
        Sum of the two marked values (in [0, 2]).

    Examples
    --------
    >>> from sklearn_lrnn.datasets._systems import make_addition_problem
    >>> X, y = make_addition_problem(4, 50, random_state=0)
    >>> X.shape, y.shape, X[..., 1].sum(axis=1).tolist()
    ((4, 50, 2), (4,), [2.0, 2.0, 2.0, 2.0])
    """
    return _marked_problem(n_samples, n_timesteps, random_state, np.add, marker_positions)


def make_multiplication_problem(n_samples=1000, n_timesteps=200, *, marker_positions="hochreiter",
                                random_state=None):
    """Generate the multiplication problem: like :func:`make_addition_problem`, target = product.

    Parameters
    ----------
    n_samples, n_timesteps, marker_positions, random_state
        As in :func:`make_addition_problem`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_timesteps, 2)
        Inputs, as in :func:`make_addition_problem`.
    y : ndarray of shape (n_samples,)
        Product of the two marked values (in [0, 1]).

    Examples
    --------
    >>> from sklearn_lrnn.datasets._systems import make_multiplication_problem
    >>> X, y = make_multiplication_problem(3, 20, random_state=0)
    >>> bool(((y >= 0) & (y <= 1)).all())
    True
    """
    return _marked_problem(n_samples, n_timesteps, random_state, np.multiply, marker_positions)
