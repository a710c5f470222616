"""Continuous-time equivalent of one linear region of a discrete PLRNN (Monfared & Durstewitz 2020)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm, logm

from ._maps import plrnn_map

__all__ = ["ContinuousTimeSystem", "continuous_time_equivalent"]


@dataclass
class ContinuousTimeSystem:
    """``dz/dt = L z + c`` whose flow over ``dt`` equals the region's map ``z -> W_D z + h``.

    Attributes
    ----------
    matrix : ndarray (M, M)      L = log(W_D) / dt (real logarithm).
    offset : ndarray (M,)        c = L (W_D - I)^{-1} h.
    pattern : ndarray (M,) bool  active units of the region (D).
    dt : float
    discrete_matrix : ndarray (M, M)   W_D = A + W diag(D).
    discrete_offset : ndarray (M,)     h.
    residual : float
        Max abs difference between integrating the ODE over ``dt`` (matrix exponential of the
        augmented system) and one step of the map, over a set of test states.
    """

    matrix: np.ndarray
    offset: np.ndarray
    pattern: np.ndarray
    dt: float
    discrete_matrix: np.ndarray
    discrete_offset: np.ndarray
    residual: float

    def flow(self, z0, t):
        """State at time ``t`` of the ODE from ``z0`` (exact, via the augmented matrix exponential)."""
        z0 = np.asarray(z0, dtype=float)
        M = self.matrix.shape[0]
        aug = np.zeros((M + 1, M + 1))
        aug[:M, :M], aug[:M, M] = self.matrix, self.offset
        E = expm(aug * float(t))
        return z0 @ E[:M, :M].T + E[:M, M]


def continuous_time_equivalent(A, W, h, region, dt=1.0, *, atol=1e-8):
    """Per-region ODE equivalent of the PLRNN map ``z' = A z + W relu(z) + h``.

    Inside region D (which units are positive) the map is ``z' = W_D z + h`` with
    ``W_D = A + W diag(D)``. If W_D has a real logarithm, ``dz/dt = L z + c`` with
    ``L = log(W_D) / dt`` and ``c = L (W_D - I)^{-1} h`` has exactly this map as its time-``dt`` flow.

    Parameters
    ----------
    A : array-like of shape (M,)
        Diagonal of the linear part.
    W : array-like of shape (M, M)
    h : array-like of shape (M,)
    region : array-like of shape (M,)
        The region: a bool (or 0/1 integer) activation pattern, or a float state whose pattern
        ``z > 0`` is used.
    dt : float, default=1.0
        Time step the discrete map represents.
    atol : float, default=1e-8
        Tolerance of the real-logarithm and integration checks.

    Returns
    -------
    ContinuousTimeSystem
        With ``residual``, the measured mismatch between the ODE flow over ``dt`` and the map.

    Raises
    ------
    ValueError
        If W_D is singular, has no real logarithm (a negative real eigenvalue of odd multiplicity),
        or ``W_D - I`` is singular (a unit eigenvalue: the offset is undefined).

    Examples
    --------
    >>> from sklearn_lrnn.dynamics import continuous_time_equivalent
    >>> ode = continuous_time_equivalent([0.9, 0.8], [[0.0, 0.1], [0.05, 0.0]], [0.1, 0.2], [True, True])
    >>> ode.residual < 1e-10
    True
    """
    pmap = plrnn_map(A, W, h)
    M = pmap.dim
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive number; got {dt!r}.")
    region = np.asarray(region)
    if region.shape != (M,):
        raise ValueError(f"region must have shape ({M},) (one entry per latent unit); got {region.shape}.")
    if region.dtype == bool or np.issubdtype(region.dtype, np.integer):
        pattern = region.astype(bool)
    else:
        if not np.all(np.isfinite(region)):
            raise ValueError("region contains NaN or infinite values.")
        pattern = region > 0
    WD, c = pmap.affine(pattern[None])
    WD, hD = WD[0], c[0]
    eig = np.linalg.eigvals(WD)
    if np.min(np.abs(eig)) < atol:
        raise ValueError("W_D is singular in this region: the map is not invertible, so no ODE flow "
                         "reproduces it.")
    if np.any((np.abs(eig.imag) < atol) & (eig.real < 0)):
        raise ValueError("W_D has a negative real eigenvalue in this region: it has no real matrix "
                         f"logarithm (eigenvalues {np.round(eig, 6)}); the discrete dynamics flip sign each "
                         "step, which no continuous flow can do.")
    if np.min(np.abs(eig - 1.0)) < atol:
        raise ValueError("W_D has an eigenvalue 1 in this region: (W_D - I) is singular and the "
                         "ODE offset c is undefined.")
    L = logm(WD)
    if np.iscomplexobj(L):
        if np.max(np.abs(L.imag)) > 1e-8 * max(1.0, np.max(np.abs(L))):
            raise ValueError("the matrix logarithm of W_D is not real in this region.")
        L = L.real
    L = L / dt
    offset = L @ np.linalg.solve(WD - np.eye(M), hD)
    sys_ = ContinuousTimeSystem(matrix=L, offset=offset, pattern=pattern, dt=float(dt), discrete_matrix=WD,
                                discrete_offset=hD, residual=np.nan)
    test = np.random.default_rng(0).normal(size=(8, M))
    sys_.residual = float(np.max(np.abs(sys_.flow(test, dt) - (test @ WD.T + hD))))
    return sys_
