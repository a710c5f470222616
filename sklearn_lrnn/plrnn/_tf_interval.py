"""Sparse-teacher-forcing interval from the data: mutual-information minimum or autocorrelation time."""

from __future__ import annotations

import numpy as np

from .._validation import check_positive_int, check_sequences

__all__ = ["estimate_tf_interval"]


def _autocorr_time(trials, max_lag):
    """First lag at which the channel-averaged autocorrelation falls below 1/e."""
    acs = []
    for x in trials:
        x = x - x.mean(axis=0)
        var = (x * x).mean(axis=0) + 1e-12
        acs.append([np.mean((x[lag:] * x[:-lag]).mean(axis=0) / var) for lag in range(1, max_lag + 1)])
    ac = np.mean(acs, axis=0)
    below = np.nonzero(ac < np.exp(-1))[0]
    return int(below[0] + 1) if below.size else max_lag


def _mutual_information_min(trials, max_lag, n_bins=16):
    """First local minimum of the time-delayed mutual information (Fraser & Swinney 1986), or None.

    Channels are rank-transformed (equiprobable bins: less binning noise), and the MI curve is
    smoothed over 3 lags before looking for the minimum."""
    ranked = []
    for x in trials:
        r = np.argsort(np.argsort(x, axis=0), axis=0)
        ranked.append(np.minimum((r * n_bins) // len(x), n_bins - 1))
    mis = []
    for lag in range(1, max_lag + 1):
        vals = []
        for r in ranked:
            if len(r) <= lag + 1:
                continue
            for c in range(r.shape[1]):
                pxy = np.bincount(r[:-lag, c] * n_bins + r[lag:, c], minlength=n_bins * n_bins).astype(float)
                pxy = pxy.reshape(n_bins, n_bins) / pxy.sum()
                px, py = pxy.sum(1, keepdims=True), pxy.sum(0, keepdims=True)
                nz = pxy > 0
                vals.append(float((pxy[nz] * np.log(pxy[nz] / (px @ py)[nz])).sum()))
        mis.append(np.mean(vals) if vals else np.nan)
    mis = np.convolve(np.asarray(mis), np.ones(3) / 3, mode="same")
    for i in range(2, len(mis) - 2):
        if mis[i] < mis[i - 1] and mis[i] <= mis[i + 1]:
            return i + 1
    return None


def estimate_tf_interval(X, *, max_interval=200):
    """Estimate a sparse-teacher-forcing interval from the data.

    The first local minimum of the time-delayed mutual information (the lag after which a sample
    carries the least redundant information about its successor); when there is none within
    ``max_interval`` lags, the lag at which the autocorrelation drops below 1/e.

    Parameters
    ----------
    X : array-like
        Data in any accepted layout (2-D recording, 3-D trials, list of trials).
    max_interval : int, default=200
        Largest interval considered (capped by the shortest trial).

    Returns
    -------
    tau : int
        The interval, at least 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.plrnn import estimate_tf_interval
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(3000)[:, None]
    >>> X = np.sin(2 * np.pi * t / 100) + 0.1 * rng.standard_normal((3000, 1))
    >>> 15 <= estimate_tf_interval(X) <= 35  # about a quarter period
    True
    """
    max_interval = check_positive_int(max_interval, "max_interval")
    trials = check_sequences(X, min_length=3, length_hint="to estimate an interval; pass longer sequences.").trials
    max_lag = int(max(1, min(max_interval, min(len(t) for t in trials) - 2)))
    # the estimate only needs the first ~10^4 samples of each trial
    trials = [t[:20_000] for t in trials[:50]]
    tau = _mutual_information_min(trials, max_lag)
    if tau is None:
        tau = _autocorr_time(trials, max_lag)
    return max(1, int(tau))
