"""What every plot shares: matplotlib imported on demand, new axes, checks of the arguments."""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_sequences

__all__ = ["pyplot", "new_axes", "latent_label", "check_dims", "check_channels", "check_pair"]


def pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # an optional dependency: say which extra installs it
        raise ImportError("sklearn_lrnn.plotting needs matplotlib: pip install 'sklearn_lrnn[plots]'") from exc
    return plt


def new_axes(ax, figsize=(6.0, 4.5)):
    if ax is not None:
        return ax
    return pyplot().subplots(figsize=figsize, layout="constrained")[1]


def latent_label(d):
    return f"latent dim {d}"


def check_dims(dims, n_dims):
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


def check_channels(channels, n_features, default):
    if channels is None:
        return list(range(min(default, n_features)))
    chans = np.atleast_1d(np.asarray(channels))
    if chans.ndim != 1 or chans.size == 0 or chans.dtype.kind not in "iu":
        raise ValueError(f"channels must be a non-empty list of integer channel indices; got {channels!r}.")
    if chans.min() < 0 or chans.max() >= n_features:
        raise ValueError(f"channels must lie in [0, {n_features - 1}] (the data have {n_features} channels); "
                         f"got {chans.tolist()}.")
    return chans.tolist()


def check_pair(X_true, X_gen, *, allow_nan):
    true = check_sequences(X_true, name="X_true", allow_nan=allow_nan)
    if X_gen is None:
        return true, None
    gen = check_sequences(X_gen, name="X_gen", allow_nan=allow_nan)
    if gen.n_features != true.n_features:
        raise ValueError(f"X_gen has {gen.n_features} channels but X_true has {true.n_features}; "
                         "generate data with the model fitted to X_true.")
    return true, gen
