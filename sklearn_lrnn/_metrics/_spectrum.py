"""Power-spectrum distance D_H (Hellinger distance of smoothed, normalised power spectra)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ._checks import check_nonnegative_float, check_one, check_pair, check_positive_int

__all__ = ["power_spectrum_distance", "power_spectra"]


def _segments(seq, length):
    """Cut every trial into non-overlapping segments of ``length`` steps (the remainder is dropped)."""
    segs = []
    for trial in seq.trials:
        n = trial.shape[0] // length
        if n:
            segs.append(trial[: n * length].reshape(n, length, trial.shape[1]))
    return np.concatenate(segs, axis=0)  # (n_segments, length, n_features)


def _mean_power(segments, name):
    """Per-channel z-scored |rfft|^2, averaged over segments: shape (n_freqs, n_features)."""
    mean = segments.mean(axis=1, keepdims=True)
    sd = segments.std(axis=1, keepdims=True)
    constant = sd[..., 0, :] == 0
    sd = np.where(sd == 0, 1.0, sd)  # a constant segment has zero power after centring
    power = np.abs(np.fft.rfft((segments - mean) / sd, axis=1)) ** 2
    if name == "X_true" and np.any(np.all(constant, axis=0)):
        k = int(np.flatnonzero(np.all(constant, axis=0))[0])
        raise ValueError(f"channel {k} of X_true is constant; its power spectrum is undefined. Drop it.")
    return power.mean(axis=0)


def power_spectra(X, *, segment_length=None, smoothing_sigma=20):
    """Smoothed, normalised power spectrum of every channel (the densities compared by D_H).

    Parameters
    ----------
    X : array-like of shape (n_timesteps, n_features) or (n_trials, n_timesteps, n_features), or list of 2-D arrays
        Data.
    segment_length : int or None, default=None
        Length of the segments the spectra are averaged over; ``None``: the shortest trial.
    smoothing_sigma : float, default=20
        Width (in frequency bins) of the Gaussian smoothing kernel (``scipy.ndimage.gaussian_filter1d``,
        reflecting boundaries, truncated at 4 sigma); 0 disables smoothing.

    Returns
    -------
    spectra : ndarray of shape (segment_length // 2 + 1, n_features)
        Each column sums to 1 (all zeros for a constant channel).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import power_spectra
    >>> t = np.arange(512)
    >>> p = power_spectra(np.sin(2 * np.pi * t / 32)[:, None], smoothing_sigma=0)
    >>> int(np.argmax(p[:, 0]))  # 512 / 32 = frequency bin 16
    16
    """
    smoothing_sigma = check_nonnegative_float(smoothing_sigma, "smoothing_sigma")
    seq = check_one(X, name="X", min_length=4)
    length = int(seq.lengths.min()) if segment_length is None else check_positive_int(segment_length, "segment_length")
    if length < 4 or length > seq.lengths.max():
        raise ValueError(f"segment_length={segment_length} must be >= 4 and no longer than the longest trial of X "
                         f"({seq.lengths.max()} steps).")
    return _normalised_spectra(seq, length, smoothing_sigma, "X")


def _normalised_spectra(seq, length, smoothing_sigma, name):
    power = _mean_power(_segments(seq, length), name)
    if smoothing_sigma and smoothing_sigma > 0:
        power = gaussian_filter1d(power, float(smoothing_sigma), axis=0, mode="reflect", truncate=4.0)
    total = power.sum(axis=0, keepdims=True)
    return np.divide(power, total, out=np.zeros_like(power), where=total > 0)


def power_spectrum_distance(X_true, X_gen, *, smoothing_sigma=20, segment_length=None):
    """Power-spectrum distance D_H: mean over channels of the Hellinger distance of the power spectra.

    Per channel: z-score, ``|rfft|^2``, Gaussian smoothing over ``smoothing_sigma`` frequency bins,
    normalisation to a density ``p``; ``D_H = mean_channels (1 / sqrt 2) ||sqrt p_true - sqrt p_gen||_2``,
    in [0, 1].

    Trials: both data sets are cut into non-overlapping segments of ``segment_length`` steps (default:
    the shortest trial of either set, so equal-length trials are used whole and a long generated
    recording is compared segment-wise with short trials); each segment is z-scored per channel and the
    power spectra are averaged over segments (Welch's estimate without overlap or window) before
    smoothing. For one recording each, of equal lengths, this is exactly the published D_H.

    Parameters
    ----------
    X_true : array-like of shape (n_timesteps, n_features) or (n_trials, n_timesteps, n_features), or list of 2-D arrays
        Observed data.
    X_gen : same containers as ``X_true``
        Generated data with the same number of features.
    smoothing_sigma : float, default=20
        Width of the Gaussian smoothing in frequency bins (0 disables it).
    segment_length : int or None, default=None
        Segment length; ``None``: the shortest trial of both sets (at least 4 steps).

    Returns
    -------
    distance : float
        0 for identical spectra, 1 for disjoint ones. A generated channel that is constant has no power
        anywhere and counts as distance 1.

    Notes
    -----
    The smoothing width is in frequency bins, so it matters relative to the ``segment_length // 2 + 1``
    bins of the spectrum: with the default ``smoothing_sigma=20`` and short trials (say 30 steps, 16
    bins) every spectrum is smoothed nearly flat and D_H is close to 0 for any pair; lower
    ``smoothing_sigma`` for short trials. The published setting is sigma 20 on recordings of thousands
    of steps.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import power_spectrum_distance
    >>> t = np.arange(4000)[:, None]
    >>> power_spectrum_distance(np.sin(t / 5.0), np.sin(t / 5.0))
    0.0
    >>> round(power_spectrum_distance(np.sin(t / 5.0), np.sin(t / 50.0)), 2)  # peaks 115 bins apart
    0.97
    """
    smoothing_sigma = check_nonnegative_float(smoothing_sigma, "smoothing_sigma")
    a, b = check_pair(X_true, X_gen, min_length=4)
    if segment_length is None:
        length = int(min(a.lengths.min(), b.lengths.min()))
    else:
        length = check_positive_int(segment_length, "segment_length")
        if length < 4 or length > min(a.lengths.max(), b.lengths.max()):
            raise ValueError(
                f"segment_length={segment_length} must be >= 4 and no longer than the longest trial of "
                "both X_true and X_gen."
            )
    p = _normalised_spectra(a, length, smoothing_sigma, "X_true")
    q = _normalised_spectra(b, length, smoothing_sigma, "X_gen")
    per_channel = np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=0))
    # a constant generated channel has no spectrum (q = 0): score it as the worst case, disjoint spectra
    per_channel[q.sum(axis=0) == 0] = 1.0
    return float(np.mean(per_channel))
