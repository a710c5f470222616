"""State-space divergence D_stsp = KL(p_data || p_generated).

Definition: section "Comparing generated data with recordings" of the theory page (``doc/theory.rst``).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import check_random_state

from ._checks import check_optional_positive_int, check_pair, check_positive_float, check_positive_int

__all__ = ["state_space_divergence"]

# Elements of one (samples x mixture centres) block; 2**21 float64 = 16 MB. A handful of
# temporaries of this size live at once, which keeps the EEG case far below 200 MB.
_BLOCK_ELEMENTS = 2**21


def state_space_divergence(
    X_true,
    X_gen,
    *,
    method="gmm",
    n_bins=30,
    smoothing=1e-5,
    sigma2=1.0,
    n_samples=1000,
    max_timesteps=10000,
    convention="exact",
    random_state=None,
    chunk_size=None,
):
    """State-space divergence D_stsp: KL divergence of the data's from the generated occupation density.

    Both data sets are pooled over trials and time (the order of time points does not matter), turned
    into a density over observation space, and compared with ``KL(p_true || p_gen)``.

    Parameters
    ----------
    X_true : array-like of shape (n_timesteps, n_features) or (n_trials, n_timesteps, n_features), or list of 2-D arrays
        Observed data (the reference distribution).
    X_gen : same containers as ``X_true``
        Generated data with the same number of features (lengths may differ).
    method : {"gmm", "bins"}, default="gmm"
        ``"bins"``: ``n_bins`` bins per dimension over ``[min - 0.1 sd, max + 0.1 sd]`` of ``X_true``
        (per dimension, sd with ``ddof=1``), histograms with Laplace smoothing ``smoothing``; generated points
        outside that box are discarded (as in the published code). Only for fewer than 6 features.
        ``"gmm"``: each data set is a mixture of isotropic Gaussians (variance ``sigma2``) centred on its
        time points; the KL is estimated with ``n_samples`` Monte-Carlo draws from the data mixture.
    n_bins : int, default=30
        Bins per dimension (``"bins"``).
    smoothing : float, default=1e-5
        Laplace pseudo-count added to every bin (``"bins"``).
    sigma2 : float, default=1.0
        Variance of each mixture component (``"gmm"``).
    n_samples : int, default=1000
        Monte-Carlo samples (``"gmm"``).
    max_timesteps : int or None, default=10000
        ``"gmm"`` only: the first ``max_timesteps`` pooled time points (trial 0 first) of each data set
        become mixture centres (``None``: all). With ``convention="reference"`` the generated data are cut
        to the number of data centres actually used, as the published code does.
    convention : {"exact", "reference"}, default="exact"
        ``"exact"``: ``mean(log p_true(z) - log p_gen(z))`` in float64 log-sum-exp; never drops a sample.
        ``"reference"`` reproduces the published float32 evaluation: each component density is computed
        as ``float32(exp(-||z - mu_t||^2 / (2 sigma2))) / sigma^D`` (no ``(2 pi)^(-D/2)`` factor, which cancels),
        summed over components in float32 and divided by the number of components; samples whose data
        *or* generated density underflows to exactly 0 are dropped, and the KL is the float32 mean of
        ``log p_true - log p_gen`` over the remaining samples (NaN with a warning if none remains). Dropping
        the samples that the generated mixture misses most badly biases this estimate downwards.
    random_state : int, RandomState instance or None, default=None
        Seed of the Monte-Carlo samples (``"gmm"``); both conventions use the same samples.
    chunk_size : int or None, default=None
        Samples processed at once (``"gmm"``); ``None`` picks ``max(1, 2**21 // n_centres)`` so a block of
        distances takes about 16 MB whatever the data size.

    Returns
    -------
    divergence : float
        The estimate of ``KL(p_true || p_gen)`` in nats; 0 for identical data with ``"bins"``. ``inf`` with
        ``"bins"`` when no generated point falls inside the data's box.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import state_space_divergence
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 2))
    >>> state_space_divergence(X, X, method="bins")
    0.0
    >>> d_same = state_space_divergence(X, rng.normal(size=(2000, 2)), random_state=0)
    >>> d_far = state_space_divergence(X, rng.normal(5.0, 1.0, size=(2000, 2)), random_state=0)
    >>> bool(d_same < 0.1 < d_far)
    True
    """
    if method not in ("gmm", "bins"):
        raise ValueError(f"method must be 'gmm' or 'bins'; got {method!r}.")
    if convention not in ("exact", "reference"):
        raise ValueError(f"convention must be 'exact' or 'reference'; got {convention!r}.")
    n_bins = check_positive_int(n_bins, "n_bins")
    smoothing = check_positive_float(smoothing, "smoothing")
    sigma2 = check_positive_float(sigma2, "sigma2")
    n_samples = check_positive_int(n_samples, "n_samples")
    max_timesteps = check_optional_positive_int(max_timesteps, "max_timesteps")
    chunk_size = check_optional_positive_int(chunk_size, "chunk_size")
    a, b = check_pair(X_true, X_gen, min_length=1)
    true = np.concatenate(a.trials, axis=0)
    gen = np.concatenate(b.trials, axis=0)
    if method == "bins":
        return _binned_kl(true, gen, n_bins=n_bins, smoothing=smoothing)
    return _gmm_kl(
        true,
        gen,
        sigma2=sigma2,
        n_samples=n_samples,
        max_timesteps=max_timesteps,
        convention=convention,
        random_state=random_state,
        chunk_size=chunk_size,
    )


# ----------------------------------------------------------------------------------------- binned
def _binned_kl(true, gen, *, n_bins, smoothing):
    n_dim = true.shape[1]
    if n_dim >= 6:
        raise ValueError(
            f"method='bins' needs fewer than 6 features ({n_bins}^{n_dim} bins would be almost all empty); "
            f"got {n_dim}. Use method='gmm', or project the data on a few components first."
        )
    if n_bins < 1 or smoothing <= 0:
        raise ValueError(f"n_bins must be >= 1 and smoothing > 0; got n_bins={n_bins}, smoothing={smoothing}.")
    if true.shape[0] < 2:
        raise ValueError("X_true needs at least 2 time points for method='bins' (the bin range uses its sd).")
    sd = true.std(axis=0, ddof=1)
    if np.any(sd == 0):
        k = int(np.flatnonzero(sd == 0)[0])
        raise ValueError(f"feature {k} of X_true is constant; the bin range is undefined. Drop that feature.")
    lo = true.min(axis=0) - 0.1 * sd
    hi = true.max(axis=0) + 0.1 * sd

    def occupied(x):
        # flat bin index of every inlier point; the box covers all data, generated outliers are dropped
        idx = np.floor(n_bins * (x - lo) / (hi - lo)).astype(np.int64)
        inlier = np.all((idx >= 0) & (idx < n_bins), axis=1)
        flat = np.ravel_multi_index(tuple(idx[inlier].T), (n_bins,) * n_dim)
        return np.unique(flat, return_counts=True)

    bins_p, counts_p = occupied(true)
    bins_q, counts_q = occupied(gen)
    if counts_q.size == 0:
        warnings.warn(
            "no generated point falls inside the range of X_true: D_stsp (bins) is infinite.",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("inf")
    n_cells = float(n_bins) ** n_dim
    norm_p = counts_p.sum() + smoothing * n_cells
    norm_q = counts_q.sum() + smoothing * n_cells
    # Sparse sum: only the union of occupied bins is visited; every bin empty in both histograms
    # contributes the same term p0 log(p0 / q0), added once times their number.
    union = np.union1d(bins_p, bins_q)
    c_p = np.zeros(union.size)
    c_q = np.zeros(union.size)
    c_p[np.searchsorted(union, bins_p)] = counts_p
    c_q[np.searchsorted(union, bins_q)] = counts_q
    p = (c_p + smoothing) / norm_p
    q = (c_q + smoothing) / norm_q
    p0, q0 = smoothing / norm_p, smoothing / norm_q
    kl = np.sum(p * np.log(p / q)) + (n_cells - union.size) * p0 * np.log(p0 / q0)
    return float(kl)


# -------------------------------------------------------------------------------------------- gmm
def _gmm_kl(true, gen, *, sigma2, n_samples, max_timesteps, convention, random_state, chunk_size):
    if sigma2 <= 0 or n_samples < 1:
        raise ValueError(f"sigma2 must be > 0 and n_samples >= 1; got sigma2={sigma2}, n_samples={n_samples}.")
    if max_timesteps is not None:
        if int(max_timesteps) < 1:
            raise ValueError(f"max_timesteps must be a positive int or None; got {max_timesteps}.")
        true = true[: int(max_timesteps)]
        gen = gen[: true.shape[0]] if convention == "reference" else gen[: int(max_timesteps)]
    rng = check_random_state(random_state)
    # same draws as the reference: a random centre of the data mixture plus isotropic noise
    centre = rng.randint(0, true.shape[0], size=n_samples)
    samples = true[centre] + np.sqrt(sigma2) * rng.standard_normal((n_samples, true.shape[1]))
    n_centres = max(true.shape[0], gen.shape[0])
    if chunk_size is None:
        chunk_size = max(1, _BLOCK_ELEMENTS // n_centres)
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int or None; got {chunk_size}.")
    if convention == "exact":
        log_p = _mixture_log_density(samples, true, sigma2, chunk_size)
        log_q = _mixture_log_density(samples, gen, sigma2, chunk_size)
        return float(np.mean(log_p - log_q))
    p = _mixture_density_float32(samples, true, sigma2, chunk_size)
    q = _mixture_density_float32(samples, gen, sigma2, chunk_size)
    keep = (p > 0) & (q > 0)
    if not np.any(keep):
        warnings.warn(
            "convention='reference': every Monte-Carlo sample underflowed in float32 and was dropped; "
            "the divergence is NaN (use convention='exact').",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("nan")
    return float(np.mean(np.log(p[keep]) - np.log(q[keep]), dtype=np.float32))


def _log_kernel(z, centres, centres_sq, sigma2):
    """-||z_i - mu_t||^2 / (2 sigma2) for a block of samples, built in place in one buffer.

    The matrix product form (one BLAS call, one samples x centres buffer) replaces the published
    T x samples x D difference tensor.
    """
    a = z @ centres.T
    a -= 0.5 * centres_sq[None, :]
    a -= 0.5 * np.einsum("ij,ij->i", z, z)[:, None]
    a *= 1.0 / sigma2
    np.minimum(a, 0.0, out=a)  # rounding can push the largest values of -d2 / 2 above 0
    return a


def _mixture_log_density(samples, centres, sigma2, chunk_size):
    """log of (1/T) sum_t N(z; mu_t, sigma2 I), float64 log-sum-exp, chunked over samples."""
    n_dim = centres.shape[1]
    centres_sq = np.einsum("ij,ij->i", centres, centres)
    const = -np.log(centres.shape[0]) - 0.5 * n_dim * np.log(2 * np.pi * sigma2)
    out = np.empty(samples.shape[0])
    for start in range(0, samples.shape[0], chunk_size):
        a = _log_kernel(samples[start : start + chunk_size], centres, centres_sq, sigma2)
        amax = a.max(axis=1)
        a -= amax[:, None]
        np.exp(a, out=a)
        out[start : start + chunk_size] = amax + np.log(a.sum(axis=1)) + const
    return out


def _mixture_density_float32(samples, centres, sigma2, chunk_size):
    """The published float32 density: mean_t exp(-d2 / (2 sigma2)) / sigma^D, underflow included."""
    n_dim = centres.shape[1]
    centres_sq = np.einsum("ij,ij->i", centres, centres)
    scale = np.float32(np.sqrt(sigma2) ** n_dim)
    n_centres = np.float32(centres.shape[0])
    out = np.empty(samples.shape[0], dtype=np.float32)
    for start in range(0, samples.shape[0], chunk_size):
        dens = np.exp(_log_kernel(samples[start : start + chunk_size], centres, centres_sq, sigma2).astype(np.float32))
        dens /= scale
        out[start : start + chunk_size] = dens.sum(axis=1, dtype=np.float32) / n_centres
    return out
