"""SCYFI (Eisenmann et al. 2023): heuristic search for fixed points and k-cycles of piecewise-affine maps.

Start from a random region, solve its affine fixed-point (or k-cycle) equation, and jump to the
region(s) where the candidate actually lies; a candidate that lies in its own region(s) is a true
fixed point (cycle). Many such chains run at once (vectorised); the search stops at a solve budget.
"""

from __future__ import annotations

import numpy as np

from ._linalg import batched_solve
from ._results import Cycles, classify, deduplicate, empty_fixed_points, fixed_points_from_solutions

__all__ = ["scyfi_fixed_points", "scyfi_cycles", "cycle_from_sequences", "canonical_cycles"]


def _start_states(pmap, n, rng, scale):
    """Random states around the arrangement (uniform in a box of the given scale)."""
    if pmap.bound is not None:
        lo, hi = pmap.bound[:, 0], pmap.bound[:, 1]
        return lo + (hi - lo) * rng.uniform(size=(n, pmap.dim))
    return rng.normal(scale=scale, size=(n, pmap.dim))


def _state_scale(pmap):
    norms = np.linalg.norm(pmap.G, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return 1.0 + 2.0 * float(np.median(np.abs(pmap.g) / safe))


def scyfi_fixed_points(pmap, *, max_solves=10_000, n_chains=64, max_iter=50, random_state=0, tol=1e-9):
    """Fixed points of a :class:`PiecewiseAffineMap` by the SCYFI heuristic.

    Parameters
    ----------
    pmap : PiecewiseAffineMap
    max_solves : int, default=10000
        Budget of linear solves (one per chain and iteration).
    n_chains : int, default=64
        Chains run in parallel; a chain restarts from a new random region when it finds a point,
        revisits a region, hits a singular system or runs ``max_iter`` jumps.
    max_iter : int, default=50
        Jumps per chain before a restart.
    random_state : int, default=0
    tol : float, default=1e-9
        Relative tolerance of the self-consistency test.

    Returns
    -------
    FixedPoints
        ``exact=False``; ``n_solves`` is the budget used.
    """
    rng = np.random.default_rng(random_state)
    D, K = pmap.dim, pmap.n_planes
    scale = _state_scale(pmap)
    norms = np.linalg.norm(pmap.G, axis=1)
    eye = np.eye(D)
    pats = pmap.patterns(_start_states(pmap, n_chains, rng, scale))
    age = np.zeros(n_chains, dtype=int)
    found, found_J = [], []
    n_solves = 0
    while n_solves < max_solves:
        n_now = min(n_chains, max_solves - n_solves)
        P = pats[:n_now]
        J, c = pmap.affine(P)
        z, ok = batched_solve(eye - J, c)
        n_solves += n_now
        zz = np.where(ok[:, None], z, 0.0)
        val = zz @ pmap.G.T + pmap.g
        tl = tol * (norms[None, :] * (1 + np.abs(zz).max(1))[:, None] + np.abs(pmap.g)[None, :])
        consistent = ok & np.all(np.where(P, val >= -tl, val <= tl), axis=1)
        if consistent.any():
            found.append(z[consistent])
            found_J.append(J[consistent])
        newp = val > 0
        age[:n_now] += 1
        restart = ~ok | consistent | (age[:n_now] >= max_iter) | np.all(newp == P, axis=1)
        pats[:n_now] = np.where(restart[:, None], False, newp)
        if restart.any():
            idx = np.flatnonzero(restart)
            pats[idx] = pmap.patterns(_start_states(pmap, idx.size, rng, scale))
            age[idx] = 0
    if not found:
        return empty_fixed_points(D, K, exact=False, method="scyfi", n_solves=n_solves)
    Z = np.concatenate(found)
    return fixed_points_from_solutions(Z, np.concatenate(found_J), patterns=pmap.patterns(Z), exact=False,
                                       n_cells=n_solves, n_solves=n_solves, method="scyfi")


def cycle_from_sequences(pmap, P, *, tol=1e-9):
    """Solve the k-cycle equation for region sequences ``P`` (n, k, K); check consistency.

    With z_{i+1} = J_i z_i + c_i, the first state solves (I - J_k...J_1) z_1 = sum_j J_k...J_{j+1} c_j.

    Returns
    -------
    orbits : (n, k, D) states along each candidate cycle (NaN where singular)
    prods : (n, D, D) Jacobian products J_k ... J_1
    consistent : (n,) bool, every state lies in its region
    actual : (n, k, K) the regions the states actually lie in
    """
    n, k, K = P.shape
    D = pmap.dim
    J, c = pmap.affine(P.reshape(n * k, K))
    J, c = J.reshape(n, k, D, D), c.reshape(n, k, D)
    prod = np.broadcast_to(np.eye(D), (n, D, D)).copy()
    off = np.zeros((n, D))
    for i in range(k):
        prod = J[:, i] @ prod
        off = np.einsum("nij,nj->ni", J[:, i], off) + c[:, i]
    z1, ok = batched_solve(np.eye(D) - prod, off)
    orbit = np.empty((n, k, D))
    z = np.where(ok[:, None], z1, 0.0)
    for i in range(k):
        orbit[:, i] = z
        z = np.einsum("nij,nj->ni", J[:, i], z) + c[:, i]
    norms = np.linalg.norm(pmap.G, axis=1)
    val = orbit @ pmap.G.T + pmap.g
    tl = tol * (norms * (1 + np.abs(orbit).max(axis=2, keepdims=True)) + np.abs(pmap.g))
    consistent = ok & np.all(np.where(P, val >= -tl, val <= tl), axis=(1, 2))
    orbit[~ok] = np.nan
    return orbit, prod, consistent, val > 0


def canonical_cycles(orbits, prods, order, *, rtol=1e-7):
    """Keep cycles of minimal period ``order``, rotated to start at their smallest state, deduplicated."""
    keep_o, keep_p = [], []
    for orb, pr in zip(orbits, prods):
        scale = 1e-9 + rtol * (1.0 + np.abs(orb).max())
        # Minimal period: a cycle of a proper divisor p of k repeats after p steps.
        if any(np.abs(orb[p] - orb[0]).max() <= scale for p in range(1, order) if order % p == 0):
            continue
        start = np.lexsort(orb.T[::-1])[0]
        keep_o.append(np.roll(orb, -start, axis=0))
        keep_p.append(pr)
    if not keep_o:
        return np.zeros((0, order, orbits.shape[2])), np.zeros((0, orbits.shape[2], orbits.shape[2]))
    O, Pr = np.stack(keep_o), np.stack(keep_p)
    first = deduplicate(O.reshape(len(O), -1), rtol=rtol)
    return O[first], Pr[first]


def _make_cycles(orbits, prods, order, exact, n_solves, method):
    D = orbits.shape[2]
    if len(orbits) == 0:
        return Cycles(order=order, orbits=orbits, multipliers=np.zeros((0, D), complex),
                      stability=np.zeros(0, dtype=object), spiral=np.zeros(0, dtype=bool), exact=exact,
                      n_solves=n_solves, method=method)
    mult = np.linalg.eigvals(prods)
    mult = mult[np.arange(len(mult))[:, None], np.argsort(-np.abs(mult), axis=1, kind="stable")]
    stability, spiral = classify(mult)
    return Cycles(order=order, orbits=orbits, multipliers=mult, stability=stability, spiral=spiral,
                  exact=exact, n_solves=n_solves, method=method)


def scyfi_cycles(pmap, order, *, max_solves=10_000, n_chains=64, max_iter=50, random_state=0, tol=1e-9):
    """k-cycles of a :class:`PiecewiseAffineMap` by SCYFI (``exact=False``).

    Each chain holds a sequence of k regions (initially those visited by k steps of the map from a
    random state), solves the k-cycle equation and jumps to the sequence its candidate orbit visits.
    """
    if order < 1:
        raise ValueError(f"order must be a positive integer; got {order}.")
    rng = np.random.default_rng(random_state)
    D, K = pmap.dim, pmap.n_planes
    scale = _state_scale(pmap)

    def fresh(m):
        z = _start_states(pmap, m, rng, scale)
        for _ in range(int(rng.integers(0, 20))):  # a short transient lands nearer the attractors
            z = pmap.step(z)
        seq = np.empty((m, order, K), dtype=bool)
        for i in range(order):
            seq[:, i] = pmap.patterns(z)
            z = pmap.step(z)
        return seq

    seqs = fresh(n_chains)
    age = np.zeros(n_chains, dtype=int)
    found_o, found_p = [], []
    n_solves = 0
    while n_solves < max_solves:
        n_now = min(n_chains, max(1, (max_solves - n_solves) // order))
        orbit, prod, consistent, actual = cycle_from_sequences(pmap, seqs[:n_now], tol=tol)
        n_solves += n_now * order
        if consistent.any():
            found_o.append(orbit[consistent])
            found_p.append(prod[consistent])
        age[:n_now] += 1
        bad = ~np.all(np.isfinite(orbit), axis=(1, 2))
        restart = bad | consistent | (age[:n_now] >= max_iter) | np.all(actual == seqs[:n_now], axis=(1, 2))
        seqs[:n_now] = np.where(restart[:, None, None], seqs[:n_now], actual)
        if restart.any():
            idx = np.flatnonzero(restart)
            seqs[idx] = fresh(idx.size)
            age[idx] = 0
    if found_o:
        O, Pr = canonical_cycles(np.concatenate(found_o), np.concatenate(found_p), order)
    else:
        O, Pr = np.zeros((0, order, D)), np.zeros((0, D, D))
    return _make_cycles(O, Pr, order, False, n_solves, "scyfi")


def exact_cycles(pmap, order, region_patterns, *, tol=1e-9, chunk=4096):
    """k-cycles by solving every sequence of k regions from ``region_patterns`` (n_regions, K)."""
    n_reg, K = region_patterns.shape
    D = pmap.dim
    total = n_reg ** order
    found_o, found_p = [], []
    for start in range(0, total, chunk):
        idx = np.arange(start, min(start + chunk, total))
        digits = np.empty((idx.size, order), dtype=np.int64)
        rest = idx.copy()
        for i in range(order):
            digits[:, i] = rest % n_reg
            rest //= n_reg
        orbit, prod, consistent, _ = cycle_from_sequences(pmap, region_patterns[digits], tol=tol)
        if consistent.any():
            found_o.append(orbit[consistent])
            found_p.append(prod[consistent])
    if found_o:
        O, Pr = canonical_cycles(np.concatenate(found_o), np.concatenate(found_p), order)
    else:
        O, Pr = np.zeros((0, order, D)), np.zeros((0, D, D))
    return _make_cycles(O, Pr, order, True, total * order, "exhaustive")
