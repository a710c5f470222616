"""Piecewise-affine maps defined by a hyperplane arrangement, and their construction from parameters.

Every model of the package with a piecewise-linear activation is one map

    z' = J0 z + c0 + sum_k s_k(z) B_k (G_k . z + g_k),      s_k(z) = [G_k . z + g_k > 0],

with K hyperplanes {G_k . z + g_k = 0} in the D-dimensional state space:

* low-rank relu RNN (D = R): k = unit i, G_k = m_i, g_k = c_i - h_i, B_k = n[:, i], J0 = a I;
* low-rank clipped relu: two parallel hyperplanes per unit, (m_i, c_i + h_i, +n_i) and (m_i, c_i, -n_i);
* low-rank linear (phi(x; h) = x - h): no hyperplane (K = 0), J0 = a I + n m, c0 = n (c - h): one affine
  map on the whole space, with one fixed point where I - J0 is invertible;
* vanilla PLRNN (D = M): G = I, g = 0, B_k = W[:, k], J0 = diag(A), c0 = h;
* linear PLRNN (the baseline ``architecture="linear"``): no hyperplane, J0 = diag(A) + W, c0 = h;
* shallow PLRNN: G = W2, g = h2, B_k = W1[:, k]; clipped shallow adds (W2, 0, -W1[:, k]).

Inside one region (fixed s) the map is affine with Jacobian J0 + sum_k s_k B_k G_k^T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PiecewiseAffineMap", "low_rank_map", "plrnn_map", "linear_plrnn_map", "shallow_plrnn_map", "check_array"]

ACTIVATIONS = ("relu", "clipped_relu", "tanh", "linear")


def check_array(x, name, *, ndim=None, shape=None, what=""):
    """Float64 copy of ``x`` with shape and finiteness checks (ValueError naming the argument)."""
    try:
        arr = np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers{what}; got {type(x).__name__} ({exc}).") from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D{what}; got an array of shape {arr.shape}.")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}{what}; got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; pass finite parameters "
                         "(was the model fitted without diverging?).")
    return arr


@dataclass
class PiecewiseAffineMap:
    """z' = J0 z + c0 + sum_k [G_k z + g_k > 0] B_k (G_k z + g_k) (see module docstring).

    Attributes
    ----------
    G : ndarray (K, D)       hyperplane normals.
    g : ndarray (K,)         hyperplane offsets.
    B : ndarray (K, D)       output direction of each hyperplane's ramp.
    J0 : ndarray (D, D)      linear part shared by all regions.
    c0 : ndarray (D,)        constant part shared by all regions.
    bound : ndarray (D, 2) or None
        A box known to contain every fixed point (bounded activations), else None.
    """

    G: np.ndarray
    g: np.ndarray
    B: np.ndarray
    J0: np.ndarray
    c0: np.ndarray
    bound: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.G.shape[1]

    @property
    def n_planes(self) -> int:
        return self.G.shape[0]

    def payload(self):
        """Per-hyperplane contribution [vec(B_k G_k^T), B_k g_k] to a region's (J, c), shape (K, D*D + D)."""
        K, D = self.G.shape
        outer = (self.B[:, :, None] * self.G[:, None, :]).reshape(K, D * D)
        return np.concatenate([outer, self.B * self.g[:, None]], axis=1)

    def patterns(self, Z):
        """Activation pattern (K bools) of each state in ``Z`` (n, D)."""
        return np.atleast_2d(Z) @ self.G.T + self.g > 0

    def affine(self, patterns):
        """Jacobian (n, D, D) and offset (n, D) of the regions given by boolean ``patterns`` (n, K)."""
        S = np.atleast_2d(patterns).astype(np.float64)
        Y = S @ self.payload()
        D = self.dim
        J = self.J0 + Y[:, : D * D].reshape(-1, D, D)
        c = self.c0 + Y[:, D * D:]
        return J, c

    def step(self, Z):
        """One application of the map to each row of ``Z`` (n, D)."""
        Z = np.atleast_2d(Z)
        pre = Z @ self.G.T + self.g
        return Z @ self.J0.T + self.c0 + np.maximum(pre, 0.0) @ self.B

    def jacobian(self, Z):
        """Jacobian (n, D, D) at each state (of the region holding it)."""
        return self.affine(self.patterns(Z))[0]


def _decay(decay):
    try:
        a = float(np.asarray(decay, dtype=np.float64).reshape(()))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"decay must be a scalar float in (0, 1); got {decay!r}.") from exc
    if not np.isfinite(a):
        raise ValueError("decay is NaN or infinite; pass a finite scalar decay a in (0, 1).")
    return a


def check_low_rank(left, right, bias, decay, activation, inputs=None):
    """Validate low-rank parameters; returns float arrays m (N, R), n (R, N), h (N,), a, c (N,)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")
    m = check_array(left, "left", ndim=2, what=" (left vectors, shape (n_units, rank))")
    N, R = m.shape
    if N == 0 or R == 0:
        raise ValueError(f"left must have at least one unit and rank >= 1; got shape {m.shape}.")
    n = check_array(right, "right", ndim=2, what=" (right vectors, shape (rank, n_units))")
    if n.shape != (R, N):
        if n.shape == (N, R):
            raise ValueError(f"right has shape {n.shape} but must be (rank, n_units) = {(R, N)}; "
                             "pass its transpose (right_vectors_ are stored as (rank, n_units)).")
        raise ValueError(f"right must have shape (rank, n_units) = {(R, N)} to match left {m.shape}; "
                         f"got {n.shape}.")
    h = check_array(bias, "bias", ndim=1, shape=(N,), what=f" (one bias per unit, n_units = {N})")
    a = _decay(decay)
    c = np.zeros(N) if inputs is None else check_array(
        inputs, "inputs", ndim=1, shape=(N,), what=f" (a constant input current per unit, n_units = {N})")
    return m, n, h, a, c


def low_rank_map(left, right, bias, decay, activation="relu", inputs=None):
    """Piecewise-affine map of a low-rank RNN ``z' = a z + n phi(m z + c; h)`` (relu, clipped relu or linear).

    The linear activation gives the affine map ``z' = (a I + n m) z + n (c - h)``: a map with no
    hyperplanes, whose only region is the whole latent space.
    """
    m, n, h, a, c = check_low_rank(left, right, bias, decay, activation, inputs)
    R = m.shape[1]
    if activation == "linear":
        return PiecewiseAffineMap(G=np.zeros((0, R)), g=np.zeros(0), B=np.zeros((0, R)), J0=a * np.eye(R) + n @ m,
                                  c0=n @ (c - h))
    if activation == "relu":
        G, g, B = m, c - h, n.T
        bound = None
    elif activation == "clipped_relu":
        G = np.concatenate([m, m])
        g = np.concatenate([c + h, c])
        B = np.concatenate([n.T, -n.T])
        bound = None
        if a < 1.0:
            # phi_i lies between 0 and h_i, so z* = n phi / (1 - a) lies in this box.
            lo, hi = np.minimum(h, 0.0), np.maximum(h, 0.0)
            low = (np.minimum(n * lo, n * hi).sum(1)) / (1.0 - a)
            high = (np.maximum(n * lo, n * hi).sum(1)) / (1.0 - a)
            bound = np.stack([low, high], axis=1)
    else:
        raise ValueError("tanh is not piecewise linear; use the numerical finder (activation='tanh').")
    return PiecewiseAffineMap(G=G, g=g, B=B, J0=a * np.eye(R), c0=np.zeros(R), bound=bound)


def _check_A(A, name="A"):
    A = check_array(A, name, what=" (diagonal of the linear part, shape (n_latents,))")
    if A.ndim == 1:
        if A.shape[0] == 0:
            raise ValueError(f"{name} must have at least one latent dimension.")
        return np.diag(A)
    if A.ndim == 2:
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"{name} must be a vector of length n_latents or a square matrix; got shape {A.shape}.")
        return A
    raise ValueError(f"{name} must be a vector (n_latents,) of diagonal entries; got shape {A.shape}.")


def _check_vanilla(A, W, h):
    A = _check_A(A)
    M = A.shape[0]
    W = check_array(W, "W", ndim=2, what=f" (connectivity, shape (n_latents, n_latents) = {(M, M)})")
    if W.shape != (M, M):
        raise ValueError(f"W must be square with shape {(M, M)} to match A of length {M}; got {W.shape}.")
    h = check_array(h, "h", ndim=1, shape=(M,), what=f" (bias, shape (n_latents,) = ({M},))")
    return A, W, h


def plrnn_map(A, W, h):
    """Map of the vanilla PLRNN ``z' = A z + W relu(z) + h`` (A diagonal given as a vector)."""
    A, W, h = _check_vanilla(A, W, h)
    M = A.shape[0]
    return PiecewiseAffineMap(G=np.eye(M), g=np.zeros(M), B=W.T.copy(), J0=A, c0=h)


def linear_plrnn_map(A, W, h):
    """Map of the linear PLRNN baseline ``z' = A z + W z + h``: an affine map with no hyperplanes, whose only
    region is the whole latent space (one fixed point where ``I - A - W`` is invertible)."""
    A, W, h = _check_vanilla(A, W, h)
    M = A.shape[0]
    return PiecewiseAffineMap(G=np.zeros((0, M)), g=np.zeros(0), B=np.zeros((0, M)), J0=A + W, c0=h)


def shallow_plrnn_map(A, W1, W2, h1, h2, clipped=False):
    """Map of the shallow PLRNN ``z' = A z + W1 relu(W2 z + h2) + h1`` (clipped: W1 [relu(W2 z + h2) - relu(W2 z)])."""
    A = _check_A(A)
    M = A.shape[0]
    W1 = check_array(W1, "W1", ndim=2, what=" (shape (n_latents, n_hidden))")
    if W1.shape[0] != M:
        raise ValueError(f"W1 must have shape (n_latents, n_hidden) with n_latents = {M} (length of A); "
                         f"got {W1.shape}.")
    H = W1.shape[1]
    W2 = check_array(W2, "W2", ndim=2, what=" (shape (n_hidden, n_latents))")
    if W2.shape != (H, M):
        raise ValueError(f"W2 must have shape (n_hidden, n_latents) = {(H, M)} to match W1 {W1.shape}; got {W2.shape}.")
    h1 = check_array(h1, "h1", ndim=1, shape=(M,), what=f" (latent bias, length n_latents = {M})")
    h2 = check_array(h2, "h2", ndim=1, shape=(H,), what=f" (hidden bias, length n_hidden = {H})")
    if clipped:
        G = np.concatenate([W2, W2])
        g = np.concatenate([h2, np.zeros(H)])
        B = np.concatenate([W1.T, -W1.T])
    else:
        G, g, B = W2, h2, W1.T.copy()
    return PiecewiseAffineMap(G=G, g=g, B=B, J0=A, c0=h1)


@dataclass
class TanhLowRankMap:
    """Smooth low-rank map ``z' = a z + n tanh(m z + c - h)`` (for Lyapunov exponents and cycles)."""

    m: np.ndarray
    n: np.ndarray
    h: np.ndarray
    a: float
    c: np.ndarray

    @property
    def dim(self) -> int:
        return self.m.shape[1]

    def step(self, Z):
        Z = np.atleast_2d(Z)
        return self.a * Z + np.tanh(Z @ self.m.T + self.c - self.h) @ self.n.T

    def jacobian(self, Z):
        Z = np.atleast_2d(Z)
        d = 1.0 - np.tanh(Z @ self.m.T + self.c - self.h) ** 2
        return self.a * np.eye(self.dim) + np.einsum("ri,ki,is->krs", self.n, d, self.m)


def build_map(model=None, **params):
    """A map object from a fitted estimator, an existing map, or keyword parameter arrays.

    Accepted keyword sets: ``left, right, bias, decay[, activation, inputs]`` (low-rank RNN);
    ``A, W, h[, architecture]`` (vanilla PLRNN, or its linear baseline with ``architecture="linear"``);
    ``A, W1, W2, h1, h2[, clipped]`` (shallow PLRNN).
    """
    if model is not None:
        if params:
            raise ValueError(f"pass either a model or parameter arrays, not both (got {sorted(params)}).")
        if isinstance(model, (PiecewiseAffineMap, TanhLowRankMap)):
            return model
        return map_from_estimator(model)
    keys = set(params)
    if {"left", "right", "bias", "decay"} <= keys:
        act = params.get("activation", "relu")
        if act == "tanh":
            m, n, h, a, c = check_low_rank(params["left"], params["right"], params["bias"], params["decay"],
                                           act, params.get("inputs"))
            return TanhLowRankMap(m=m, n=n, h=h, a=a, c=c)
        return low_rank_map(params["left"], params["right"], params["bias"], params["decay"], act,
                            params.get("inputs"))
    if {"A", "W1", "W2", "h1", "h2"} <= keys:
        return shallow_plrnn_map(params["A"], params["W1"], params["W2"], params["h1"], params["h2"],
                                 clipped=bool(params.get("clipped", False)))
    if {"A", "W", "h"} <= keys:
        arch = params.get("architecture", "vanilla")
        if arch not in ("vanilla", "linear"):
            raise ValueError(f"architecture must be 'vanilla' or 'linear' with A, W, h; got {arch!r} (a shallow "
                             "PLRNN takes A, W1, W2, h1, h2).")
        return (linear_plrnn_map if arch == "linear" else plrnn_map)(params["A"], params["W"], params["h"])
    raise ValueError("pass a fitted estimator, or parameters: left, right, bias, decay (low-rank RNN); "
                     f"A, W, h (PLRNN); or A, W1, W2, h1, h2 (shallow PLRNN). Got {sorted(keys)}.")


def map_from_estimator(est):
    """The map a fitted estimator hands over (its ``latent_map()``)."""
    if callable(getattr(est, "latent_map", None)):
        return est.latent_map()
    raise ValueError(f"{type(est).__name__} is neither a fitted model with a latent_map() method (a fitted "
                     "StochasticLowRankRNN or PLRNNRegressor) nor a map. Fit it first, or pass parameter arrays "
                     "to build_map (left, right, bias, decay; A, W, h; or A, W1, W2, h1, h2).")
