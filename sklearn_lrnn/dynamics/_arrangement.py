"""Cells of a hyperplane arrangement in R^D, enumerated through vertices and line sweeps.

Counting argument (why every cell is produced exactly once). Take a generic direction d.

* A cell on which the height d.z is bounded below attains its minimum at a unique vertex v; near v it
  is the cone {sigma_j (G_j (z - v)) > 0, j in T} of the D hyperplanes T through v, with
  sigma = sign(G_T^{-T} d) (the only one of the 2^D cones around v lying above v).
* A cell unbounded below meets the plane P = {d.z = t0} for t0 below every vertex, in exactly one cell
  of the (D-1)-dimensional arrangement restricted to P: recurse.

So the cells are "the cell above each vertex" at each level, sum_{i<=D} C(K, i) for a simple
arrangement (Zaslavsky), without any deduplication.

Vertices are visited by line sweeps: each vertex T = S + {k} (indices sorted, k the largest) is
found on the line of its first D-1 hyperplanes S. Along that line the activation pattern changes by
one hyperplane at each crossing, so after sorting the crossings a cumulative sum of the per-hyperplane
payloads (rank-1 Jacobian pieces) gives every region's (J, c) with O(D^2) work per vertex instead of
O(K D^2).

Degenerate arrangements (parallel or coincident hyperplanes, more than D through a point) are made
generic by a tiny random shift of the offsets used for enumeration only: every cell of the original
arrangement keeps its activation pattern in the shifted one, and the few extra patterns the shift
creates are rejected by the consistency check, which uses the original offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import null_space

__all__ = ["CellBatch", "enumerate_cells", "count_cells_bound", "combinations_chunks"]


@dataclass
class CellBatch:
    """A chunk of cells, each the cell just above one vertex (top-level coordinates).

    Y : (n, P) summed payload of the active hyperplanes (the region's J and c minus the shared part)
    T : (n, D) indices of the hyperplanes through the vertex (-1 = unused slot)
    sigma : (n, D) side (+1 / -1) of those hyperplanes on which the cell lies (0 = unused)
    Vertices are computed on demand (:meth:`vertices`): most cells are rejected before they are needed.
    """

    Y: np.ndarray
    T: np.ndarray
    sigma: np.ndarray
    line: np.ndarray
    height: np.ndarray
    p: np.ndarray
    u: np.ndarray
    o: np.ndarray
    E: np.ndarray

    def __len__(self):
        return self.Y.shape[0]

    def vertices(self, idx=None):
        """Reference vertex (lowest point of the cell; for level-0 cells a point inside), (n, D)."""
        li = self.line if idx is None else self.line[idx]
        tv = self.height if idx is None else self.height[idx]
        v = self.p[li] + tv[:, None] * self.u[li]
        return self.o + v @ self.E.T

    def take(self, idx):
        """Rows ``idx`` as their own batch (vertices still lazy)."""
        return CellBatch(Y=self.Y[idx], T=self.T[idx], sigma=self.sigma[idx], line=self.line[idx],
                         height=self.height[idx], p=self.p, u=self.u, o=self.o, E=self.E)


def combinations_chunks(idx, r, max_rows):
    """All r-subsets of ``idx`` (sorted ascending within a row) in chunks of at most ``max_rows`` rows."""
    for arr in _combinations_raw(idx, r, max_rows):
        for s in range(0, len(arr), max_rows):
            yield arr[s:s + max_rows]


def _combinations_raw(idx, r, max_rows):
    idx = np.asarray(idx, dtype=np.int64)
    n = len(idx)
    if r == 0:
        yield np.zeros((1, 0), dtype=np.int64)
        return
    if n < r:
        return
    if r == 1:
        for s in range(0, n, max_rows):
            yield idx[s:s + max_rows, None]
        return
    buf, size = [], 0
    if r == 2:
        for i in range(n - 1):
            rest = idx[i + 1:]
            buf.append(np.stack([np.full(len(rest), idx[i]), rest], axis=1))
            size += len(rest)
            if size >= max_rows:
                yield np.concatenate(buf)
                buf, size = [], 0
    else:
        for i in range(n - r + 1):
            for sub in _combinations_raw(idx[i + 1:], r - 1, max_rows):
                buf.append(np.concatenate([np.full((len(sub), 1), idx[i]), sub], axis=1))
                size += len(sub)
                if size >= max_rows:
                    yield np.concatenate(buf)
                    buf, size = [], 0
    if buf:
        yield np.concatenate(buf)


def count_cells_bound(n_planes, dim):
    """Zaslavsky bound sum_{i<=dim} C(n_planes, i) on the number of cells."""
    from math import comb
    return sum(comb(n_planes, i) for i in range(dim + 1))


def _line_sets(valid, r, max_lines):
    """Chunks of lines (r-subsets of hyperplanes) whose sweeps reach every vertex exactly once.

    Yields ``(S, rule)``: the lines and which crossing planes k make vertices assigned to them
    (``rule(S, k) -> (L, K) bool``). Sweeping every r-subset wastes a factor D (each vertex lies on D
    lines); covering designs from partitions of the planes by index cut the number of lines:

    * r = 2 (3-D levels): pairs within one parity class; every triple holds such a pair
      (pigeonhole): about K^2/4 lines instead of K^2/2.
    * r = 3 (4-D levels), three classes by index mod 3 (Turan's construction): triples inside one
      class, or two in class p and one in class p + 1. Every 4-set contains one; the rules below pick
      one canonical line per 4-set: 4/9 of the C(K, 3) lines.
    """
    def later(S, ar):
        top = S.max(axis=1) if S.shape[1] else np.full(S.shape[0], -1)
        return ar[None, :] > top[:, None]

    if r == 2 and len(valid) >= 6:
        def same_pair(S, ar):
            return later(S, ar) | ((ar[None, :] % 2) != (S[:, :1] % 2))
        for part in (valid[valid % 2 == 0], valid[valid % 2 == 1]):
            for S in combinations_chunks(part, 2, max_lines):
                yield S, same_pair
        return
    if r == 3 and len(valid) >= 12:
        parts = [valid[valid % 3 == p] for p in range(3)]

        def inside(S, ar):  # 4 in one class -> 3 smallest; 3 + 1 -> the 3 of one class
            return later(S, ar) | ((ar[None, :] % 3) != (S[:, :1] % 3))

        def mixed(S, ar):  # S = (x, y) in class p, w in class p + 1
            p = S[:, :1] % 3
            cls = ar[None, :] % 3
            return (cls == (p + 2) % 3) | ((cls == (p + 1) % 3) & (ar[None, :] > S[:, 2:3]))

        for part in parts:
            for S in combinations_chunks(part, 3, max_lines):
                yield S, inside
        for p in range(3):
            single = parts[(p + 1) % 3]
            if len(single) == 0:
                continue
            for pairs in combinations_chunks(parts[p], 2, max(1, max_lines // len(single))):
                S = np.concatenate([np.repeat(pairs, len(single), axis=0),
                                    np.tile(single, len(pairs))[:, None]], axis=1)
                yield S, mixed
        return
    for S in combinations_chunks(valid, r, max_lines):
        yield S, later


def _level_cells(Gl, gl, Y, o, E, D, rng, max_entries, norms):
    """Yield the cells above every vertex at this level, then recurse below the lowest vertex."""
    K, dl = Gl.shape
    if dl == 0:
        # A single point: one cell, the pattern is the sign of each hyperplane there.
        s = (gl > 0).astype(np.float64)
        T = np.full((1, D), -1, dtype=np.int64)
        yield CellBatch(Y=(s @ Y)[None, :], T=T, sigma=np.zeros((1, D), np.int8), line=np.zeros(1, np.int64),
                        height=np.zeros(1), p=np.zeros((1, 0)), u=np.zeros((1, 0)), o=o, E=E)
        return
    d = rng.standard_normal(dl)
    d /= np.linalg.norm(d)
    lnorm = np.linalg.norm(Gl, axis=1)
    # Hyperplanes whose normal vanishes at this level have a constant side; they never cross a line.
    valid = np.flatnonzero(lnorm > 1e-12 * np.maximum(norms, 1e-300))
    r = dl - 1
    ar = np.arange(K)
    max_lines = max(1, max_entries // max(K, 1))
    min_height = np.inf
    P = Y.shape[1]
    Ysigned = np.concatenate([Y, -Y, np.zeros((1, P))])
    for S, rule in _line_sets(valid, r, max_lines):
        L = S.shape[0]
        Mx = np.concatenate([Gl[S], np.broadcast_to(d, (L, 1, dl))], axis=1)
        if dl > 1:
            det = np.linalg.det(Mx)
            scale = np.prod(lnorm[S], axis=1)
            ok = np.abs(det) > 1e-12 * scale  # dependent normals: no line (offsets are generic)
            if not ok.all():
                S, Mx = S[ok], Mx[ok]
                L = S.shape[0]
                if L == 0:
                    continue
        Lam = np.linalg.inv(Mx)
        u = Lam[:, :, -1]  # G_S u = 0, d.u = 1: parameter along the line = height
        p = -np.einsum("ldr,lr->ld", Lam[:, :, :r], gl[S])  # point of the line at height 0
        b = u @ Gl.T
        a = p @ Gl.T + gl
        unorm = np.linalg.norm(u, axis=1)
        b[np.abs(b) <= 1e-11 * lnorm[None, :] * unorm[:, None]] = 0.0  # parallel to the line
        rows = np.repeat(np.arange(L), r)
        b[rows, S.ravel()] = 0.0
        a[rows, S.ravel()] = 0.0
        b[:, np.setdiff1d(ar, valid)] = 0.0
        cross = b != 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(cross, -a / np.where(cross, b, 1.0), np.inf)
        s0 = np.where(cross, b < 0, a > 0).astype(np.float64)
        base = s0 @ Y
        order = np.argsort(t, axis=1)
        # Signed payload by row index: crossing upwards adds Y_k (b > 0), downwards removes it.
        code = np.where(b > 0, ar, np.where(b < 0, ar + K, 2 * K))
        cum = np.cumsum(Ysigned[np.take_along_axis(code, order, axis=1)], axis=1)
        pos = np.empty_like(order)
        np.put_along_axis(pos, order, np.broadcast_to(ar, order.shape), axis=1)
        li, ki = np.nonzero(cross & rule(S, ar))
        if li.size == 0:
            continue
        bk = b[li, ki]
        sig_k = np.sign(bk).astype(np.int8)
        T = np.empty((li.size, D), dtype=np.int64)
        T[:, r] = ki
        T[:, r + 1:] = -1
        sig = np.zeros((li.size, D), np.int8)
        sig[:, r] = sig_k
        flat = li * K + pos[li, ki]
        if r > 0:
            # Side of the line's own planes: sign of (G_T^{-T} d)_S, from the inverse of [G_S; d].
            # One GEMM for all (line, plane) pairs, then flat gathers (faster than fancy 2-D indexing).
            GLr = Gl @ Lam[:, :, :r].transpose(1, 0, 2).reshape(dl, L * r)
            GLr = GLr.reshape(-1)
            base_idx = ki * (L * r) + li * r
            sig_S = np.empty((li.size, r), np.int8)
            for j in range(r):
                sig_S[:, j] = np.sign(-GLr[base_idx + j] / bk)
            T[:, :r] = S[li]
            sig[:, :r] = sig_S
            # The 2^r possible contributions of the line's planes, added to each line's base once.
            bits = (np.arange(1 << r)[:, None] >> np.arange(r)[None, :]) & 1
            baseS = base[:, None, :] + np.einsum("cj,ljp->lcp", bits.astype(np.float64), Y[S])
            combo = ((sig_S > 0).astype(np.int64) << np.arange(r)).sum(axis=1)
            Yc = np.take(baseS.reshape(-1, P), li * (1 << r) + combo, axis=0)
        else:
            Yc = np.take(base, li, axis=0)
        Yc += np.take(cum.reshape(-1, P), flat, axis=0)
        tv = t[li, ki]
        min_height = min(min_height, float(tv.min()))
        del cum
        yield CellBatch(Y=Yc, T=T, sigma=sig, line=li, height=tv, p=p, u=u, o=o, E=E)
    # Cells unbounded below: those of the arrangement restricted to a plane below every vertex.
    t0 = 0.0 if not np.isfinite(min_height) else min_height - 1.0 - abs(min_height)
    z0 = t0 * d
    Q = null_space(d[None, :]) if dl > 1 else np.zeros((1, 0))
    yield from _level_cells(Gl @ Q, Gl @ z0 + gl, Y, o + E @ z0, E @ Q, D, rng, max_entries, norms)


def enumerate_cells(G, g_enum, Y, *, rng, max_entries=1 << 18):
    """Yield :class:`CellBatch` chunks covering every cell of the arrangement {G z + g_enum = 0}.

    Parameters
    ----------
    G : ndarray of shape (K, D)
        Hyperplane normals.
    g_enum : ndarray of shape (K,)
        Offsets used for the enumeration (already perturbed to be generic).
    Y : ndarray of shape (K, P)
        Payload summed over the active hyperplanes of each cell.
    rng : numpy.random.Generator
        Source of the generic directions.
    max_entries : int
        Bound on (lines x hyperplanes) per chunk; memory is O(max_entries * P).
    """
    K, D = G.shape
    norms = np.linalg.norm(G, axis=1)
    yield from _level_cells(G, g_enum, Y, np.zeros(D), np.eye(D), D, rng, max_entries, norms)
