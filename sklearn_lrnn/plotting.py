"""Plots of fitted models and of real versus generated data (needs matplotlib).

matplotlib is an optional dependency (``pip install 'sklearn_lrnn[plots]'``) and is imported only when a
function is called. Every function takes an optional ``ax`` (a new figure is made when it is None) and
returns what it drew on, and accepts data in the package's three layouts: a 2-D array
``(n_timesteps, n_features)`` (one recording), a 3-D array ``(n_trials, n_timesteps, n_features)`` or a
list of 2-D trials.

Functions
---------
plot_phase_portrait
    Flow ``F(z) - z`` of the deterministic latent map with its fixed points (and optional trajectories).
plot_traces
    Observed and generated traces, one panel per channel.
plot_power_spectra
    Channel-averaged normalised power spectra of observed and generated data, with D_H in the title.
plot_loss_curve
    Training (and validation) loss per epoch.
plot_latents
    Latent trajectories coloured by a per-trial condition.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._validation import check_numeric, check_positive_float, check_sequences

__all__ = ["plot_phase_portrait", "plot_traces", "plot_power_spectra", "plot_loss_curve", "plot_latents"]

_FIXED_POINT_STYLE = {  # stability label -> (marker, face colour, legend label)
    "stable": ("o", "black", "stable fixed point"),
    "unstable": ("o", "white", "unstable fixed point"),
    "saddle": ("s", "white", "saddle fixed point (unstable)"),
}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is installed wherever the tests run
        raise ImportError("sklearn_lrnn.plotting needs matplotlib: pip install 'sklearn_lrnn[plots]'") from exc
    return plt


def _new_axes(ax, figsize=(6.0, 4.5)):
    if ax is not None:
        return ax
    return _pyplot().subplots(figsize=figsize, layout="constrained")[1]


def _latent_label(d):
    return f"latent dim {d}"


def _check_dims(dims, n_dims):
    try:
        ok = all(isinstance(d, numbers.Integral) and not isinstance(d, (bool, np.bool_)) for d in dims)
    except TypeError:
        ok = False
    if not ok or isinstance(dims, str):
        raise ValueError(f"dims must be a pair of integer latent indices such as (0, 1); got {dims!r}.")
    dims = tuple(int(d) for d in dims)
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= d < n_dims for d in dims):
        raise ValueError(f"dims must be two different indices in [0, {n_dims - 1}] (the latent space has "
                         f"{n_dims} dimensions); got {dims}.")
    return dims


def _check_channels(channels, n_features, default):
    if channels is None:
        return list(range(min(default, n_features)))
    chans = np.atleast_1d(np.asarray(channels))
    if chans.ndim != 1 or chans.size == 0 or chans.dtype.kind not in "iu":
        raise ValueError(f"channels must be a non-empty list of integer channel indices; got {channels!r}.")
    if chans.min() < 0 or chans.max() >= n_features:
        raise ValueError(f"channels must lie in [0, {n_features - 1}] (the data have {n_features} channels); "
                         f"got {chans.tolist()}.")
    return chans.tolist()


def _check_pair(X_true, X_gen, *, allow_nan):
    true = check_sequences(X_true, name="X_true", allow_nan=allow_nan)
    if X_gen is None:
        return true, None
    gen = check_sequences(X_gen, name="X_gen", allow_nan=allow_nan)
    if gen.n_features != true.n_features:
        raise ValueError(f"X_gen has {gen.n_features} channels but X_true has {true.n_features}; "
                         "generate data with the model fitted to X_true.")
    return true, gen


# ---------------------------------------------------------------------------------------------- phase portrait
def _latent_map(estimator, u):
    """The deterministic one-step map of the fitted estimator (object with ``step(Z)``) and its dimension.

    With a constant input ``u`` the map and fixed points are those of ``z' = F(z, u)``; returns
    ``(map, dim, fixed_points or None)`` where the fixed points are recomputed only for ``u``.
    """
    from dataclasses import replace

    from .dynamics import build_map, low_rank_fixed_points, map_fixed_points

    check_is_fitted(estimator)
    is_low_rank = hasattr(estimator, "left_vectors_")
    if not is_low_rank and not hasattr(estimator, "A_"):
        raise ValueError(f"{type(estimator).__name__} is not a fitted StochasticLowRankRNN or PLRNNRegressor "
                         "(it has neither left_vectors_ nor A_).")
    if u is None:
        pmap = build_map(estimator)
        return pmap, pmap.dim, None
    weights = estimator.input_weights_ if is_low_rank else estimator.C_
    u = check_numeric(u, "u").reshape(-1)
    if weights.shape[1] == 0:
        raise ValueError("this model was fitted without inputs; do not pass u.")
    if u.shape != (weights.shape[1],):
        raise ValueError(f"u must be one constant input vector of length {weights.shape[1]} (the model's "
                         f"inputs); got shape {u.shape}.")
    current = weights @ u
    if is_low_rank:
        params = dict(left=estimator.left_vectors_, right=estimator.right_vectors_, bias=estimator.bias_,
                      decay=estimator.decay_, activation=estimator.activation)
        pmap = build_map(**params, inputs=current)
        fps = low_rank_fixed_points(**params, inputs=current)
    else:
        pmap = build_map(estimator)
        pmap = replace(pmap, c0=pmap.c0 + current)
        fps = map_fixed_points(pmap)
    return pmap, pmap.dim, fps


def _fitted_fixed_points(estimator):
    """(points (F, D), stability labels (F,)) from the fitted attributes, computed if they are missing."""
    from .dynamics import fixed_points

    points = getattr(estimator, "fixed_points_", None)
    if points is None:
        fps = fixed_points(estimator)
        return np.asarray(fps.points), np.asarray(fps.stability)
    if hasattr(points, "stability"):  # PLRNNRegressor stores a FixedPoints object
        return np.asarray(points.points), np.asarray(points.stability)
    return np.asarray(points), np.asarray(estimator.fixed_point_stability_)


def _draw_fixed_points(ax, coords, stability):
    for kind, (marker, face, label) in _FIXED_POINT_STYLE.items():
        sel = stability == kind
        if np.any(sel):
            ax.plot(coords[sel, 0], coords[sel, 1], linestyle="none", marker=marker, markersize=9,
                    markerfacecolor=face, markeredgecolor="black", markeredgewidth=1.5, label=label, zorder=5)


def _check_limits(limits, n_axes):
    lim = check_numeric(limits, "limits", allow_nan=True)
    if lim.shape == (2,):
        lim = np.tile(lim, (n_axes, 1))
    if lim.shape != (n_axes, 2) or not np.all(np.isfinite(lim)) or np.any(lim[:, 1] <= lim[:, 0]):
        raise ValueError(f"limits must be finite (low, high) pairs with low < high, one per plotted axis "
                         f"(shape ({n_axes}, 2) or (2,)); got {limits!r}.")
    return lim


def _default_limits(points):
    """Range of ``points`` (n, k) padded by 25 % (at least 1 where the range is empty)."""
    if len(points) == 0:
        return np.tile([-1.0, 1.0], (points.shape[1], 1))
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = np.where(hi > lo, 0.25 * (hi - lo), 1.0)
    return np.stack([lo - pad, hi + pad], axis=1)


def plot_phase_portrait(estimator, *, dims=(0, 1), ax=None, n_grid=25, limits=None, trajectories=None,
                        fixed_points=True, u=None, cmap="viridis"):
    """Flow field and fixed points of the deterministic latent dynamics of a fitted model.

    Draws the one-step change ``F(z) - z`` of the noise-free latent map (a
    :class:`~sklearn_lrnn.StochasticLowRankRNN`'s ``z' = a z + n phi(m z + W_u u; h)`` in its ``rank``
    latent dimensions, or a :class:`~sklearn_lrnn.PLRNNRegressor`'s latent map) as streamlines coloured by
    the step size, with the fixed points on top: stable ones filled, unstable ones open (saddles as
    open squares). For more than two latent dimensions the flow is shown in the plane ``dims`` with
    the other coordinates held at the mean of the fixed points (0 without fixed points), and the
    fixed points and trajectories are projected onto that plane. With one latent dimension
    ``F(z) - z`` is drawn against ``z``.

    Parameters
    ----------
    estimator : fitted StochasticLowRankRNN or PLRNNRegressor
    dims : pair of int, default=(0, 1)
        Latent dimensions on the x and y axes (ignored for one latent dimension).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when None.
    n_grid : int, default=25
        Grid points per axis at which the map is evaluated.
    limits : array-like of shape (2, 2) or (2,), optional
        ``((x_low, x_high), (y_low, y_high))`` (one pair is used for both axes). Default: the range
        of the fixed points, the trajectories and the initial state, padded by 25 %.
    trajectories : array-like, optional
        Latent trajectories (e.g. from ``transform`` or ``sample``) in any of the three layouts, with
        one column per latent dimension, drawn on top.
    fixed_points : bool, default=True
        Draw the fixed points (``fixed_points_`` of the fit; recomputed when ``u`` is given).
    u : array-like of shape (n_inputs,), optional
        Constant input under which the map and its fixed points are evaluated (default: no input).
    cmap : str or Colormap, default="viridis"
        Colour map of the step size.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from sklearn_lrnn import StochasticLowRankRNN
    >>> from sklearn_lrnn.datasets import make_low_rank_teacher
    >>> from sklearn_lrnn.plotting import plot_phase_portrait
    >>> data = make_low_rank_teacher(n_trials=10, n_timesteps=30, n_units=10, random_state=0)
    >>> model = StochasticLowRankRNN(rank=2, max_iter=2, random_state=0).fit(data.X)
    >>> ax = plot_phase_portrait(model, trajectories=model.transform(data.X[:3]))
    >>> ax.get_title()
    'Latent flow and fixed points'
    """
    pmap, dim, input_fps = _latent_map(estimator, u)
    if not isinstance(n_grid, numbers.Integral) or isinstance(n_grid, bool) or n_grid < 2:
        raise ValueError(f"n_grid must be an integer >= 2; got {n_grid!r}.")
    if fixed_points:
        points, stability = ((np.asarray(input_fps.points), np.asarray(input_fps.stability))
                             if input_fps is not None else _fitted_fixed_points(estimator))
    else:
        points, stability = np.zeros((0, dim)), np.zeros(0, dtype=object)
    trials = []
    if trajectories is not None:
        trials = check_sequences(trajectories, name="trajectories", n_features=dim,
                                 estimator_name="the latent space").trials
    plane = (0,) if dim == 1 else _check_dims(dims, dim)
    extent = [points[:, plane]] + [t[:, plane] for t in trials]
    init = getattr(estimator, "initial_mean_", getattr(estimator, "initial_state_", None))
    if init is not None:
        extent.append(np.asarray(init, dtype=np.float64).reshape(1, dim)[:, plane])
    lim = _default_limits(np.concatenate(extent)) if limits is None else _check_limits(limits, len(plane))
    ax = _new_axes(ax)
    rest = points.mean(axis=0) if len(points) else np.zeros(dim)

    if dim == 1:
        z = np.linspace(lim[0, 0], lim[0, 1], max(n_grid, 200))
        ax.plot(z, pmap.step(z[:, None])[:, 0] - z, color="tab:blue", label="F(z) - z")
        ax.axhline(0.0, color="gray", linewidth=0.8)
        for i, t in enumerate(trials):
            ax.plot(t[:-1, 0], np.diff(t[:, 0]), ".", color="gray", markersize=3, alpha=0.5,
                    label="trajectory steps" if i == 0 else None)
        _draw_fixed_points(ax, np.column_stack([points[:, 0], np.zeros(len(points))]), stability)
        ax.set(xlabel=_latent_label(0), ylabel="one-step change F(z) - z", xlim=lim[0])
    else:
        gx, gy = np.linspace(*lim[0], n_grid), np.linspace(*lim[1], n_grid)
        XX, YY = np.meshgrid(gx, gy)
        grid = np.tile(rest, (XX.size, 1))
        grid[:, plane[0]], grid[:, plane[1]] = XX.ravel(), YY.ravel()
        delta = pmap.step(grid) - grid
        U, V = delta[:, plane[0]].reshape(XX.shape), delta[:, plane[1]].reshape(XX.shape)
        speed = np.hypot(U, V)
        stream = ax.streamplot(gx, gy, U, V, color=speed, cmap=cmap, density=1.2, linewidth=1.0, zorder=1)
        ax.figure.colorbar(stream.lines, ax=ax, label="step size |F(z) - z|")
        for i, t in enumerate(trials):
            ax.plot(t[:, plane[0]], t[:, plane[1]], color="tab:red", linewidth=1.0, alpha=0.7, zorder=3,
                    label="trajectory" if i == 0 else None)
        _draw_fixed_points(ax, points[:, plane] if len(points) else np.zeros((0, 2)), stability)
        ax.set(xlabel=_latent_label(plane[0]), ylabel=_latent_label(plane[1]), xlim=lim[0], ylim=lim[1])
    title = "Latent flow and fixed points"
    if dim > 2:
        title += "\n(other latent dims held at " + ("the fixed points' mean)" if len(points) else "0)")
    if u is not None:
        title += f"\nunder constant input u = {np.round(np.ravel(u), 3).tolist()}"
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", framealpha=0.85, fontsize="small")
    return ax


# ---------------------------------------------------------------------------------------------- data plots
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
    true, gen = _check_pair(X_true, X_gen, allow_nan=True)
    chans = _check_channels(channels, true.n_features, default=3)
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
        axes = _pyplot().subplots(len(chans), 1, sharex=True, squeeze=False, layout="constrained",
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
    from .metrics import power_spectra, power_spectrum_distance

    true, gen = _check_pair(X_true, X_gen, allow_nan=False)
    chans = _check_channels(channels, true.n_features, default=true.n_features)
    fs = check_positive_float(fs, "fs")
    sets = [[t[:, chans] for t in s.trials] for s in (true, gen) if s is not None]
    length = int(min(len(t) for trials in sets for t in trials))
    if length < 4:
        raise ValueError(f"the shortest trial has {length} time steps; power spectra need at least 4.")
    freqs = np.fft.rfftfreq(length, d=1.0 / fs)
    ax = _new_axes(ax)
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


# ---------------------------------------------------------------------------------------------- training
def plot_loss_curve(estimator, *, ax=None):
    """Training loss (and the held-out loss, when early stopping recorded one) against epoch.

    Parameters
    ----------
    estimator : fitted estimator with ``loss_curve_``
        A :class:`~sklearn_lrnn.StochasticLowRankRNN` (loss: negative ELBO per time bin) or a
        :class:`~sklearn_lrnn.PLRNNRegressor` (mean squared forecast error plus penalties).
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    sklearn.exceptions.NotFittedError
        (a ValueError) if the estimator is not fitted.

    Examples
    --------
    >>> from sklearn_lrnn import PLRNNRegressor
    >>> from sklearn_lrnn.datasets import make_lorenz63
    >>> from sklearn_lrnn.plotting import plot_loss_curve
    >>> model = PLRNNRegressor(n_hidden=10, sequence_length=30, batches_per_epoch=2, max_iter=3,
    ...                        random_state=0).fit(make_lorenz63(500, random_state=0))
    >>> len(plot_loss_curve(model).lines[0].get_ydata())
    3
    """
    check_is_fitted(estimator, "loss_curve_")
    loss = np.asarray(estimator.loss_curve_, dtype=np.float64)
    if hasattr(estimator, "left_vectors_"):
        ylabel = "loss (negative ELBO per time bin)"
    elif hasattr(estimator, "A_"):
        ylabel = "training loss (MSE + penalties)"
    else:
        ylabel = "training loss"
    ax = _new_axes(ax)
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, marker="o" if len(loss) < 30 else None, markersize=3, label="training")
    val = np.asarray(getattr(estimator, "validation_loss_curve_", []), dtype=np.float64)
    if val.size:
        ax.plot(np.arange(1, val.size + 1), val, marker="o" if val.size < 30 else None, markersize=3,
                label="validation")
    curves = np.concatenate([loss, val])
    if curves.size and np.all(curves > 0) and curves.max() > 10 * curves.min():
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel=ylabel, title=f"Training loss of {type(estimator).__name__}")
    ax.legend(fontsize="small")
    return ax


def plot_latents(Z, labels=None, *, dims=(0, 1), ax=None, cmap=None, alpha=0.8):
    """Latent trajectories, coloured by a per-trial condition; a dot marks each trajectory's start.

    Parameters
    ----------
    Z : array-like
        Latents (e.g. from ``transform``) in any of the three layouts, shape ``(..., n_latents)``.
    labels : array-like of shape (n_trials,), optional
        Condition of each trial. Strings, booleans and at most 10 distinct whole numbers are
        categories (discrete colours and a legend); other numbers (fractional values, or more than 10
        distinct values) are continuous (a colour bar).
    dims : pair of int, default=(0, 1)
        Latent dimensions on the x and y axes. With one latent dimension it is drawn against time.
    ax : matplotlib Axes, optional
    cmap : str or Colormap, optional
        Default "tab10" (categories, "tab20" above 10) or "viridis" (continuous).
    alpha : float, default=0.8
        Line opacity.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.plotting import plot_latents
    >>> Z = np.random.default_rng(0).standard_normal((6, 50, 2)).cumsum(axis=1)
    >>> ax = plot_latents(Z, labels=["left", "right"] * 3)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['left', 'right']
    """
    from matplotlib.collections import LineCollection

    plt = _pyplot()
    seq = check_sequences(Z, name="Z", allow_nan=True)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1]; got {alpha!r}.")
    n_trials, n_dims = len(seq), seq.n_features
    one_dim = n_dims == 1
    plane = None if one_dim else _check_dims(dims, n_dims)
    paths = [np.column_stack([np.arange(len(z)), z[:, 0]]) if one_dim else z[:, plane] for z in seq.trials]
    ax = _new_axes(ax)
    title = "Latent trajectories (dots: start)"
    if labels is None:
        ax.add_collection(LineCollection(paths, colors="tab:blue", alpha=alpha, linewidths=1.0))
        ax.scatter([p[0, 0] for p in paths], [p[0, 1] for p in paths], s=18, color="tab:blue", zorder=3)
    else:
        labels = np.asarray(labels)
        if labels.shape != (n_trials,):
            raise ValueError(f"labels must hold one condition per trial ({n_trials} trials); got shape "
                             f"{labels.shape}.")
        values = np.unique(labels)
        numeric = labels.dtype.kind in "iuf"
        if numeric and (len(values) > 10 or not np.all(values == np.round(values))):  # continuous: colour bar
            lines = LineCollection(paths, array=labels.astype(float), cmap=cmap or "viridis", alpha=alpha,
                                   linewidths=1.0)
            ax.add_collection(lines)
            ax.scatter([p[0, 0] for p in paths], [p[0, 1] for p in paths], s=18, c=labels.astype(float),
                       cmap=lines.get_cmap(), norm=lines.norm, zorder=3)
            ax.figure.colorbar(lines, ax=ax, label="condition")
        else:
            colours = plt.get_cmap(cmap or ("tab10" if len(values) <= 10 else "tab20"))
            for i, value in enumerate(values):
                sel = [p for p, lab in zip(paths, labels) if lab == value]
                colour = colours(i % colours.N) if colours.N < 256 else colours(i / max(len(values) - 1, 1))
                ax.add_collection(LineCollection(sel, colors=[colour], alpha=alpha, linewidths=1.0,
                                                 label=str(value)))
                ax.scatter([p[0, 0] for p in sel], [p[0, 1] for p in sel], s=18, color=colour, zorder=3)
            ax.legend(title="condition", fontsize="small")
    ax.autoscale_view()
    ax.set(xlabel="time step" if one_dim else _latent_label(plane[0]),
           ylabel=_latent_label(0) if one_dim else _latent_label(plane[1]), title=title)
    return ax
