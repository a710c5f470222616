"""Fixed points and k-cycles of PLRNN maps (vanilla, shallow, clipped shallow) and of any map."""

from __future__ import annotations

import numpy as np

from ._arrangement import count_cells_bound
from ._exact import arrangement_fixed_points, region_patterns
from ._maps import PiecewiseAffineMap, TanhLowRankMap, build_map, plrnn_map, shallow_plrnn_map
from ._scyfi import exact_cycles, scyfi_cycles, scyfi_fixed_points

__all__ = ["plrnn_fixed_points", "shallow_plrnn_fixed_points", "map_fixed_points", "find_cycles"]

METHODS = ("auto", "exact", "scyfi")


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")


def map_fixed_points(pmap, *, method="auto", max_cells=5_000_000, max_solves=10_000, random_state=0,
                     chunk_size=1 << 18, **scyfi_kw):
    """Fixed points of a :class:`PiecewiseAffineMap`: exact enumeration or SCYFI.

    ``method="auto"`` enumerates the cells when the arrangement has at most ``max_cells`` cells
    (``sum_{i<=D} C(K, i)``), else runs SCYFI with ``max_solves`` solves.
    """
    _check_method(method)
    n_cells = count_cells_bound(pmap.n_planes, pmap.dim)
    if method == "exact" or (method == "auto" and n_cells <= max_cells):
        return arrangement_fixed_points(pmap, chunk_size=chunk_size, random_state=random_state)
    return scyfi_fixed_points(pmap, max_solves=max_solves, random_state=random_state, **scyfi_kw)


def plrnn_fixed_points(A, W, h, *, method="auto", max_cells=5_000_000, max_solves=10_000, random_state=0,
                       **kw):
    """Fixed points of the PLRNN ``z' = A z + W relu(z) + h``.

    Parameters
    ----------
    A : array-like of shape (n_latents,)
        Diagonal of the linear part (``A_``); a square matrix is used as is.
    W : array-like of shape (n_latents, n_latents)
        Connectivity (``W_``, off-diagonal by convention).
    h : array-like of shape (n_latents,)
        Bias (``h_``).
    method : {"auto", "exact", "scyfi"}, default="auto"
        "exact" solves all 2^M orthants (regions); "scyfi" is the heuristic of Eisenmann et al.
        (2023); "auto" is exact when 2^M <= ``max_cells``.
    max_cells : int, default=5_000_000
    max_solves : int, default=10000
        SCYFI budget.
    random_state : int, default=0
    **kw
        Passed to the SCYFI search (``n_chains``, ``max_iter``).

    Returns
    -------
    FixedPoints

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.dynamics import plrnn_fixed_points
    >>> fps = plrnn_fixed_points([0.5, 0.5], [[0.0, 0.2], [0.1, 0.0]], [0.1, -0.2])
    >>> fps.points.shape, fps.exact
    ((1, 2), True)
    """
    return map_fixed_points(plrnn_map(A, W, h), method=method, max_cells=max_cells, max_solves=max_solves,
                            random_state=random_state, **kw)


def shallow_plrnn_fixed_points(A, W1, W2, h1, h2, *, clipped=False, method="auto", max_cells=5_000_000,
                               max_solves=10_000, random_state=0, **kw):
    """Fixed points of the shallow PLRNN ``z' = A z + W1 relu(W2 z + h2) + h1`` (or its clipped form).

    The H hidden units (2H hyperplanes when ``clipped``) cut the M-dimensional latent space into at
    most ``sum_{i<=M} C(K, i)`` regions; "exact" enumerates them like the low-rank finder.

    Parameters
    ----------
    A : array-like of shape (n_latents,)
    W1 : array-like of shape (n_latents, n_hidden)
    W2 : array-like of shape (n_hidden, n_latents)
    h1 : array-like of shape (n_latents,)
    h2 : array-like of shape (n_hidden,)
    clipped : bool, default=False
        ``W1 [relu(W2 z + h2) - relu(W2 z)]`` (architecture "clipped_shallow").
    method, max_cells, max_solves, random_state, **kw
        As in :func:`plrnn_fixed_points`.

    Returns
    -------
    FixedPoints

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> fps = shallow_plrnn_fixed_points(np.full(3, 0.9), rng.normal(size=(3, 20)) / 20,
    ...                                  rng.normal(size=(20, 3)), np.zeros(3), rng.normal(size=20),
    ...                                  clipped=True)
    >>> fps.exact
    True
    """
    pmap = shallow_plrnn_map(A, W1, W2, h1, h2, clipped=clipped)
    return map_fixed_points(pmap, method=method, max_cells=max_cells, max_solves=max_solves,
                            random_state=random_state, **kw)


def find_cycles(model=None, order=2, *, method="auto", max_sequences=200_000, max_solves=20_000,
                random_state=0, **params):
    """Periodic orbits of minimal period ``order`` with their multipliers and stability.

    Parameters
    ----------
    model : estimator or map, optional
        A fitted low-rank RNN / PLRNN, or a map from :func:`plrnn_map`, :func:`shallow_plrnn_map`,
        :func:`low_rank_map`. Alternatively pass the parameter arrays as keywords.
    order : int, default=2
        Period k of the cycles.
    method : {"auto", "exact", "scyfi"}, default="auto"
        "exact" solves the k-cycle equation for every sequence of k regions (n_regions^k
        sequences; only for small models); "scyfi" the heuristic; "auto" is exact when
        ``n_regions^k <= max_sequences``.
    max_sequences : int, default=200000
    max_solves : int, default=20000
        SCYFI budget (k-cycle equations count k solves each).
    random_state : int, default=0
    **params
        ``A, W, h`` (PLRNN), ``A, W1, W2, h1, h2, clipped`` (shallow) or
        ``left, right, bias, decay, activation`` (low-rank RNN).

    Returns
    -------
    Cycles
        Orbits (C, k, D), multipliers (eigenvalues of the Jacobian product along the cycle),
        stability, spiral flags.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.dynamics import find_cycles
    >>> # z' = -2 relu(z) + 1 (1-D): the 2-cycle 0 -> 1 -> -1 ... is found exactly
    >>> cyc = find_cycles(A=[0.0], W=[[-2.0]], h=[1.0], order=2)
    >>> cyc.orbits.round(6).tolist()
    [[[-1.0], [1.0]]]
    """
    _check_method(method)
    order = int(order)
    if order < 1:
        raise ValueError(f"order must be a positive integer; got {order}.")
    pmap = build_map(model, **params)
    if isinstance(pmap, TanhLowRankMap):
        raise ValueError("cycles are computed for piecewise-linear maps (relu, clipped relu, PLRNN); "
                         "tanh models have no linear regions.")
    assert isinstance(pmap, PiecewiseAffineMap)
    if method in ("auto", "exact"):
        bound = count_cells_bound(pmap.n_planes, pmap.dim)
        if method == "exact" and bound ** order > 10 ** 9:
            raise ValueError(f"exhaustive {order}-cycle search needs up to {bound}^{order} region sequences; "
                             "use method='scyfi' for a model this large.")
        if bound ** order <= max_sequences or method == "exact":
            regions = region_patterns(pmap, max_cells=max(bound, 1), random_state=random_state)
            if len(regions) ** order <= max_sequences or method == "exact":
                return exact_cycles(pmap, order, regions)
    return scyfi_cycles(pmap, order, max_solves=max_solves, random_state=random_state)
