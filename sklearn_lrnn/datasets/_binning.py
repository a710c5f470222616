"""Spike counts of the running laps on a linear track: the trials a place-cell recording is fitted on."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.utils import Bunch

from .._spikes import _check_spike_times, _counts, first_decrease, first_non_finite
from .._validation import _is_int, check_nonnegative_float, check_numeric, check_positive_float

__all__ = ["bin_running_periods", "running_speed"]

_SPLITS = ("lap", "run")


def _check_tracking(position_time, position):
    """Finite 1-D float arrays of equal length; time never goes backwards (repeats tolerated)."""
    t = check_numeric(position_time, "position_time", allow_nan=True)
    x = check_numeric(position, "position", allow_nan=True)
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"position_time must be a 1-D array of at least 2 sample times; got shape {t.shape}.")
    if x.ndim != 1:
        raise ValueError(f"position must be a 1-D array (the position along the track, one value per sample of "
                         f"position_time); got shape {x.shape}.")
    if x.size != t.size:
        raise ValueError(f"position has {x.size} samples but position_time has {t.size}; they must have the same "
                         "length (one position per video frame).")
    for arr, name in ((t, "position_time"), (x, "position")):
        j = first_non_finite(arr)
        if j is not None:
            raise ValueError(f"{name} holds a non-finite value ({arr[j]} at index {j}); drop or interpolate the "
                             "untracked frames first.")
    j = first_decrease(t)
    if j is not None:
        raise ValueError(f"position_time must be increasing: {t[j]!r} (index {j}) comes after {t[j - 1]!r}. "
                         "Sort the frames by time first.")
    # A repeated frame time (a camera-clock glitch: the shared linear-track recording has one in 118,965
    # frames) carries no information on speed; keep the first frame at each time.
    keep = np.r_[True, np.diff(t) > 0]
    if keep.sum() < 2:
        raise ValueError("position_time must increase: all its samples have the same time.")
    return t, x, keep


def running_speed(position_time, position, *, sigma=0.1):
    """Speed along the track, smoothed in time, at every position sample.

    The position is resampled onto a regular grid at the median frame interval, smoothed with a Gaussian of
    standard deviation ``sigma`` seconds (tracking jitter of a pixel between frames is otherwise a speed of
    60 pixels/s at 60 Hz), differentiated, and read back at the sample times.

    Parameters
    ----------
    position_time : array-like of shape (n_samples,)
        Sample times in seconds, increasing (a repeated time is tolerated; its first sample is used).
    position : array-like of shape (n_samples,)
        Position along the track at each sample, in any unit.
    sigma : float > 0, default=0.1
        Standard deviation of the Gaussian smoothing, in seconds.

    Returns
    -------
    speed : ndarray of shape (n_samples,)
        Absolute speed in position units per second.
    """
    t, x, keep = _check_tracking(position_time, position)
    sigma = check_positive_float(sigma, "sigma")
    tu, xu = t[keep], x[keep]
    dt = float(np.median(np.diff(tu)))
    grid = tu[0] + dt * np.arange(int(np.floor((tu[-1] - tu[0]) / dt)) + 1)
    if grid.size < 2:  # two frames less than a frame interval apart: no derivative to take
        return np.zeros_like(t)
    smooth = ndimage.gaussian_filter1d(np.interp(grid, tu, xu), sigma / dt, mode="nearest")
    return np.interp(t, grid, np.abs(np.gradient(smooth, dt)))


def _spike_lists(spike_times, spike_units, n_units):
    """One sorted array per unit, from a list per unit or from flat (times, unit ids)."""
    if spike_units is None:
        if n_units is not None:
            raise ValueError("n_units is the number of units for flat spike_times with spike_units; leave it out "
                             "when spike_times is a list with one array per unit.")
        return _check_spike_times(spike_times)
    times = check_numeric(spike_times, "spike_times", allow_nan=True)
    units = np.asarray(spike_units)
    if times.ndim != 1 or units.ndim != 1 or times.size != units.size:
        raise ValueError(f"with spike_units, spike_times must be a flat 1-D array of all spikes and spike_units the "
                         f"unit of each spike, of the same length; got shapes {times.shape} and {units.shape}.")
    if units.size and not (np.issubdtype(units.dtype, np.integer)
                           or (np.issubdtype(units.dtype, np.floating) and np.all(units == np.round(units)))):
        raise ValueError(f"spike_units must hold integer unit ids; got dtype {units.dtype}.")
    units = units.astype(np.int64)
    if n_units is None:
        n_units = int(units.max()) + 1 if units.size else 0
    elif not _is_int(n_units) or n_units < 1:
        raise ValueError(f"n_units must be a positive integer; got {n_units!r}.")
    if units.size and (units.min() < 0 or units.max() >= n_units):
        j = int(np.argmax((units < 0) | (units >= n_units)))
        raise ValueError(f"spike_units[{j}] = {units[j]} is out of range: unit ids must lie in [0, n_units) = "
                         f"[0, {n_units}).")
    if n_units < 1:
        raise ValueError("spike_times is empty; it needs at least one spike or n_units.")
    return _check_spike_times([times[units == u] for u in range(n_units)])


def _runs(mask):
    """(start, stop) index pairs of the runs of True in ``mask``, stop exclusive."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2], edges[1::2]))


def _laps(x, running, end_zone):
    """Traversals between the track ends: (last sample in one end zone, first in the other, direction).

    The ends are the 1st and 99th percentiles of the position while running, so that where the animal rests
    (the shared recording: x = 522 px, off the track's running range) does not stretch the track.
    """
    ran = x[running] if running.sum() >= 2 else x
    lo, hi = np.percentile(ran, [1, 99])
    if hi <= lo:
        return [], (float(lo), float(hi))
    zone = np.zeros(x.size, np.int8)
    zone[x <= lo + end_zone * (hi - lo)] = -1
    zone[x >= hi - end_zone * (hi - lo)] = 1
    idx = np.flatnonzero(zone)
    z = zone[idx]
    change = np.flatnonzero(np.diff(z))  # consecutive end-zone samples in different zones
    return [(int(idx[c]), int(idx[c + 1]), int(z[c + 1])) for c in change], (float(lo), float(hi))


def bin_running_periods(spike_times, position_time, position, *, bin_size=0.1, speed_threshold=10.0,
                        min_duration=1.0, split="lap", end_zone=0.15, speed_sigma=0.1, spike_units=None,
                        n_units=None):
    """Spike counts of the periods an animal runs on a linear track, one trial per lap.

    Place cells fire at their place fields while the animal runs; at rest the hippocampus switches to
    sharp-wave ripples with different statistics, so models of place-cell dynamics are fitted on the
    running periods only. The speed is the position's time derivative after Gaussian smoothing
    (:func:`running_speed`); a running period is a stretch where it exceeds ``speed_threshold``. A lap is
    one traversal: from the last sample in one end zone of the track to the first in the other (the ends
    are found from the position while running). With ``split="lap"`` each lap gives one trial, its longest
    running period (pauses inside a lap would make the time steps uneven); with ``split="run"`` every
    running period is a trial. Trials shorter than ``min_duration`` are dropped. Each trial is cut into
    whole bins from its start, ``[start + k * bin_size, start + (k + 1) * bin_size)``.

    Parameters
    ----------
    spike_times : sequence of array-like, or array-like of shape (n_spikes,)
        One sorted array of spike times (seconds) per unit; or, with ``spike_units``, all spikes in one
        sorted array (as in the shared ``linear_track.npz``).
    position_time : array-like of shape (n_samples,)
        Times of the position samples in seconds, increasing (a repeated time is tolerated).
    position : array-like of shape (n_samples,)
        Position along the track (e.g. :func:`fetch_linear_track`'s ``position``, camera pixels).
    bin_size : float > 0, default=0.1
        Width of a time bin in seconds.
    speed_threshold : float >= 0, default=10.0
        Running speed in position units per second (10 pixels/s on the shared recording, whose track is
        about 340 pixels long: about 3% of the track per second).
    min_duration : float >= 0, default=1.0
        Shortest trial kept, in seconds (at least one bin is always required).
    split : {"lap", "run"}, default="lap"
        One trial per lap (its longest running period), or one per running period.
    end_zone : float in (0, 0.5), default=0.15
        Fraction of the track length at each end that counts as the end.
    speed_sigma : float > 0, default=0.1
        Standard deviation in seconds of the Gaussian smoothing of the position before the derivative.
    spike_units : array-like of shape (n_spikes,), default=None
        Unit id (0 to ``n_units - 1``) of each spike when ``spike_times`` is one flat array.
    n_units : int, default=None
        Number of units with ``spike_units`` (default: the largest id + 1).

    Returns
    -------
    trials : :class:`~sklearn.utils.Bunch`
        ``X`` list of (T_i, n_units) float64 spike counts (the estimators' list-of-trials container);
        ``position``, ``speed`` and ``times`` lists of (T_i,) arrays: position and speed at the bin centres
        and the centres themselves; ``direction`` (n_trials,) +1 for a lap towards larger positions, -1 for
        the other way (``split="run"``: the sign of the net displacement); ``lap_index`` (n_trials,) the
        lap of each trial (index into all detected laps; -1 for a running period outside a lap);
        ``t_start``, ``t_stop`` (n_trials,) the binned extent of each trial; ``n_laps`` laps detected;
        ``track_ends`` (low, high) position of the track's ends; ``bin_size``, ``speed_threshold``.

    Raises
    ------
    ValueError
        For unsorted or non-finite spike times, unit ids out of range, a position of another length than
        ``position_time``, a time that goes backwards, a bin longer than the recording, a negative speed
        threshold, an unknown ``split``, or no running period long enough.

    See Also
    --------
    fetch_linear_track : a recording to bin.
    sklearn_lrnn.preprocessing.bin_spike_times : counts aligned on events, or one continuous recording.

    Examples
    --------
    >>> from sklearn_lrnn.datasets import bin_running_periods, fetch_linear_track
    >>> rec = fetch_linear_track(data_home="../shared/data")  # doctest: +SKIP
    >>> laps = bin_running_periods(rec.spike_times, rec.position_time, rec.position)  # doctest: +SKIP
    >>> len(laps.X), laps.X[0].shape[1]  # doctest: +SKIP
    (48, 31)
    """
    times = _spike_lists(spike_times, spike_units, n_units)
    t, x, _ = _check_tracking(position_time, position)
    bin_size = check_positive_float(bin_size, "bin_size")
    if bin_size > t[-1] - t[0]:
        raise ValueError(f"bin_size={bin_size!r} s is longer than the recording (position_time spans "
                         f"{t[-1] - t[0]!r} s); no bin fits.")
    speed_threshold = check_nonnegative_float(speed_threshold, "speed_threshold")
    min_duration = check_nonnegative_float(min_duration, "min_duration")
    end_zone = check_positive_float(end_zone, "end_zone")
    if end_zone >= 0.5:
        raise ValueError(f"end_zone must be a fraction of the track below 0.5 (the two end zones may not "
                         f"overlap); got {end_zone!r}.")
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}; got {split!r}.")

    speed = running_speed(t, x, sigma=speed_sigma)
    running = speed > speed_threshold
    laps, ends = _laps(x, running, end_zone)
    min_len = max(min_duration, bin_size)
    periods = []  # (first sample, last sample, direction, lap index)
    if split == "lap":
        for k, (a, b, direction) in enumerate(laps):
            runs = _runs(running[a:b + 1])
            if runs:
                s, e = max(runs, key=lambda r: t[a + r[1] - 1] - t[a + r[0]])
                periods.append((a + s, a + e - 1, direction, k))
    else:
        lap_of = np.full(t.size, -1)
        for k, (a, b, _) in enumerate(laps):
            lap_of[a:b + 1] = k
        for s, e in _runs(running):
            periods.append((s, e - 1, 1 if x[e - 1] >= x[s] else -1, int(lap_of[(s + e - 1) // 2])))

    out = Bunch(X=[], position=[], speed=[], times=[], direction=[], lap_index=[], t_start=[], t_stop=[])
    for s, e, direction, k in periods:
        start, length = t[s], t[e] - t[s]
        if length < min_len:
            continue
        n = int(np.floor(length / bin_size + 1e-9))
        edges = start + bin_size * np.arange(n + 1)
        centres = edges[:-1] + bin_size / 2
        out.X.append(_counts(times, edges))
        out.position.append(np.interp(centres, t, x))
        out.speed.append(np.interp(centres, t, speed))
        out.times.append(centres)
        out.direction.append(direction)
        out.lap_index.append(k)
        out.t_start.append(edges[0])
        out.t_stop.append(edges[-1])
    if not out.X:
        raise ValueError(
            f"no running period found: the speed exceeds speed_threshold={speed_threshold!r} for at least "
            f"max(min_duration, bin_size)={min_len!r} s {'within a lap ' if split == 'lap' else ''}nowhere "
            f"(the largest smoothed speed is {float(speed.max()):.3g} position units/s; {len(laps)} laps "
            "detected). Lower speed_threshold or min_duration, or check that position is the coordinate "
            "along the track.")
    for key in ("direction", "lap_index"):
        out[key] = np.asarray(out[key], dtype=np.int64)
    for key in ("t_start", "t_stop"):
        out[key] = np.asarray(out[key], dtype=np.float64)
    out.update(n_laps=len(laps), track_ends=ends, bin_size=bin_size, speed_threshold=speed_threshold)
    return out
