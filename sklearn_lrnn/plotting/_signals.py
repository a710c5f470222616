"""Observed against generated data: traces over time and power spectra."""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_positive_float
from ._common import check_channels, check_pair, new_axes, pyplot

__all__ = ["plot_traces", "plot_power_spectra"]


def plot_traces(X_true, X_gen=None, *, channels=None, n_timesteps=None, trial=0, dt=1.0, ax=None,
                labels=("data", "generated")):
    """Observed (and generated) traces of a few channels, one row per channel.

    Parameters
    ----------
    X_true : array-like
        Observed data in any of the three layouts.
    X_gen : array-like, optional
        Generated data (e.g. from ``sample``) with the same channels, drawn dashed on top.
    channels : list of int, optional
        Channels to show; default the first three.
    n_timesteps : int, optional
        Show only the first ``n_timesteps`` steps (default: the whole trial).
    trial : int, default=0
        Trial of ``X_true`` and of ``X_gen`` to show (ignored for a 2-D recording).
    dt : float, default=1.0
        Time step; the x axis is in seconds when ``dt != 1``, in time steps otherwise.
    ax : matplotlib Axes or sequence of Axes, optional
        None: a new figure with one panel per channel. One Axes: the channels are stacked in it with
        vertical offsets. A sequence of ``len(channels)`` Axes: one channel in each.
    labels : pair of str, default=("data", "generated")
        Legend labels of the observed and the generated traces.

    Returns
    -------
    axes : ndarray of Axes (one per channel), or the Axes passed as ``ax``

    Examples
    --------
    >>> from sklearn_lrnn.datasets import make_lorenz63
    >>> from sklearn_lrnn.plotting import plot_traces
    >>> X = make_lorenz63(500, random_state=0)
    >>> axes = plot_traces(X[:250], X[250:], dt=0.01)
    >>> len(axes)
    3
    """
    true, gen = check_pair(X_true, X_gen, allow_nan=True)
    chans = check_channels(channels, true.n_features, default=3)
    if n_timesteps is not None and (not isinstance(n_timesteps, numbers.Integral) or n_timesteps < 1):
        raise ValueError(f"n_timesteps must be a positive integer or None; got {n_timesteps!r}.")
    dt = check_positive_float(dt, "dt")
    picked = []
    for seq, name in ((true, "X_true"), (gen, "X_gen")):
        if seq is None:
            continue
        if not isinstance(trial, numbers.Integral) or isinstance(trial, bool) or not 0 <= trial < len(seq):
            raise ValueError(f"trial={trial!r} is not a trial index of {name}, which has {len(seq)} trial(s).")
        picked.append(seq.trials[trial][:n_timesteps, chans])
    seconds = dt != 1.0
    styles = [dict(color="black", linewidth=1.2, label=labels[0]),
              dict(color="tab:orange", linewidth=1.2, linestyle="--", label=labels[1])]
    title = "Observed traces" if gen is None else "Observed vs generated traces"
    if true.layout != "2d":
        title += f", trial {trial}"

    if ax is not None and not isinstance(ax, (list, tuple, np.ndarray)):  # one Axes: offset stack
        centre = np.nanmean(picked[0], axis=0)
        spacing = 1.2 * max(float(np.nanmax(np.nanmax(x, 0) - np.nanmin(x, 0))) for x in picked) or 1.0
        offsets = -spacing * np.arange(len(chans))
        for x, style in zip(picked, styles):
            t = np.arange(len(x)) * dt
            for k in range(len(chans)):
                ax.plot(t, x[:, k] - centre[k] + offsets[k], **{**style, "label": style["label"] if k == 0 else None})
        ax.set_yticks(offsets, [f"channel {c}" for c in chans])
        ax.set_ylim(offsets[-1] - 0.6 * spacing, 0.9 * spacing)  # head room for the legend
        ax.set(xlabel="time (s)" if seconds else "time (steps)", title=title)
        ax.legend(loc="upper right", ncols=2, fontsize="small")
        return ax

    if ax is None:
        axes = pyplot().subplots(len(chans), 1, sharex=True, squeeze=False, layout="constrained",
                                  figsize=(7.0, 1.2 + 1.4 * len(chans)))[1][:, 0]
    else:
        axes = np.asarray(ax, dtype=object).ravel()
        if len(axes) != len(chans):
            raise ValueError(f"ax holds {len(axes)} Axes but {len(chans)} channels are plotted; pass one per channel.")
    for k, (a, c) in enumerate(zip(axes, chans)):
        for x, style in zip(picked, styles):
            a.plot(np.arange(len(x)) * dt, x[:, k], **style)
        a.set_ylabel(f"channel {c}")
    axes[0].set_title(title)
    axes[0].legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("time (s)" if seconds else "time (steps)")
    return axes


def plot_power_spectra(X_true, X_gen=None, *, channels=None, fs=1.0, smoothing_sigma=20, ax=None,
                       labels=("data", "generated")):
    """Mean normalised power spectrum of observed (and generated) data, with their distance D_H.

    The spectra are those compared by :func:`~sklearn_lrnn.metrics.power_spectrum_distance`
    (:func:`~sklearn_lrnn.metrics.power_spectra`: per channel z-scored, smoothed, normalised to sum
    1), computed on segments as long as the shortest trial of both data sets and averaged over the
    selected channels.

    Parameters
    ----------
    X_true : array-like
        Observed data in any of the three layouts.
    X_gen : array-like, optional
        Generated data with the same channels; its spectrum is overlaid and D_H goes in the title.
    channels : list of int, optional
        Channels averaged (default: all).
    fs : float, default=1.0
        Sampling rate; the frequency axis is in Hz when ``fs != 1``, in cycles per time step otherwise.
    smoothing_sigma : float, default=20
        Gaussian smoothing width in frequency bins (as in D_H; use less for short trials).
    ax : matplotlib Axes, optional
    labels : pair of str, default=("data", "generated")

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from sklearn_lrnn.datasets import make_lorenz63
    >>> from sklearn_lrnn.plotting import plot_power_spectra
    >>> X = make_lorenz63(2000, random_state=0)
    >>> ax = plot_power_spectra(X[:1000], X[1000:], fs=100.0)
    >>> ax.get_title().startswith("Mean normalised power spectrum")
    True
    """
    from ..metrics import power_spectra, power_spectrum_distance

    true, gen = check_pair(X_true, X_gen, allow_nan=False)
    chans = check_channels(channels, true.n_features, default=true.n_features)
    fs = check_positive_float(fs, "fs")
    sets = [[t[:, chans] for t in s.trials] for s in (true, gen) if s is not None]
    length = int(min(len(t) for trials in sets for t in trials))
    if length < 4:
        raise ValueError(f"the shortest trial has {length} time steps; power spectra need at least 4.")
    freqs = np.fft.rfftfreq(length, d=1.0 / fs)
    ax = new_axes(ax)
    for trials, label, color in zip(sets, labels, ("black", "tab:orange")):
        spectrum = power_spectra(trials, segment_length=length, smoothing_sigma=smoothing_sigma).mean(axis=1)
        ax.plot(freqs, spectrum, color=color, linewidth=1.5, label=label)
    ax.set_yscale("log", nonpositive="mask")
    title = "Mean normalised power spectrum"
    if gen is not None:
        d_h = power_spectrum_distance(sets[0], sets[1], smoothing_sigma=smoothing_sigma, segment_length=length)
        title += f" (D_H = {d_h:.3f})"
    ax.set(xlabel="frequency (Hz)" if fs != 1.0 else "frequency (cycles / time step)",
           ylabel="normalised power", title=title)
    ax.legend(fontsize="small")
    return ax
