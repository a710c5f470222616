"""The flow field and fixed points of a fitted model's deterministic latent map."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._validation import check_numeric, check_sequences
from ._common import check_dims, latent_label, new_axes

__all__ = ["plot_phase_portrait"]


_FIXED_POINT_STYLE = {  # stability label -> (marker, face colour, legend label)
    "stable": ("o", "black", "stable fixed point"),
    "unstable": ("o", "white", "unstable fixed point"),
    "saddle": ("s", "white", "saddle fixed point (unstable)"),
}


def _latent_map(estimator, u):
    """The deterministic one-step map of the fitted estimator (object with ``step(Z)``) and its dimension.

    With a constant input ``u`` the map and fixed points are those of ``z' = F(z, u)``; returns
    ``(map, dim, fixed_points or None)`` where the fixed points are recomputed only for ``u``.
    """
    from ..dynamics import fixed_points

    if not callable(getattr(estimator, "latent_map", None)):
        raise ValueError(f"{type(estimator).__name__} is not a StochasticLowRankRNN or PLRNNRegressor: it has no "
                         "latent_map() to draw.")
    check_is_fitted(estimator)
    pmap = estimator.latent_map(u)
    return pmap, pmap.dim, None if u is None else fixed_points(pmap)


def _fitted_fixed_points(estimator):
    """(points (F, D), stability labels (F,)) from the fitted attributes, computed if they are missing."""
    from ..dynamics import fixed_points

    fps = getattr(estimator, "fixed_points_", None)  # a FixedPoints in both estimators
    if fps is None:
        fps = fixed_points(estimator)
    return np.asarray(fps.points), np.asarray(fps.stability)


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
    plane = (0,) if dim == 1 else check_dims(dims, dim)
    extent = [points[:, plane]] + [t[:, plane] for t in trials]
    init = getattr(estimator, "initial_mean_", getattr(estimator, "initial_state_", None))
    if init is not None:
        extent.append(np.asarray(init, dtype=np.float64).reshape(1, dim)[:, plane])
    lim = _default_limits(np.concatenate(extent)) if limits is None else _check_limits(limits, len(plane))
    ax = new_axes(ax)
    rest = points.mean(axis=0) if len(points) else np.zeros(dim)

    if dim == 1:
        z = np.linspace(lim[0, 0], lim[0, 1], max(n_grid, 200))
        ax.plot(z, pmap.step(z[:, None])[:, 0] - z, color="tab:blue", label="F(z) - z")
        ax.axhline(0.0, color="gray", linewidth=0.8)
        for i, t in enumerate(trials):
            ax.plot(t[:-1, 0], np.diff(t[:, 0]), ".", color="gray", markersize=3, alpha=0.5,
                    label="trajectory steps" if i == 0 else None)
        _draw_fixed_points(ax, np.column_stack([points[:, 0], np.zeros(len(points))]), stability)
        ax.set(xlabel=latent_label(0), ylabel="one-step change F(z) - z", xlim=lim[0])
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
        ax.set(xlabel=latent_label(plane[0]), ylabel=latent_label(plane[1]), xlim=lim[0], ylim=lim[1])
    title = "Latent flow and fixed points"
    if dim > 2:
        title += "\n(other latent dims held at " + ("the fixed points' mean)" if len(points) else "0)")
    if u is not None:
        title += f"\nunder constant input u = {np.round(np.ravel(u), 3).tolist()}"
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", framealpha=0.85, fontsize="small")
    return ax
