"""Checks of array values and scalar arguments: every array that enters the package is numeric, real, within
the float32 range the models compute in, and writable; scalars are the right kind of number."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
from sklearn.utils import check_array

__all__ = [
    "check_array_like", "check_dense_real", "check_numeric", "check_positive_int", "check_nonnegative_int",
    "check_real", "check_nonnegative_float", "check_positive_float", "check_trial_weights",
]

# the models compute in float32: finite float64 values beyond this would become inf there
_F32_MAX = float(np.finfo(np.float32).max)


def check_array_like(X, name: str) -> None:
    """Clear TypeErrors for containers that are not array-like at all (a dict, a string, a set)."""
    if isinstance(X, Mapping):
        raise TypeError(
            f"{name} must be array-like (an ndarray, a list or a DataFrame); got a {type(X).__name__} with keys "
            f"{list(X)[:5]}. Pass the values, e.g. np.stack(list({name}.values())) (equal-length trials) or "
            f"list({name}.values()) (trials of different lengths)."
        )
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} must be array-like of numbers; got the string {X[:50]!r}.")
    if isinstance(X, (set, frozenset)) or (hasattr(X, "__next__") and not hasattr(X, "shape")):
        raise TypeError(f"{name} must be array-like (an ndarray or a list of trials); got a {type(X).__name__}: "
                        "pass a list or an array.")


def _check_value_kind(X, name: str) -> None:
    """Reject strings (also numeric ones such as '1.0': never silently parsed) and complex values."""
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        return  # check_array's message for sparse input
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError):  # ragged or otherwise odd: check_array says what is wrong
        return
    kind = arr.dtype.kind
    strings = kind in "USV" or (kind == "O" and any(isinstance(v, (str, bytes)) for v in arr.flat))
    if strings:
        example = next((v for v in arr.flat if isinstance(v, (str, bytes))), None)
        raise ValueError(
            f"{name} contains strings (e.g. {str(example)!r}); the estimators take numbers only and do not parse "
            f"text. Convert explicitly, e.g. np.asarray({name}, dtype=float), if the strings are numbers."
        )
    if np.iscomplexobj(arr) or (kind == "O" and any(isinstance(v, complex) for v in arr.flat)):
        raise ValueError(
            f"Complex data not supported: {name} contains complex values; pass real-valued data "
            f"({name}.real or np.abs({name}) if that is what is meant)."
        )


def check_dense_real(X, name: str, *, is_X: bool = True) -> None:
    """Early, specific errors for inputs the generic checks would misreport: not array-like, sparse,
    complex or strings (:func:`_check_value_kind`), objects that are no numbers and, for sequences
    (``is_X``), a 1-D array or one without channels. None and lists pass (checked later)."""
    if X is None:
        return
    check_array_like(X, name)
    if isinstance(X, (list, tuple)):
        return
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"sparse input is not supported: {name} must be dense; use {name}.toarray().")
    arr = X if isinstance(X, np.ndarray) else np.asarray(X)
    _check_value_kind(arr, name)
    if arr.dtype == object:
        arr.astype(np.float64)  # raises TypeError naming the offending element
    if not is_X:
        return
    if arr.ndim == 1:
        raise ValueError(
            f"Expected a 2-D or 3-D array for {name}, got a 1-D array of shape {arr.shape}. Reshape your "
            f"data using {name}.reshape(-1, 1) for one channel, or {name}.reshape(1, -1) for one time step."
        )
    if arr.ndim >= 2 and arr.shape[-1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required: "
            f"{name} needs at least one channel."
        )


def _check_float32_range(arr: np.ndarray, name: str) -> None:
    """Finite float64 values beyond the float32 range would silently become inf in the models."""
    with np.errstate(invalid="ignore"):
        big = np.abs(arr) > _F32_MAX
    if big.any():
        big &= np.isfinite(arr)
        if big.any():
            raise ValueError(
                f"{name} contains values too large for float32 (largest |value| {np.abs(arr[big]).max():.3g} > "
                f"{_F32_MAX:.3g}), in which the models compute: rescale {name}, e.g. with StandardScaler "
                "(PerTimeBin(StandardScaler()) for 3-D data)."
            )


def _to_float(X, name: str) -> np.ndarray:
    """Numeric, writable float64 array of any dimensionality.

    Rejects a dict or string container (TypeError), strings as values (also numeric ones: they are
    never silently parsed), complex values and finite values beyond the float32 range; scikit-learn's
    check_array rejects sparse and other non-numeric input with its standard messages. A read-only
    array is copied (torch warns on non-writable arrays).
    """
    check_array_like(X, name)
    _check_value_kind(X, name)
    arr = check_array(X, dtype=np.float64, ensure_2d=False, allow_nd=True, ensure_all_finite=False,
                      ensure_min_samples=0, ensure_min_features=0, input_name=name)
    _check_float32_range(arr, name)
    if not arr.flags.writeable:
        arr = arr.copy()
    return arr


def check_numeric(X, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """A float64 array of any shape from numeric input (the checks of :func:`check_sequences` for arrays
    that are not sequences: targets, initial states, weights); NaN / inf rejected unless ``allow_nan``."""
    arr = _to_float(X, name)
    if not allow_nan and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; pass finite numbers.")
    return arr


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_positive_int(value, name: str) -> int:
    """``value`` as an int >= 1 (bools and floats such as 2.0 are refused: no silent truncation)."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be >= 1, a positive integer; got {value!r}.")
    return int(value)


def check_nonnegative_int(value, name: str) -> int:
    """``value`` as an int >= 0 (bools and floats refused)."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be >= 0, a non-negative integer; got {value!r}.")
    return int(value)


def _real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r} of type {type(value).__name__}.")
    return float(value)


def check_real(value, name: str) -> float:
    """``value`` as a finite float (bools, strings, complex, NaN and inf refused)."""
    value = _real(value, name)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}.")
    return value


def check_nonnegative_float(value, name: str) -> float:
    """``value`` as a finite float >= 0 (bools, strings, complex, NaN and inf refused)."""
    value = _real(value, name)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    return value


def check_positive_float(value, name: str) -> float:
    """``value`` as a finite float > 0 (bools, strings, complex, NaN and inf refused)."""
    value = _real(value, name)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    return value


def check_trial_weights(sample_weight, n: int, *, what: str = "trial", name: str = "sample_weight"):
    """Validate weights for a weighted mean: one finite, non-negative value per ``what``, not all zero.

    A scalar is broadcast. Returns None for None (equal weights).
    """
    if sample_weight is None:
        return None
    w = check_numeric(sample_weight, name)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"{name} must have one value per {what} ({n}); got shape {w.shape}.")
    if np.any(w < 0):
        raise ValueError(f"{name} must be non-negative; got a minimum of {w.min():.3g}.")
    if not np.any(w > 0):
        raise ValueError(f"{name} is all zeros: the weighted mean is undefined; give some {what}s a positive weight.")
    return w
