"""Input checks shared by the metrics: every metric accepts the three data containers of the package
(user guide, "Data conventions")."""

from __future__ import annotations

import numpy as np

from .._validation import (
    check_nonnegative_float, check_nonnegative_int, check_positive_float, check_positive_int, check_sequences,
)

__all__ = ["check_pair", "check_one", "check_counts", "check_positive_int", "check_nonnegative_int",
           "check_positive_float", "check_nonnegative_float", "check_optional_positive_int"]


def check_optional_positive_int(value, name):
    """None, or an int >= 1."""
    return None if value is None else check_positive_int(value, name)


def check_one(X, *, name="X", min_length=1, n_features=None):
    """Validate one container and return its list of trials (float64) and layout."""
    seq = check_sequences(X, name=name, min_length=min_length, n_features=n_features)
    return seq


def check_pair(X_true, X_gen, *, min_length=1, names=("X_true", "X_gen")):
    """Validate real and generated data: both finite, same number of features, long enough."""
    a = check_sequences(X_true, name=names[0], min_length=min_length)
    b = check_sequences(X_gen, name=names[1], min_length=min_length)
    if a.n_features != b.n_features:
        raise ValueError(
            f"{names[0]} has {a.n_features} features but {names[1]} has {b.n_features}; both must describe "
            "the same channels (generate data with the fitted model's number of observed features)."
        )
    return a, b


def check_counts(counts, *, name="counts", require_integer=False):
    """Validate spike counts: finite, non-negative, optionally integer-valued."""
    seq = check_sequences(counts, name=name)
    for i, t in enumerate(seq.trials):
        if np.any(t < 0):
            raise ValueError(f"{name} contains negative values (trial {i}); spike counts must be >= 0.")
        if require_integer and np.any(t != np.round(t)):
            raise ValueError(
                f"{name} contains non-integer values (trial {i}); pass binned spike counts "
                "(round or re-bin rates into counts first)."
            )
    return seq
