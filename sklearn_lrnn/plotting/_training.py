"""The loss curves of a fit."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._common import new_axes

__all__ = ["plot_loss_curve"]


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
    ylabel = getattr(estimator, "loss_label", "training loss")  # each estimator says what its loss is
    ax = new_axes(ax)
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
