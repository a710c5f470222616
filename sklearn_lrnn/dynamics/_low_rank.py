"""Fixed points of low-rank RNNs ``z' = a z + n phi(m z + c; h)`` and the published teacher networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._exact import arrangement_fixed_points
from ._linalg import batched_solve
from ._maps import check_low_rank, low_rank_map
from ._results import empty_fixed_points, fixed_points_from_solutions

__all__ = ["low_rank_fixed_points", "teacher_from_npz", "tanh_fixed_points"]


def low_rank_fixed_points(left, right, bias, decay, activation="relu", *, inputs=None, chunk_size=1 << 18,
                          rtol=1e-9, random_state=0, n_starts=256):
    """Every fixed point of a low-rank RNN, exactly and in polynomial time for (clipped) relu and linear.

    The N unit hyperplanes (2N for clipped relu) cut the rank-R latent space into at most
    ``sum_{i<=R} C(K, i)`` cells (Zaslavsky; K = number of hyperplanes). Each cell is reached once,
    as the cell just above one vertex along a generic direction (vertices found by sorted line
    sweeps, cells unbounded below by recursion on a plane under all vertices); the affine map of each
    cell comes from a running sum of rank-1 Jacobian pieces, and one R x R system is solved per cell
    in vectorised batches of bounded size. A solution is kept when it lies in its own cell.

    Parameters
    ----------
    left : array-like of shape (n_units, rank)
        Left vectors m (``left_vectors_`` of a fitted model).
    right : array-like of shape (rank, n_units)
        Right vectors n (``right_vectors_``).
    bias : array-like of shape (n_units,)
        Unit biases h (``bias_``).
    decay : float
        Decay a of the latent state (``decay_``).
    activation : {"relu", "clipped_relu", "tanh", "linear"}, default="relu"
        ``relu``: max(0, x - h); ``clipped_relu``: max(0, x + h) - max(0, x); ``tanh``: tanh(x - h)
        (not piecewise linear: Newton's method from ``n_starts`` starts, result marked approximate);
        ``linear``: x - h (no hyperplanes: the single fixed point of the affine map
        ``(a I + n m) z + n (c - h)``, or none listed, with a warning, where ``I - a I - n m`` is singular).
    inputs : array-like of shape (n_units,), optional
        Constant input current c added inside phi (``W_u u`` for a constant input u). Default 0.
    chunk_size : int, default=2**18
        Bound on (lines x hyperplanes) handled per batch; memory grows linearly with it.
    rtol : float, default=1e-9
        Relative tolerance of the "solution lies in its own cell" test (points on cell boundaries).
    random_state : int, default=0
        Seed of the generic sweep directions and of the tanh starts.
    n_starts : int, default=256
        Starting points for tanh.

    Returns
    -------
    FixedPoints
        Points (F, rank), stability, eigenvalues, spiral flags, ``exact`` (False for tanh), cells
        visited and systems solved.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.dynamics import low_rank_fixed_points
    >>> rng = np.random.default_rng(0)
    >>> m, n, h = rng.normal(size=(50, 2)), rng.normal(size=(2, 50)) / 10, rng.normal(size=50) / 10
    >>> fps = low_rank_fixed_points(m, n, h, 0.9)
    >>> fps.n_cells  # 1 + 50 + C(50, 2) cells of the arrangement
    1276
    """
    if activation == "tanh":
        m, n, h, a, c = check_low_rank(left, right, bias, decay, activation, inputs)
        return tanh_fixed_points(m, n, h, a, c, n_starts=n_starts, random_state=random_state)
    pmap = low_rank_map(left, right, bias, decay, activation, inputs)
    return arrangement_fixed_points(pmap, chunk_size=chunk_size, rtol=rtol, random_state=random_state,
                                    method=f"arrangement ({activation})")


def tanh_fixed_points(m, n, h, a, c, *, n_starts=256, n_iter=100, tol=1e-10, random_state=0):
    """Fixed points of ``z' = a z + n tanh(m z + c - h)`` by damped Newton from many starts.

    All fixed points lie in the box ``|z_r| <= sum_i |n_ri| / (1 - a)`` (tanh is bounded), so the
    starts are drawn uniformly from it. The search is not exhaustive: ``exact=False``.
    """
    R = m.shape[1]
    rng = np.random.default_rng(random_state)
    radius = np.abs(n).sum(axis=1) / max(1.0 - a, 1e-3)
    Z = rng.uniform(-1.0, 1.0, size=(n_starts, R)) * radius
    Z = np.concatenate([Z, np.zeros((1, R))])
    eye = np.eye(R)

    def resid_jac(Z):
        x = Z @ m.T + c - h
        th = np.tanh(x)
        F = a * Z + th @ n.T - Z
        Jm = a * eye + np.einsum("ri,ki,is->krs", n, 1.0 - th ** 2, m)
        return F, Jm

    for _ in range(n_iter):
        F, Jm = resid_jac(Z)
        step, ok = batched_solve(Jm - eye, -F)
        step = np.where(ok[:, None], step, 0.0)
        # Limit each Newton step to the box size: keeps far starts from jumping out of range.
        norm = np.abs(step).max(axis=1, keepdims=True)
        cap = radius.max()
        step = np.where(norm > cap, step * cap / np.maximum(norm, 1e-300), step)
        Z = Z + step
    F, Jm = resid_jac(Z)
    conv = np.abs(F).max(axis=1) < tol * (1.0 + np.abs(Z).max(axis=1))
    if not conv.any():
        return empty_fixed_points(R, m.shape[0], exact=False, method="newton (tanh)", n_cells=0,
                                  n_solves=n_iter * len(Z))
    return fixed_points_from_solutions(Z[conv], Jm[conv], rtol=1e-6, atol=1e-8, exact=False, n_cells=0,
                                       n_solves=n_iter * (n_starts + 1), method="newton (tanh)")


def teacher_from_npz(path):
    """Latent-form parameters of a teacher network stored in unit space (the ``.npz`` layout of the
    teachers published with Pals et al., 2024).

    The files hold unit-space networks ``x' = (1 - alpha) x + alpha (m n^T relu(x + b) / N + w_in u)``.
    The SVD ``(alpha / N) m n^T = U S V^T`` (rank R) gives the latent form
    ``z' = (1 - alpha) z + (S V^T) relu(U z + b)`` with unit-space states ``x = U z`` (theory page,
    "Teacher networks").

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file (arrays ``m``, ``n`` (N, R), ``b`` (N,), ``w_in``, scalar ``alpha``).

    Returns
    -------
    dict
        ``left`` U (N, R), ``right`` S V^T (R, N), ``bias`` -b (relu(x - h) convention), ``decay``
        1 - alpha, ``input_weights`` w_in (N, n_inputs), ``alpha``, ``noise_std`` (if stored) and
        ``activation`` "relu"; pass the first five to :func:`low_rank_fixed_points`.

    Examples
    --------
    >>> teacher = teacher_from_npz("teachers/reach_n60_r2.npz")  # doctest: +SKIP
    >>> len(low_rank_fixed_points(teacher["left"], teacher["right"], teacher["bias"],
    ...                           teacher["decay"]))  # doctest: +SKIP
    17
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"teacher file not found: {path}; pass the path of a teachers/*.npz file.")
    with np.load(path) as f:
        missing = [k for k in ("m", "n", "b", "alpha") if k not in f.files]
        if missing:
            raise ValueError(f"{path.name} lacks arrays {missing}; expected m, n, b, w_in, alpha.")
        m, n, b = (np.asarray(f[k], dtype=np.float64) for k in ("m", "n", "b"))
        alpha = float(f["alpha"])
        w_in = np.asarray(f["w_in"], dtype=np.float64) if "w_in" in f.files else np.zeros((len(b), 0))
        noise = float(f["noise_std"]) if "noise_std" in f.files else None
    N, R = m.shape
    U, S, Vt = np.linalg.svd(alpha / N * m @ n.T)
    out = dict(left=U[:, :R], right=S[:R, None] * Vt[:R], bias=-b, decay=1.0 - alpha, input_weights=w_in,
               alpha=alpha, activation="relu")
    if noise is not None:
        out["noise_std"] = noise
    return out
