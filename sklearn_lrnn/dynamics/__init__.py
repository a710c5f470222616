"""Dynamics analysis of fitted models and raw parameter arrays.

The methods are described in section "Fixed points, cycles and Lyapunov exponents" of the theory
page (``doc/theory.rst``).

Exact fixed points of piecewise-linear low-rank RNNs in polynomial time, fixed points and k-cycles of
PLRNNs (exhaustive or SCYFI), stability, Lyapunov exponents and the continuous-time equivalent of a
discrete PLRNN region.

Public functions
----------------
low_rank_fixed_points, plrnn_fixed_points, shallow_plrnn_fixed_points, scyfi_fixed_points,
find_cycles, fixed_points, cycles, lyapunov_spectrum, max_lyapunov_exponent,
continuous_time_equivalent, teacher_from_npz, and the map constructors low_rank_map, plrnn_map,
shallow_plrnn_map.
"""

from __future__ import annotations

from ._continuous import ContinuousTimeSystem, continuous_time_equivalent
from ._low_rank import low_rank_fixed_points, teacher_from_npz
from ._lyapunov import lyapunov_spectrum, max_lyapunov_exponent
from ._maps import PiecewiseAffineMap, TanhLowRankMap, build_map, low_rank_map, plrnn_map, shallow_plrnn_map
from ._plrnn import find_cycles, map_fixed_points, plrnn_fixed_points, shallow_plrnn_fixed_points
from ._results import Cycles, FixedPoints, classify
from ._scyfi import scyfi_cycles
from ._scyfi import scyfi_fixed_points as _scyfi_map_fixed_points

__all__ = [
    "FixedPoints", "Cycles", "ContinuousTimeSystem", "PiecewiseAffineMap", "TanhLowRankMap",
    "low_rank_fixed_points", "plrnn_fixed_points", "shallow_plrnn_fixed_points", "scyfi_fixed_points",
    "find_cycles", "scyfi_cycles", "fixed_points", "cycles", "lyapunov_spectrum", "max_lyapunov_exponent",
    "continuous_time_equivalent", "teacher_from_npz", "low_rank_map", "plrnn_map", "shallow_plrnn_map",
    "build_map", "map_fixed_points", "classify",
]


def scyfi_fixed_points(model=None, *, max_solves=10_000, n_chains=64, max_iter=50, random_state=0, **params):
    """Fixed points by the SCYFI heuristic (Eisenmann et al. 2023) for any piecewise-linear model.

    Parameters
    ----------
    model : estimator or PiecewiseAffineMap, optional
        Else pass parameter arrays as keywords (``left, right, bias, decay, activation`` or
        ``A, W, h`` or ``A, W1, W2, h1, h2, clipped``).
    max_solves : int, default=10000
        Budget of linear solves.
    n_chains : int, default=64
        Parallel chains (random start region, solve, jump to the candidate's region).
    max_iter : int, default=50
        Jumps per chain before restarting from a new random region.
    random_state : int, default=0

    Returns
    -------
    FixedPoints
        ``exact=False``.

    Examples
    --------
    >>> from sklearn_lrnn.dynamics import scyfi_fixed_points
    >>> len(scyfi_fixed_points(A=[0.5, 0.5], W=[[0.0, 0.2], [0.1, 0.0]], h=[0.1, -0.2], max_solves=200))
    1
    """
    pmap = build_map(model, **params)
    if isinstance(pmap, TanhLowRankMap):
        raise ValueError("SCYFI needs a piecewise-linear model (relu, clipped relu, PLRNN).")
    return _scyfi_map_fixed_points(pmap, max_solves=max_solves, n_chains=n_chains, max_iter=max_iter,
                                   random_state=random_state)


def fixed_points(estimator, **kw):
    """Fixed points of a fitted low-rank RNN or PLRNN, or of a map.

    The estimator hands over its noise-free latent map (``latent_map()``); nothing else of it is read.
    A piecewise-linear map (relu low-rank RNNs, every PLRNN) goes to :func:`map_fixed_points`, whose
    ``method="auto"`` enumerates every region when the arrangement of the map's hyperplanes has at
    most ``max_cells`` cells (for a low-rank RNN that count is polynomial in the number of units, so
    small networks are always searched exactly), else runs SCYFI; a tanh low-rank map uses Newton's
    method from many starts.

    Parameters
    ----------
    estimator : fitted estimator or map
        A fitted ``StochasticLowRankRNN`` or ``PLRNNRegressor``, or a map from :func:`build_map`
        (for raw parameter arrays: ``fixed_points(build_map(A=..., W=..., h=...))``).
    **kw
        Passed to the finder (``method``, ``max_cells``, ``max_solves``, ``chunk_size``; for tanh maps
        the options of the Newton search).

    Returns
    -------
    FixedPoints

    Examples
    --------
    >>> fixed_points(build_map(A=[0.5], W=[[0.0]], h=[1.0])).points.tolist()
    [[2.0]]
    """
    pmap = build_map(estimator)  # the estimator hands over its map (latent_map()); no internals read here
    if isinstance(pmap, TanhLowRankMap):
        from ._low_rank import tanh_fixed_points

        kw.pop("method", None)
        return tanh_fixed_points(pmap.m, pmap.n, pmap.h, pmap.a, pmap.c, **kw)
    return map_fixed_points(pmap, **kw)


def cycles(estimator, order, **kw):
    """k-cycles of a fitted low-rank RNN or PLRNN; see :func:`find_cycles`.

    Examples
    --------
    >>> len(cycles(build_map(A=[0.0], W=[[-2.0]], h=[1.0]), 2))
    1
    """
    return find_cycles(estimator, order, **kw)
