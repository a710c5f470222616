"""Result containers and the stability classification shared by every finder."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FixedPoints", "Cycles", "classify", "deduplicate"]

STABILITY_LABELS = ("stable", "unstable", "saddle")


def classify(eigvals, *, tol=1e-12):
    """Stability label and spiral flag from the eigenvalues of each Jacobian.

    Parameters
    ----------
    eigvals : ndarray of shape (F, D), complex
        Eigenvalues of the map's Jacobian (or of a cycle's Jacobian product) at each point.
    tol : float, default=1e-12
        Imaginary parts below ``tol`` (relative to the modulus) count as real.

    Returns
    -------
    stability : ndarray of shape (F,), dtype object
        "stable" if every ``|lambda| < 1``, "unstable" if every ``|lambda| > 1``, else "saddle"
        (marginal eigenvalues ``|lambda| == 1`` make a point a saddle, not stable).
    spiral : ndarray of shape (F,), bool
        True where a complex-conjugate pair is present.
    """
    eigvals = np.asarray(eigvals, dtype=complex)
    if eigvals.ndim != 2:
        raise ValueError(f"eigvals must be 2-D (n_points, dim); got shape {eigvals.shape}.")
    mod = np.abs(eigvals)
    stability = np.full(len(eigvals), "saddle", dtype=object)
    if eigvals.shape[1]:
        stability[np.all(mod < 1.0, axis=1)] = "stable"
        stability[np.all(mod > 1.0, axis=1)] = "unstable"
    spiral = np.any(np.abs(eigvals.imag) > tol * np.maximum(mod, 1.0), axis=1)
    return stability, spiral


def deduplicate(points, *, rtol=1e-7, atol=1e-9):
    """Indices of the first occurrence of each distinct point (greedy, tolerance based).

    Points closer than ``atol + rtol * max(|p|, |q|)`` in the max-norm are one point: the same fixed
    point is found from every cell whose closure holds it (points on region boundaries).
    """
    points = np.asarray(points, dtype=float)
    keep = []
    for i, p in enumerate(points):
        dup = False
        for j in keep:
            q = points[j]
            if np.max(np.abs(p - q)) <= atol + rtol * max(np.max(np.abs(p)), np.max(np.abs(q))):
                dup = True
                break
        if not dup:
            keep.append(i)
    return np.asarray(keep, dtype=int)


@dataclass
class FixedPoints:
    """Fixed points of a discrete-time map with their linear stability.

    Attributes
    ----------
    points : ndarray of shape (F, D)
        Fixed points in the model's state (latent) coordinates.
    stability : ndarray of shape (F,), dtype object
        "stable", "unstable" (source) or "saddle" from the eigenvalues of the Jacobian.
    eigvals : ndarray of shape (F, D), complex
        Eigenvalues of the Jacobian at each fixed point (of the linear region holding it).
    spiral : ndarray of shape (F,), bool
        True where the Jacobian has a complex-conjugate pair (rotation around the point).
    exact : bool
        True when the search is exhaustive (every linear region solved), False for heuristics
        (SCYFI) and numerical root finding (tanh).
    n_cells : int
        Linear regions (cells) visited; for the exact low-rank finder the number of cells of the
        hyperplane arrangement that were enumerated.
    n_solves : int
        Linear systems solved.
    patterns : ndarray of shape (F, K), bool, optional
        Which hyperplanes are on the positive side at each point (the region); None for tanh.
    method : str
        Name of the algorithm that produced the result.
    n_singular : int
        Regions skipped because ``I - J`` was singular (a continuum of fixed points or none).
    """

    points: np.ndarray
    stability: np.ndarray
    eigvals: np.ndarray
    spiral: np.ndarray
    exact: bool
    n_cells: int = 0
    n_solves: int = 0
    patterns: np.ndarray | None = None
    method: str = ""
    n_singular: int = 0

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_stable(self) -> int:
        """Number of stable fixed points."""
        return int(np.sum(self.stability == "stable"))

    def __repr__(self) -> str:
        kinds = {lab: int(np.sum(self.stability == lab)) for lab in STABILITY_LABELS}
        return (f"FixedPoints(n={len(self)}, stable={kinds['stable']}, unstable={kinds['unstable']}, "
                f"saddle={kinds['saddle']}, exact={self.exact}, method={self.method!r}, "
                f"n_cells={self.n_cells}, n_solves={self.n_solves})")


@dataclass
class Cycles:
    """Periodic orbits (k-cycles) of a discrete-time map.

    Attributes
    ----------
    order : int
        Period k (minimal: fixed points and cycles of a divisor of k are excluded).
    orbits : ndarray of shape (C, k, D)
        Each cycle as its k successive states, starting from the lexicographically smallest state.
    multipliers : ndarray of shape (C, D), complex
        Eigenvalues of the Jacobian product along the cycle (Floquet multipliers).
    stability : ndarray of shape (C,), dtype object
        Classification of the multipliers ("stable", "unstable", "saddle").
    spiral : ndarray of shape (C,), bool
        Complex multipliers present.
    exact : bool
        True when every sequence of k regions was solved.
    n_solves : int
        Linear systems solved.
    method : str
        Algorithm used.
    """

    order: int
    orbits: np.ndarray
    multipliers: np.ndarray
    stability: np.ndarray
    spiral: np.ndarray
    exact: bool
    n_solves: int = 0
    method: str = ""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.orbits.shape[0])

    def __repr__(self) -> str:
        return (f"Cycles(order={self.order}, n={len(self)}, stable={int(np.sum(self.stability == 'stable'))}, "
                f"exact={self.exact}, method={self.method!r}, n_solves={self.n_solves})")


def fixed_points_from_solutions(points, jacobians, *, patterns=None, rtol=1e-7, atol=1e-9, **summary):
    """The :class:`FixedPoints` of the solutions a finder collected, one row each of ``points`` (F, D),
    ``jacobians`` (F, D, D) and ``patterns`` (F, K) or None: repeated points dropped (:func:`deduplicate` with
    ``rtol``, ``atol``), the rest in lexicographic order, each Jacobian's eigenvalues by decreasing modulus
    and classified. ``summary``: the other fields (``exact``, ``n_cells``, ``n_solves``, ``method``, ...)."""
    first = deduplicate(points, rtol=rtol, atol=atol)
    order = first[np.lexsort(points[first].T[::-1])]
    points, jacobians = points[order], jacobians[order]
    eig = np.linalg.eigvals(jacobians)
    eig = eig[np.arange(len(eig))[:, None], np.argsort(-np.abs(eig), axis=1, kind="stable")]
    stability, spiral = classify(eig)
    return FixedPoints(points=points, stability=stability, eigvals=eig, spiral=spiral,
                       patterns=None if patterns is None else patterns[order], **summary)


def empty_fixed_points(dim, n_planes, *, exact, method, n_cells=0, n_solves=0, n_singular=0):
    return FixedPoints(points=np.zeros((0, dim)), stability=np.zeros(0, dtype=object),
                       eigvals=np.zeros((0, dim), dtype=complex), spiral=np.zeros(0, dtype=bool),
                       exact=exact, n_cells=n_cells, n_solves=n_solves,
                       patterns=np.zeros((0, n_planes), dtype=bool), method=method, n_singular=n_singular)
