"""Lyapunov exponents by QR (Benettin) iteration of Jacobian products along an orbit."""

from __future__ import annotations

import numpy as np

from ._maps import build_map

__all__ = ["lyapunov_spectrum", "max_lyapunov_exponent"]


def lyapunov_spectrum(model=None, *, n_steps=5000, burn_in=1000, z0=None, n_exponents=None, random_state=0,
                      **params):
    """Lyapunov spectrum of the noise-free map (exponents per time step, descending).

    Runs ``burn_in`` steps from ``z0``, then propagates an orthonormal frame with the Jacobians along
    the orbit, re-orthonormalising by QR every step and averaging ``log |diag R|``.

    Parameters
    ----------
    model : estimator or map, optional
        Fitted low-rank RNN / PLRNN, or a map object; else pass parameter arrays as keywords
        (``left, right, bias, decay, activation`` or ``A, W, h`` or ``A, W1, W2, h1, h2, clipped``).
    n_steps : int, default=5000
        Steps averaged after the burn-in.
    burn_in : int, default=1000
    z0 : array-like of shape (D,), optional
        Initial state; default a random normal state (seeded).
    n_exponents : int, optional
        Number of leading exponents (default: all D).
    random_state : int, default=0

    Returns
    -------
    ndarray of shape (n_exponents,)
        Exponents in nats per step; negative maximum = convergence to a stable fixed point or cycle,
        0 = marginal/limit cycle direction, positive = chaos.

    Examples
    --------
    >>> from sklearn_lrnn.dynamics import lyapunov_spectrum
    >>> lyapunov_spectrum(A=[0.5, 0.25], W=[[0.0, 0.0], [0.0, 0.0]], h=[0.0, 0.0]).round(3)
    array([-0.693, -1.386])
    """
    pmap = build_map(model, **params)
    D = pmap.dim
    k = D if n_exponents is None else int(n_exponents)
    if not 1 <= k <= D:
        raise ValueError(f"n_exponents must be between 1 and the state dimension {D}; got {n_exponents}.")
    if n_steps < 1 or burn_in < 0:
        raise ValueError(f"n_steps must be >= 1 and burn_in >= 0; got {n_steps}, {burn_in}.")
    rng = np.random.default_rng(random_state)
    z = rng.normal(size=(1, D)) if z0 is None else np.asarray(z0, dtype=float).reshape(1, D)
    if not np.all(np.isfinite(z)):
        raise ValueError("z0 contains NaN or infinite values.")
    for _ in range(burn_in):
        z = pmap.step(z)
    Q = np.linalg.qr(rng.normal(size=(D, k)))[0]
    acc = np.zeros(k)
    for _ in range(n_steps):
        J = pmap.jacobian(z)[0]
        z = pmap.step(z)
        if not np.all(np.isfinite(z)):
            raise ValueError("the orbit diverged (non-finite state); the map has no bounded attractor "
                             "from this initial state.")
        Q, R = np.linalg.qr(J @ Q)
        d = np.abs(np.diag(R))
        acc += np.log(np.maximum(d, 1e-300))
    return np.sort(acc / n_steps)[::-1]


def max_lyapunov_exponent(model=None, **kw):
    """Largest Lyapunov exponent (see :func:`lyapunov_spectrum`; same arguments).

    Examples
    --------
    >>> from sklearn_lrnn.dynamics import max_lyapunov_exponent
    >>> round(max_lyapunov_exponent(A=[0.5], W=[[0.0]], h=[1.0]), 4)
    -0.6931
    """
    kw.setdefault("n_exponents", 1)
    return float(lyapunov_spectrum(model, **kw)[0])
