"""Batched small dense linear algebra (closed forms for D <= 3, vectorised elimination above)."""

from __future__ import annotations

import numpy as np

__all__ = ["batched_solve"]


def batched_solve(A, b, *, rcond=1e-12):
    """Solve ``A[i] x[i] = b[i]`` for a stack of small systems.

    Parameters
    ----------
    A : ndarray of shape (n, D, D)
    b : ndarray of shape (n, D)
    rcond : float
        A system counts as singular when ``|det A| <= rcond * prod_i ||A_i||`` (row norms), i.e.
        when its rows are nearly dependent relative to their size.

    Returns
    -------
    x : ndarray of shape (n, D)
        Solutions (NaN for singular systems).
    ok : ndarray of shape (n,), bool
        False for singular systems.
    """
    n, D, _ = A.shape
    rows = np.linalg.norm(A, axis=2)
    scale = np.prod(rows, axis=1)
    if D == 1:
        det = A[:, 0, 0]
        ok = np.abs(det) > rcond * scale
        with np.errstate(divide="ignore", invalid="ignore"):
            x = b / np.where(ok, det, np.nan)[:, None]
        return x, ok
    if D == 2:
        a, bb, c, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 0], A[:, 1, 1]
        det = a * d - bb * c
        ok = np.abs(det) > rcond * scale
        inv = 1.0 / np.where(ok, det, np.nan)
        x0 = (d * b[:, 0] - bb * b[:, 1]) * inv
        x1 = (a * b[:, 1] - c * b[:, 0]) * inv
        return np.stack([x0, x1], axis=1), ok
    if D == 3:
        a0, a1, a2 = A[:, 0], A[:, 1], A[:, 2]
        c0 = np.cross(a1, a2)
        c1 = np.cross(a2, a0)
        c2 = np.cross(a0, a1)
        det = np.einsum("ij,ij->i", a0, c0)
        ok = np.abs(det) > rcond * scale
        inv = 1.0 / np.where(ok, det, np.nan)
        # x = A^{-1} b with A^{-1} = [c0 c1 c2] / det (columns are the cofactor rows).
        x = (c0 * b[:, 0:1] + c1 * b[:, 1:2] + c2 * b[:, 2:3]) * inv[:, None]
        return x, ok
    # Gaussian elimination with partial pivoting, vectorised over the batch.
    M = np.concatenate([A, b[:, :, None]], axis=2).copy()
    ok = np.ones(n, dtype=bool)
    idx = np.arange(n)
    logdet = np.zeros(n)
    for col in range(D):
        piv = col + np.argmax(np.abs(M[:, col:, col]), axis=1)
        if np.any(piv != col):
            r1 = M[idx, col].copy()
            M[idx, col] = M[idx, piv]
            M[idx, piv] = r1
        pv = M[:, col, col]
        logdet += np.log(np.abs(pv) + 1e-300)
        nz = pv != 0
        ok &= nz
        pv = np.where(nz, pv, 1.0)
        f = M[:, col + 1:, col] / pv[:, None]
        M[:, col + 1:, col:] -= f[:, :, None] * M[:, col:col + 1, col:]
    ok &= logdet > np.log(rcond) + np.log(scale + 1e-300)
    x = np.empty((n, D))
    for col in range(D - 1, -1, -1):
        s = M[:, col, D] - np.einsum("ij,ij->i", M[:, col, col + 1:D], x[:, col + 1:])
        piv = M[:, col, col]
        x[:, col] = s / np.where(piv != 0, piv, 1.0)
    x[~ok] = np.nan
    return x, ok
