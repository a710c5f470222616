"""Selections of columns (features) of X given as indices or a boolean mask."""

from __future__ import annotations

import numpy as np

__all__ = ["column_mask"]


def column_mask(columns, n_features, name) -> np.ndarray:
    """Boolean mask of shape ``(n_features,)`` from a boolean mask or a non-empty 1-D list of column indices
    (negative indices count from the end); ``name`` is the parameter named in the errors."""
    cols = np.asarray(columns)
    if cols.dtype == bool:
        if cols.shape != (n_features,):
            raise ValueError(f"{name} as a boolean mask needs one entry per feature of X ({n_features}); "
                             f"got shape {cols.shape}.")
        return cols.copy()
    if cols.ndim != 1 or cols.size == 0 or not np.issubdtype(cols.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty 1-D list of column indices or a boolean mask; "
                         f"got {columns!r}.")
    if cols.min() < -n_features or cols.max() >= n_features:
        raise ValueError(f"{name} has indices outside [-{n_features}, {n_features}) for X with "
                         f"{n_features} feature(s); got {cols.tolist()}.")
    mask = np.zeros(n_features, dtype=bool)
    mask[cols] = True
    return mask
