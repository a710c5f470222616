"""Spike times (one sorted array per neuron, as in an NWB units table) to the count arrays the estimators take."""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import check_numeric, check_positive_float, check_real

__all__ = ["bin_spike_times"]

# Relative tolerance for "a whole number of bins": 0.3 s / 0.1 s is 2.9999999999999996 in floating point.
_BIN_TOL = 1e-9


def first_non_finite(values) -> int | None:
    """Index of the first NaN or infinite entry of a 1-D array, or None when all are finite."""
    bad = ~np.isfinite(values)
    return int(np.argmax(bad)) if bad.any() else None


def first_decrease(times) -> int | None:
    """Index ``j`` of the first entry smaller than the one before it (``times[j] < times[j - 1]``), or None
    when ``times`` never decreases."""
    down = np.diff(times) < 0
    return int(np.argmax(down)) + 1 if down.any() else None


def _check_spike_times(spike_times) -> list[np.ndarray]:
    """One finite, sorted float64 array per neuron."""
    if isinstance(spike_times, (str, bytes, dict)) or not hasattr(spike_times, "__len__"):
        raise TypeError("spike_times must be a list of 1-D arrays of spike times, one per neuron (e.g. an NWB "
                        f"units table's spike_times column); got a {type(spike_times).__name__}.")
    neurons = list(spike_times)
    if not neurons:
        raise ValueError("spike_times is empty; it needs one array of spike times per neuron.")
    if all(isinstance(t, numbers.Real) and not isinstance(t, (bool, np.bool_)) for t in neurons):
        raise ValueError("spike_times must be a list of 1-D arrays, one per neuron; got a flat sequence of "
                         "numbers. For a single neuron pass [times].")
    out = []
    for i, times in enumerate(neurons):
        if isinstance(times, (str, bytes)):
            raise ValueError(f"spike_times[{i}] is a string; spike times must be numbers.")
        t = check_numeric(times, f"spike_times[{i}]", allow_nan=True)
        if t.ndim != 1:
            raise ValueError(f"spike_times[{i}] must be a 1-D array of times; got shape {t.shape}.")
        j = first_non_finite(t)
        if j is not None:
            raise ValueError(f"spike_times[{i}] holds a non-finite time ({t[j]} at position {j}); spike times must "
                             "be finite numbers.")
        j = first_decrease(t)
        if j is not None:
            raise ValueError(
                f"spike_times[{i}] is not sorted: {float(t[j])!r} (position {j}) comes after {float(t[j - 1])!r}. "
                "Spike times must be in increasing order per neuron; sort them first (np.sort)."
            )
        out.append(t)
    return out


def _n_bins(length: float, bin_size: float, what: str, *, exact: bool) -> int:
    """Number of bins of ``bin_size`` in ``length``: whole bins only (``exact``: it must be a multiple)."""
    ratio = length / bin_size
    n = int(np.floor(ratio + _BIN_TOL * max(ratio, 1.0)))
    if n < 1:
        raise ValueError(f"bin_size={bin_size!r} is longer than {what} ({length!r}); no bin fits.")
    if exact and abs(ratio - round(ratio)) > _BIN_TOL * max(ratio, 1.0):
        raise ValueError(f"{what} ({length!r}) is not a whole number of bins of bin_size={bin_size!r} "
                         f"({ratio:.6g} bins); choose a window or bin size that divide evenly.")
    return n


def _counts(times: list[np.ndarray], edges: np.ndarray) -> np.ndarray:
    """Spikes of each neuron in the half-open bins [edges[..., k], edges[..., k + 1]); neurons on the last axis."""
    out = np.empty(edges[..., :-1].shape + (len(times),))
    for i, t in enumerate(times):
        at = np.searchsorted(t, edges, side="left")  # spikes before each edge
        out[..., i] = np.diff(at, axis=-1)
    return out


def bin_spike_times(spike_times, *, bin_size, trial_starts=None, window=None, t_start=None, t_stop=None):
    """Bin spike times per neuron into spike counts: trials aligned on start times, or one recording.

    Spike data usually come as spike times per neuron (an NWB file's units table, the output of a spike
    sorter), while the estimators take counts per time bin. With ``trial_starts`` the counts are cut
    around each trial's start (an event time: stimulus onset, go cue) into the 3-D array
    ``(n_trials, n_bins, n_neurons)``; without, the whole recording becomes one 2-D array
    ``(n_bins, n_neurons)``, which the estimators fit on random windows. Bins are half-open,
    ``[left, left + bin_size)``, so a spike on a bin edge counts in the later bin.

    Parameters
    ----------
    spike_times : sequence of array-like of shape (n_spikes_i,)
        One 1-D array of spike times per neuron, sorted in increasing order (e.g. the ``spike_times``
        column of an NWB units table: ``nwbfile.units["spike_times"][:]``). Neurons without spikes are
        empty arrays. Times in any unit, the same as ``bin_size``'s (NWB: seconds).
    bin_size : float > 0
        Width of a time bin.
    trial_starts : array-like of shape (n_trials,), default=None
        Times the trials are aligned on (any order; windows may overlap). None: one continuous recording.
    window : (float, float), default=None
        ``(before, after)``, required with ``trial_starts``: trial ``i`` covers
        ``[trial_starts[i] - before, trial_starts[i] + after)`` and its bin ``k`` is
        ``[trial_starts[i] - before + k * bin_size, ... + bin_size)``. ``before + after`` must be a whole
        number of bins. A negative ``before`` starts the window after the event.
    t_start, t_stop : float, default=None
        Extent of the recording. Trials: every window must lie within ``[t_start, t_stop]`` where given.
        One recording: the bins start at ``t_start`` (default: 0, or the earliest spike if that is
        negative) and stop at ``t_stop`` (default: just past the latest spike, whose bin is the last);
        a last bin that would end after ``t_stop`` is dropped, and spikes outside the bins are not
        counted.

    Returns
    -------
    counts : ndarray of shape (n_trials, n_bins, n_neurons) or (n_bins, n_neurons)
        Spike counts (integers stored as float64, as the estimators and ``make_poisson_teacher`` use).

    Raises
    ------
    ValueError
        For unsorted or non-finite spike times, a bin size that is not a positive finite number or does
        not divide the trial window, a missing or empty window, windows outside ``[t_start, t_stop]``,
        or ``t_stop <= t_start``.
    TypeError
        For ``spike_times`` that is not a sequence of arrays (a string, a dict), or a bin size, window or
        time that is not a number.

    See Also
    --------
    sklearn_lrnn.StochasticLowRankRNN : ``observation="poisson"`` fits the counts.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.preprocessing import bin_spike_times
    >>> spike_times = [np.array([0.05, 0.12, 0.31, 1.02]), np.array([0.5, 1.07, 1.08])]
    >>> counts = bin_spike_times(spike_times, bin_size=0.1, trial_starts=[0.1, 1.0], window=(0.1, 0.2))
    >>> counts.shape  # (trials, bins, neurons)
    (2, 3, 2)
    >>> counts[:, :, 0]  # neuron 0: bins [0, .1), [.1, .2), [.2, .3) of trial 0, [.9, 1), ... of trial 1
    array([[1., 1., 0.],
           [0., 1., 0.]])
    >>> bin_spike_times(spike_times, bin_size=0.5).T  # one recording from t = 0: bins [0, .5), [.5, 1), [1, 1.5)
    array([[3., 0., 1.],
           [0., 1., 2.]])
    """
    times = _check_spike_times(spike_times)
    bin_size = check_positive_float(bin_size, "bin_size")
    t_start = None if t_start is None else check_real(t_start, "t_start")
    t_stop = None if t_stop is None else check_real(t_stop, "t_stop")
    if t_start is not None and t_stop is not None and t_stop <= t_start:
        raise ValueError(f"t_stop={t_stop!r} must be later than t_start={t_start!r}.")

    if trial_starts is None:
        if window is not None:
            raise ValueError("window is the extent of each trial around its start; pass trial_starts with it, or "
                             "leave both out to bin one continuous recording.")
        nonempty = [t for t in times if len(t)]
        first = min(t[0] for t in nonempty) if nonempty else 0.0
        last = max(t[-1] for t in nonempty) if nonempty else None
        if t_start is None:
            t_start = min(0.0, first)
        if t_stop is None:
            if last is None or last < t_start:
                raise ValueError("no spike at or after t_start: pass t_stop to bin an empty recording.")
            n = int(np.floor((last - t_start) / bin_size)) + 1  # the latest spike's bin is the last one
            while t_start + n * bin_size <= last:  # rounding in the division, either way
                n += 1
            while n > 1 and t_start + (n - 1) * bin_size > last:
                n -= 1
        else:
            if t_stop <= t_start:
                raise ValueError(f"t_stop={t_stop!r} must be later than t_start={t_start!r}.")
            n = _n_bins(t_stop - t_start, bin_size, "the recording t_stop - t_start", exact=False)
        return _counts(times, t_start + np.arange(n + 1) * bin_size)

    starts = check_numeric(trial_starts, "trial_starts", allow_nan=True)
    if starts.ndim != 1 or starts.size == 0:
        raise ValueError(f"trial_starts must be a non-empty 1-D array of times; got shape {starts.shape}.")
    if not np.all(np.isfinite(starts)):
        raise ValueError("trial_starts holds NaN or infinite times; pass finite numbers.")
    if window is None:
        raise ValueError("window=(before, after) is required with trial_starts: each trial covers "
                         "[start - before, start + after).")
    if isinstance(window, (str, bytes)) or np.ndim(window) != 1 or len(window) != 2:
        raise ValueError(f"window must be a pair (before, after) of times; got {window!r}.")
    before, after = check_real(window[0], "window[0] (before)"), check_real(window[1], "window[1] (after)")
    if before + after <= 0:
        raise ValueError(f"window={window!r} is empty: a trial covers [start - before, start + after), so "
                         "before + after must be > 0.")
    n = _n_bins(before + after, bin_size, "the window before + after", exact=True)
    lefts = starts - before
    if t_start is not None and lefts.min() < t_start:
        i = int(np.argmin(lefts))
        raise ValueError(f"the window of trial {i} starts at {float(lefts[i])!r}, before t_start={t_start!r}: its "
                         "counts would miss the time the recording did not cover. Drop the trial or shorten "
                         "the window.")
    rights = lefts + n * bin_size
    if t_stop is not None and rights.max() > t_stop:
        i = int(np.argmax(rights))
        raise ValueError(f"the window of trial {i} ends at {float(rights[i])!r}, after t_stop={t_stop!r}: its counts "
                         "would miss the time the recording did not cover. Drop the trial or shorten the window.")
    edges = lefts[:, None] + np.arange(n + 1) * bin_size  # (n_trials, n_bins + 1)
    return _counts(times, edges)
