"""Preprocessing for trial-structured data: per-time-bin use of any scikit-learn estimator
(:class:`PerTimeBin`), undoing a known smoothing of a recording (:func:`undo_smoothing`) and spike times
to counts (:func:`bin_spike_times`).

``_per_time_bin`` holds :class:`PerTimeBin`, ``_deconvolution`` the Wiener deconvolution of
:func:`undo_smoothing` (not to be confused with the latent smoother of the engine,
``sklearn_lrnn._engine.smoothing``); :func:`bin_spike_times` lives in ``sklearn_lrnn._spikes``, which the
spike-train datasets share.
"""

from .._spikes import bin_spike_times
from ._deconvolution import undo_smoothing
from ._per_time_bin import PerTimeBin

__all__ = ["PerTimeBin", "bin_spike_times", "undo_smoothing"]
