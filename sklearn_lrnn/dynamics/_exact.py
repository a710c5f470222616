"""Exact fixed points of a piecewise-affine map by enumerating the cells of its arrangement."""

from __future__ import annotations

import warnings

import numpy as np

from ._arrangement import enumerate_cells
from ._linalg import batched_solve
from ._results import empty_fixed_points, fixed_points_from_solutions

__all__ = ["arrangement_fixed_points", "affine_fixed_points", "in_cell", "enumeration_offsets"]



def enumeration_offsets(G, g, rng):
    """Offsets shifted by a tiny random amount (relative 1e-9 of the arrangement's extent).

    Only the enumeration uses them: the shift makes the arrangement generic (no three lines through a
    point, no coincident planes) while every genuine cell keeps its activation pattern.
    """
    norms = np.linalg.norm(G, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    dist = np.abs(g) / safe
    # Shift relative to each plane's own distance: a far plane (tiny normal) does not blow up the
    # shift of the others, and every shift stays far above rounding at its own scale.
    extent = 1.0 + float(np.median(dist)) + dist
    return g + 1e-9 * extent * safe * rng.uniform(-1.0, 1.0, size=g.shape)


def fixed_point_solve(J0, c0, Y):
    """Solve ``(I - J0 - Y_J) z = c0 + Y_c`` for each row of payload sums ``Y`` (n, D*D + D)."""
    n = Y.shape[0]
    D = J0.shape[0]
    if D == 3:
        # Explicit cofactors on flat columns: avoids building (n, 3, 3) temporaries.
        M0 = np.eye(3) - J0
        a = [[M0[i, j] - Y[:, 3 * i + j] for j in range(3)] for i in range(3)]
        b = [c0[i] + Y[:, 9 + i] for i in range(3)]
        c00 = a[1][1] * a[2][2] - a[1][2] * a[2][1]
        c01 = a[1][2] * a[2][0] - a[1][0] * a[2][2]
        c02 = a[1][0] * a[2][1] - a[1][1] * a[2][0]
        det = a[0][0] * c00 + a[0][1] * c01 + a[0][2] * c02
        scale = np.sqrt((a[0][0] ** 2 + a[0][1] ** 2 + a[0][2] ** 2) * (a[1][0] ** 2 + a[1][1] ** 2 + a[1][2] ** 2)
                        * (a[2][0] ** 2 + a[2][1] ** 2 + a[2][2] ** 2))
        ok = np.abs(det) > 1e-12 * scale
        inv = 1.0 / np.where(ok, det, np.nan)
        z = np.empty((n, 3))
        z[:, 0] = (c00 * b[0] + (a[0][2] * a[2][1] - a[0][1] * a[2][2]) * b[1]
                   + (a[0][1] * a[1][2] - a[0][2] * a[1][1]) * b[2]) * inv
        z[:, 1] = (c01 * b[0] + (a[0][0] * a[2][2] - a[0][2] * a[2][0]) * b[1]
                   + (a[0][2] * a[1][0] - a[0][0] * a[1][2]) * b[2]) * inv
        z[:, 2] = (c02 * b[0] + (a[0][1] * a[2][0] - a[0][0] * a[2][1]) * b[1]
                   + (a[0][0] * a[1][1] - a[0][1] * a[1][0]) * b[2]) * inv
        return z, ok
    if D == 4:
        M0 = np.eye(4) - J0
        a = [[M0[i, j] - Y[:, 4 * i + j] for j in range(4)] for i in range(4)]
        b = [c0[i] + Y[:, 16 + i] for i in range(4)]
        return _solve4(a, b)
    Amat = (np.eye(D) - J0) - Y[:, : D * D].reshape(n, D, D)
    return batched_solve(Amat, c0 + Y[:, D * D:])


def _solve4(a, b):
    """4 x 4 solve by the adjugate built from 2 x 2 minors (Laplace expansion), on flat columns."""
    s0 = a[0][0] * a[1][1] - a[1][0] * a[0][1]
    s1 = a[0][0] * a[1][2] - a[1][0] * a[0][2]
    s2 = a[0][0] * a[1][3] - a[1][0] * a[0][3]
    s3 = a[0][1] * a[1][2] - a[1][1] * a[0][2]
    s4 = a[0][1] * a[1][3] - a[1][1] * a[0][3]
    s5 = a[0][2] * a[1][3] - a[1][2] * a[0][3]
    c5 = a[2][2] * a[3][3] - a[3][2] * a[2][3]
    c4 = a[2][1] * a[3][3] - a[3][1] * a[2][3]
    c3 = a[2][1] * a[3][2] - a[3][1] * a[2][2]
    c2 = a[2][0] * a[3][3] - a[3][0] * a[2][3]
    c1 = a[2][0] * a[3][2] - a[3][0] * a[2][2]
    c0 = a[2][0] * a[3][1] - a[3][0] * a[2][1]
    det = s0 * c5 - s1 * c4 + s2 * c3 + s3 * c2 - s4 * c1 + s5 * c0
    scale = np.sqrt(np.prod([sum(a[i][j] ** 2 for j in range(4)) for i in range(4)], axis=0))
    ok = np.abs(det) > 1e-12 * scale
    inv = 1.0 / np.where(ok, det, np.nan)
    adj = [
        [a[1][1] * c5 - a[1][2] * c4 + a[1][3] * c3, -a[0][1] * c5 + a[0][2] * c4 - a[0][3] * c3,
         a[3][1] * s5 - a[3][2] * s4 + a[3][3] * s3, -a[2][1] * s5 + a[2][2] * s4 - a[2][3] * s3],
        [-a[1][0] * c5 + a[1][2] * c2 - a[1][3] * c1, a[0][0] * c5 - a[0][2] * c2 + a[0][3] * c1,
         -a[3][0] * s5 + a[3][2] * s2 - a[3][3] * s1, a[2][0] * s5 - a[2][2] * s2 + a[2][3] * s1],
        [a[1][0] * c4 - a[1][1] * c2 + a[1][3] * c0, -a[0][0] * c4 + a[0][1] * c2 - a[0][3] * c0,
         a[3][0] * s4 - a[3][1] * s2 + a[3][3] * s0, -a[2][0] * s4 + a[2][1] * s2 - a[2][3] * s0],
        [-a[1][0] * c3 + a[1][1] * c1 - a[1][2] * c0, a[0][0] * c3 - a[0][1] * c1 + a[0][2] * c0,
         -a[3][0] * s3 + a[3][1] * s1 - a[3][2] * s0, a[2][0] * s3 - a[2][1] * s1 + a[2][2] * s0],
    ]
    z = np.empty((len(det), 4))
    for i in range(4):
        z[:, i] = (adj[i][0] * b[0] + adj[i][1] * b[1] + adj[i][2] * b[2] + adj[i][3] * b[3]) * inv
    return z, ok


def in_cell(G, g, g_enum, norms, Z, cells, *, rtol=1e-9, perm=None):
    """Whether each candidate ``Z[i]`` lies in the closure of the cell above vertex ``V[i]``.

    The cell's side of hyperplane j is ``sigma`` for the hyperplanes through the vertex (``T``) and the
    side of ``V[i]`` (shifted offsets ``g_enum``) for all others; ``Z`` is tested with the true offsets
    ``g`` and a tolerance ``rtol * (||G_j|| (1 + ||z||) + |g_j|)``. Hyperplanes are tested in random
    blocks, dropping rejected candidates early: a wrong candidate usually fails in the first block.
    """
    n, D = Z.shape
    T, sigma = cells.T, cells.sigma
    alive = np.arange(n)
    zn = 1.0 + np.abs(Z).max(axis=1)
    for j in range(T.shape[1]):
        idx = T[:, j]
        used = idx >= 0
        ii = np.where(used, idx, 0)
        val = np.einsum("id,id->i", G[ii], Z) + g[ii]
        tol = rtol * (norms[ii] * zn + np.abs(g[ii]))
        good = np.where(sigma[:, j] > 0, val >= -tol, val <= tol) | ~used
        alive = alive[good[alive]]
    K = G.shape[0]
    order = np.arange(K) if perm is None else perm
    V = np.zeros((n, D))
    if alive.size:
        V[alive] = cells.vertices(alive)
    start, width = 0, 8
    while start < K and alive.size:
        # Growing blocks: the first few planes reject almost every wrong candidate.
        blk = order[start:start + width]
        start += width
        width = min(4 * width, 256)
        Za, Va, Ta = Z[alive], V[alive], T[alive]
        val = Za @ G[blk].T + g[blk]
        ref = Va @ G[blk].T + g_enum[blk] > 0
        tol = rtol * (norms[blk][None, :] * zn[alive][:, None] + np.abs(g[blk])[None, :])
        ok = np.where(ref, val >= -tol, val <= tol)
        ok |= (Ta[:, :, None] == blk[None, None, :]).any(axis=1)
        alive = alive[ok.all(axis=1)]
    mask = np.zeros(n, dtype=bool)
    mask[alive] = True
    return mask


def cell_patterns(G, g_enum, V, T, sigma):
    """Activation pattern (n, K) of the cells above vertices V (through-vertex planes from sigma)."""
    S = V @ G.T + g_enum > 0
    for j in range(T.shape[1]):
        used = T[:, j] >= 0
        S[np.flatnonzero(used), T[used, j]] = sigma[used, j] > 0
    return S


def arrangement_fixed_points(pmap, *, chunk_size=1 << 18, rtol=1e-9, random_state=0, method="arrangement"):
    """Every fixed point of ``pmap`` (a :class:`PiecewiseAffineMap`), exactly.

    Enumerates the cells of the hyperplane arrangement (see ``_arrangement``), solves
    ``(I - J) z = c`` for each in batches, and keeps the solutions lying in their own cell.
    """
    G, g = pmap.G, pmap.g
    K, D = G.shape
    if K == 0:
        return affine_fixed_points(pmap, method=method)
    rng = np.random.default_rng(random_state)
    norms = np.linalg.norm(G, axis=1)
    g_enum = enumeration_offsets(G, g, rng)
    perm = rng.permutation(K)
    Y = pmap.payload()
    n_cells = n_singular = 0
    found_z, found_J, found_pat = [], [], []
    for batch in enumerate_cells(G, g_enum, Y, rng=rng, max_entries=chunk_size):
        n = len(batch)
        n_cells += n
        z, ok = fixed_point_solve(pmap.J0, pmap.c0, batch.Y)
        n_singular += int(n - ok.sum())
        keep = np.flatnonzero(ok)
        if pmap.bound is not None and keep.size:
            # Bounded activation: a fixed point must lie in the known box (cheap rejection).
            zk = z[keep]
            slack = 1e-9 * (1.0 + np.abs(pmap.bound).max())
            inside = np.all((zk >= pmap.bound[:, 0] - slack) & (zk <= pmap.bound[:, 1] + slack), axis=1)
            keep = keep[inside]
        if keep.size == 0:
            continue
        good = in_cell(G, g, g_enum, norms, z[keep], batch.take(keep), rtol=rtol, perm=perm)
        keep = keep[good]
        if keep.size == 0:
            continue
        # The same point is found from every cell whose closure holds it: collapse within the chunk.
        _, first = np.unique(np.round(z[keep], 7), axis=0, return_index=True)
        keep = keep[np.sort(first)]
        found_z.append(z[keep])
        found_J.append(pmap.J0 + batch.Y[keep, : D * D].reshape(-1, D, D))
        found_pat.append(cell_patterns(G, g_enum, batch.vertices(keep), batch.T[keep], batch.sigma[keep]))
    if n_singular:
        # e.g. manifold-attractor units (A = 1, W row = 0, h = 0): a continuum of fixed points
        # (line or plane attractor) cannot be listed as isolated points.
        warnings.warn(f"{n_singular} of {n_cells} linear regions have a singular I - J (an eigenvalue 1); "
                      "any continuum of fixed points they hold (line/plane attractor) is not listed.",
                      RuntimeWarning, stacklevel=3)
    if not found_z:
        return empty_fixed_points(D, K, exact=True, method=method, n_cells=n_cells, n_solves=n_cells,
                                  n_singular=n_singular)
    return fixed_points_from_solutions(np.concatenate(found_z), np.concatenate(found_J),
                                       patterns=np.concatenate(found_pat), exact=True, n_cells=n_cells,
                                       n_solves=n_cells, method=method, n_singular=n_singular)


def affine_fixed_points(pmap, *, method="arrangement", rtol=1e-10):
    """The fixed point of a map without hyperplanes (an affine map ``z' = J0 z + c0``, e.g. a linear
    low-rank RNN): the solution of ``(I - J0) z = c0``, or none listed where ``I - J0`` is singular.

    A singular ``I - J0`` (an eigenvalue 1) means a continuum of fixed points (a line or plane
    attractor) when ``c0`` lies in the range of ``I - J0``, and no fixed point otherwise; either way no
    isolated point is listed, ``n_singular`` is 1 and a warning says which of the two it is.
    """
    D = pmap.dim
    M = np.eye(D) - pmap.J0
    svals = np.linalg.svd(M, compute_uv=False)
    if svals[-1] <= rtol * max(svals[0], 1.0):
        z, *_ = np.linalg.lstsq(M, pmap.c0, rcond=rtol)
        consistent = np.linalg.norm(M @ z - pmap.c0) <= 1e-8 * (1.0 + np.linalg.norm(pmap.c0))
        n_null = int(np.sum(svals <= rtol * max(svals[0], 1.0)))
        what = (f"a {n_null}-dimensional continuum of fixed points (through {np.round(z, 6).tolist()})" if consistent
                else "no fixed point (the offset is outside the range of I - J)")
        warnings.warn(f"the affine map has a singular I - J (an eigenvalue 1): {what}; no isolated fixed point "
                      "is listed.", RuntimeWarning, stacklevel=3)
        return empty_fixed_points(D, 0, exact=True, method=method, n_cells=1, n_solves=1, n_singular=1)
    z = np.linalg.solve(M, pmap.c0)[None, :]
    return fixed_points_from_solutions(z, pmap.J0[None], patterns=np.zeros((1, 0), dtype=bool), exact=True,
                                       n_cells=1, n_solves=1, method=method)


def region_patterns(pmap, *, max_cells=100_000, random_state=0, chunk_size=1 << 18):
    """Activation patterns (n_cells, K) of every cell of the map's arrangement (for exhaustive cycles)."""
    from ._arrangement import count_cells_bound

    G, g = pmap.G, pmap.g
    K, D = G.shape
    if K == 0:  # an affine map: the whole space is one region
        return np.zeros((1, 0), dtype=bool)
    if count_cells_bound(K, D) > max_cells:
        raise ValueError(f"the arrangement may have up to {count_cells_bound(K, D)} cells (> max_cells="
                         f"{max_cells}); use method='scyfi' or raise max_cells.")
    rng = np.random.default_rng(random_state)
    g_enum = enumeration_offsets(G, g, rng)
    out = [cell_patterns(G, g_enum, b.vertices(), b.T, b.sigma)
           for b in enumerate_cells(G, g_enum, pmap.payload(), rng=rng, max_entries=chunk_size)]
    return np.unique(np.concatenate(out), axis=0)
