"""Latent trajectories coloured by condition."""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_sequences
from ._common import check_dims, latent_label, new_axes, pyplot

__all__ = ["plot_latents"]


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

    plt = pyplot()
    seq = check_sequences(Z, name="Z", allow_nan=True)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1]; got {alpha!r}.")
    n_trials, n_dims = len(seq), seq.n_features
    one_dim = n_dims == 1
    plane = None if one_dim else check_dims(dims, n_dims)
    paths = [np.column_stack([np.arange(len(z)), z[:, 0]]) if one_dim else z[:, plane] for z in seq.trials]
    ax = new_axes(ax)
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
    ax.set(xlabel="time step" if one_dim else latent_label(plane[0]),
           ylabel=latent_label(0) if one_dim else latent_label(plane[1]), title=title)
    return ax
