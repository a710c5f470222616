"""Spike-train summaries of binned counts: rates, inter-spike intervals, pairwise correlations."""

from __future__ import annotations

import numpy as np

from ._checks import check_counts, check_positive_float

__all__ = ["mean_rates", "isi_distribution", "isi_cv", "pairwise_correlations", "spike_statistics_distance"]

def mean_rates(counts, *, dt=1.0):
    """Mean firing rate of every unit, pooled over trials and time bins.

    Parameters
    ----------
    counts : array-like of shape (n_timesteps, n_units) or (n_trials, n_timesteps, n_units), or list of 2-D arrays
        Non-negative spike counts per time bin.
    dt : float, default=1.0
        Bin width; rates are in spikes per unit of ``dt`` (``dt=0.01`` for 10 ms bins gives Hz).

    Returns
    -------
    rates : ndarray of shape (n_units,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import mean_rates
    >>> mean_rates(np.array([[0, 2], [1, 0]]), dt=0.5)
    array([1., 2.])
    """
    seq = check_counts(counts)
    _check_dt(dt)
    pooled = np.concatenate(seq.trials, axis=0)
    return pooled.mean(axis=0) / dt


def _check_dt(dt):
    """dt: a finite bin width > 0."""
    return check_positive_float(dt, "dt")


def isi_distribution(counts, *, dt=1.0):
    """Inter-spike intervals of every unit, at the resolution of the bins.

    Spike k of a unit is placed at the start of its bin (a bin with c spikes holds c spikes at the same
    time, giving c - 1 intervals of 0); intervals never span two trials.

    Parameters
    ----------
    counts : array-like of shape (n_timesteps, n_units) or (n_trials, n_timesteps, n_units), or list of 2-D arrays
        Non-negative integer spike counts per time bin.
    dt : float, default=1.0
        Bin width; intervals are in units of ``dt``.

    Returns
    -------
    isis : list of ndarray
        One 1-D array of intervals per unit (trials concatenated in order).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import isi_distribution
    >>> isi_distribution(np.array([[1], [0], [2], [0], [1]]))[0]
    array([2., 0., 2.])
    """
    seq = check_counts(counts, require_integer=True)
    _check_dt(dt)
    out = []
    for unit in range(seq.n_features):
        parts = []
        for trial in seq.trials:
            times = np.repeat(np.arange(trial.shape[0]), trial[:, unit].astype(np.int64))
            parts.append(np.diff(times).astype(float) * dt)
        out.append(np.concatenate(parts))
    return out


def isi_cv(counts, *, dt=1.0):
    """Coefficient of variation (std / mean) of every unit's inter-spike intervals.

    Parameters
    ----------
    counts : array-like of shape (n_timesteps, n_units) or (n_trials, n_timesteps, n_units), or list of 2-D arrays
        Non-negative integer spike counts per time bin.
    dt : float, default=1.0
        Bin width (the CV does not depend on it).

    Returns
    -------
    cv : ndarray of shape (n_units,)
        NaN for units with fewer than 2 intervals or a mean interval of 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import isi_cv
    >>> isi_cv(np.tile([[1], [0]], (50, 1)))  # perfectly regular
    array([0.])
    """
    cv = []
    for isi in isi_distribution(counts, dt=dt):
        if isi.size < 2 or isi.mean() == 0:
            cv.append(np.nan)
        else:
            cv.append(isi.std() / isi.mean())
    return np.asarray(cv)


def pairwise_correlations(counts):
    """Pearson correlation matrix of the binned counts of all unit pairs, pooled over trials and bins.

    Parameters
    ----------
    counts : array-like of shape (n_timesteps, n_units) or (n_trials, n_timesteps, n_units), or list of 2-D arrays
        Non-negative spike counts per time bin.

    Returns
    -------
    corr : ndarray of shape (n_units, n_units)
        Rows and columns of silent (constant) units are NaN; the diagonal of the others is 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import pairwise_correlations
    >>> c = np.array([[0, 1, 2], [1, 0, 3], [2, 1, 4], [3, 0, 5]])
    >>> np.round(pairwise_correlations(c)[0], 3)
    array([ 1.   , -0.447,  1.   ])
    """
    seq = check_counts(counts)
    pooled = np.concatenate(seq.trials, axis=0)
    if pooled.shape[0] < 2:
        raise ValueError("counts needs at least 2 time bins to compute correlations.")
    centred = pooled - pooled.mean(axis=0)
    sd = np.sqrt(np.sum(centred**2, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (centred.T @ centred) / np.outer(sd, sd)
    corr[sd == 0, :] = np.nan
    corr[:, sd == 0] = np.nan
    return corr


def spike_statistics_distance(counts_true, counts_gen, *, dt=1.0):
    """Compare the spike statistics of real and generated counts.

    Parameters
    ----------
    counts_true, counts_gen : array-like of shape (n_timesteps, n_units) or (n_trials, n_timesteps, n_units)
        Non-negative integer spike counts of the same units, or lists of 2-D trials (lengths may differ).
    dt : float, default=1.0
        Bin width (rates are per unit of ``dt``).

    Returns
    -------
    distances : dict
        ``"rates"``: mean absolute difference of the units' mean rates; ``"isi_cv"``: mean absolute
        difference of the ISI CVs over units where both are defined; ``"correlations"``: mean absolute
        difference of the off-diagonal correlations over pairs where both are defined. A value is NaN
        when nothing is defined (e.g. no unit fires twice).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.metrics import spike_statistics_distance
    >>> c = np.random.default_rng(0).poisson(1.0, size=(500, 3))
    >>> spike_statistics_distance(c, c)
    {'rates': 0.0, 'isi_cv': 0.0, 'correlations': 0.0}
    """
    a = check_counts(counts_true, name="counts_true", require_integer=True)
    b = check_counts(counts_gen, name="counts_gen", require_integer=True)
    if a.n_features != b.n_features:
        raise ValueError(
            f"counts_true has {a.n_features} units but counts_gen has {b.n_features}; compare the same units."
        )

    def mad(u, v):
        ok = np.isfinite(u) & np.isfinite(v)
        return float(np.mean(np.abs(u[ok] - v[ok]))) if np.any(ok) else float("nan")

    off = ~np.eye(a.n_features, dtype=bool)
    return {
        "rates": mad(mean_rates(a.trials, dt=dt), mean_rates(b.trials, dt=dt)),
        "isi_cv": mad(isi_cv(a.trials, dt=dt), isi_cv(b.trials, dt=dt)),
        "correlations": mad(pairwise_correlations(a.trials)[off], pairwise_correlations(b.trials)[off]),
    }
