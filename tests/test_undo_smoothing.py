"""sklearn_lrnn.preprocessing.undo_smoothing: Wiener deconvolution of a known smoothing kernel."""

import numpy as np
import pytest
from scipy.ndimage import convolve1d
from scipy.signal import windows

from sklearn_lrnn.preprocessing import undo_smoothing


def _smooth(X, w):
    return convolve1d(X, w / w.sum(), axis=-2, mode="wrap")  # circular, as the deconvolution assumes


def test_inverts_a_circular_smoothing_where_the_kernel_passes():
    rng = np.random.default_rng(0)
    w = windows.hann(15)
    raw = rng.standard_normal((3, 400, 2))
    raw = np.fft.irfft(np.fft.rfft(raw, axis=1) * (np.arange(201) < 40)[None, :, None], n=400, axis=1)  # < 16 Hz
    est = undo_smoothing(_smooth(raw, w), w, eps=1e-6)
    assert est.shape == raw.shape
    np.testing.assert_allclose(est, raw, atol=1e-3 * np.abs(raw).max())
    # eps trades recovery for noise: a larger one leaves the attenuated band partly attenuated
    partial = undo_smoothing(_smooth(raw, w), w, eps=0.1)
    assert np.std(_smooth(raw, w)) < np.std(partial) < np.std(raw)


def test_containers_and_asymmetric_kernel():
    rng = np.random.default_rng(1)
    w = np.array([0.0, 1.0, 2.0, 0.5])  # even length, not symmetric: tap 2 on the current step (convolve1d)
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal(300)) * (np.arange(151) < 30), n=300)[:, None]
    np.testing.assert_allclose(undo_smoothing(_smooth(x, w), w, eps=1e-9), x, atol=1e-6)
    trials = [rng.standard_normal((60, 3)), rng.standard_normal((45, 3))]
    out = undo_smoothing(trials, w, eps=1e-3)
    assert isinstance(out, list) and [o.shape for o in out] == [(60, 3), (45, 3)]
    two_d = undo_smoothing(trials[0], w, eps=1e-3)
    np.testing.assert_allclose(two_d, out[0])
    # scale: the kernel is normalised, so undoing a constant smoothing leaves constants alone
    np.testing.assert_allclose(undo_smoothing(np.ones((50, 1)), 3 * w), 1 / (1 + 0.01), rtol=1e-12)


def test_bad_input():
    X = np.zeros((30, 2))
    with pytest.raises(ValueError, match="eps must be a positive number"):
        undo_smoothing(X, windows.hann(5), eps=0)
    with pytest.raises(ValueError, match="1-D array of finite filter taps"):
        undo_smoothing(X, np.ones((2, 2)))
    with pytest.raises(ValueError, match="positive sum"):
        undo_smoothing(X, [1.0, -1.0])
    with pytest.raises(ValueError, match="NaN|finite"):
        undo_smoothing(np.full((30, 2), np.nan), windows.hann(5))
    with pytest.raises(ValueError):
        undo_smoothing(np.zeros((3, 2)), windows.hann(5))  # shorter than the kernel
