"""Undo a known linear smoothing of a recording (Wiener deconvolution), for fitting models to it."""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_sequences, restore

__all__ = ["undo_smoothing"]


def _check_window(window):
    w = np.asarray(window, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)):
        raise ValueError(f"window must be a 1-D array of finite filter taps; got shape {w.shape}.")
    if not w.sum() > 0:
        raise ValueError("window must have a positive sum (a smoothing kernel, e.g. scipy.signal.windows.hann(15)).")
    return w / w.sum()


def undo_smoothing(X, window, *, eps=0.01):
    """Approximately undo a known smoothing of the time axis (regularised Wiener deconvolution).

    A recording that was smoothed with a kernel ``w`` (centred as in ``scipy.ndimage.convolve1d``; for an
    odd number of taps also as ``np.convolve(x, w, mode="same")``) is almost perfectly predictable one step ahead. Models fitted by
    one-step-ahead filtering (:class:`~sklearn_lrnn.StochasticLowRankRNN`) then drift towards slow,
    noise-driven linear dynamics, and generated data smoothed once more for comparison are smoothed
    twice. Fitting the deconvolved recording instead, and smoothing only the generated data, avoids both.
    Per trial and channel::

        X_hat(f) = X(f) conj(H(f)) / (|H(f)|^2 + eps)

    with ``H`` the frequency response of the normalised kernel (``H(0) = 1``) over the trial's length
    (circular). Where the kernel removed a frequency (``|H|^2 << eps``) nothing is recovered. Adding
    white noise to the result stands in for the removed high-frequency content of the raw signal.

    Parameters
    ----------
    X : array-like of shape (n_timesteps, n_features) or (n_trials, n_timesteps, n_features), or list of 2-D arrays
        The smoothed recording.
    window : array-like of shape (n_taps,)
        The smoothing kernel's taps (normalised here), e.g. ``scipy.signal.windows.hann(15)``; tap
        ``n_taps // 2`` weighs the current step.
    eps : float, default=0.01
        Regulariser relative to ``|H(0)|^2 = 1``: smaller recovers more of the attenuated band and amplifies
        more noise.

    Returns
    -------
    X_raw : same container and shape as ``X``
        The deconvolved recording (not re-standardised).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import windows
    >>> from sklearn_lrnn.preprocessing import undo_smoothing
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(2000)
    >>> raw = np.sin(2 * np.pi * t / 12)[:, None] + 0.1 * rng.standard_normal((2000, 1))
    >>> w = windows.hann(15) / windows.hann(15).sum()
    >>> smoothed = np.convolve(raw[:, 0], w, mode="same")[:, None]  # a 12-step rhythm loses 60 % of its amplitude
    >>> round(float(np.std(smoothed) / np.std(raw)), 2)
    0.38
    >>> est = undo_smoothing(smoothed, windows.hann(15), eps=1e-3)
    >>> round(float(np.std(est[50:-50]) / np.std(raw)), 2)
    0.99
    """
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a positive number; got {eps!r}.")
    w = _check_window(window)
    seq = check_sequences(X, min_length=w.size)
    out = []
    for trial in seq.trials:
        T = trial.shape[0]
        kernel = np.zeros(T)
        kernel[: w.size] = w
        H = np.fft.rfft(np.roll(kernel, -(w.size // 2)))[:, None]  # centred kernel: zero phase for odd symmetric w
        F = np.fft.rfft(trial, axis=0)
        out.append(np.fft.irfft(F * np.conj(H) / (np.abs(H) ** 2 + eps), n=T, axis=0))
    return restore(out, seq.layout)
