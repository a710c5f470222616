"""Data containers: turn the three accepted layouts of X into a list of trials and back.

Accepted layouts (the "Data conventions" section of the user guide):

* 3-D array ``(n_trials, n_timesteps, n_features)``: equal-length trials;
* list of 2-D arrays ``(T_i, n_features)``: trials of different lengths;
* 2-D array ``(n_timesteps, n_features)``: one continuous recording.

Everything downstream works on :class:`Sequences`, a list of float arrays plus the layout tag, and
:func:`restore` puts per-trial results back into the caller's layout.

Every array that enters the package goes through :func:`check_sequences` or :func:`check_numeric`:
no dict or string containers, no strings as values (numeric strings are never parsed), no complex
values, no finite values beyond the float32 range the models compute in, and read-only arrays copied.
The scalar checks (``check_positive_int`` ...), the weights of ``score``, feature names, the
``set_output`` mixin for ``transform`` and the check that ``u`` is routed in searches live here too.
"""

from __future__ import annotations

import functools
import numbers
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._set_output import _SetOutputMixin, _wrap_data_with_container
from sklearn.utils.metadata_routing import _routing_enabled
from sklearn.utils.validation import (
    _check_feature_names, _check_feature_names_in, _get_feature_names, check_is_fitted,
)

__all__ = [
    "Sequences", "check_sequences", "restore", "split_by_lengths", "check_matching_inputs", "check_array_like",
    "check_dense_real",
    "check_numeric", "check_positive_int", "check_nonnegative_int", "check_real", "check_nonnegative_float",
    "check_positive_float", "check_trial_weights", "input_feature_names", "set_feature_names",
    "check_fitted_feature_names", "LatentOutputMixin", "check_inputs_routed", "ROUTING_HINT",
]

# the models compute in float32: finite float64 values beyond this would become inf there
_F32_MAX = float(np.finfo(np.float32).max)

@dataclass
class Sequences:
    """Validated trials.

    Attributes
    ----------
    trials : list of ndarray of shape (T_i, n_features)
        One float array per trial (one element for a continuous recording).
    layout : {"3d", "list", "2d"}
        The container the data came in; outputs mirror it.
    """

    trials: list
    layout: str

    @property
    def n_features(self) -> int:
        return self.trials[0].shape[1]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([t.shape[0] for t in self.trials], dtype=int)

    def __len__(self) -> int:
        return len(self.trials)

    def padded(self, dtype=np.float32):
        """Stack into ``(n_trials, T_max, n_features)`` with zeros after each trial's end, and a mask."""
        lengths = self.lengths
        out = np.zeros((len(self.trials), lengths.max(), self.n_features), dtype=dtype)
        mask = np.zeros((len(self.trials), lengths.max()), dtype=bool)
        for i, trial in enumerate(self.trials):
            out[i, : len(trial)] = trial
            mask[i, : len(trial)] = True
        return out, mask


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


def _as_float_2d(arr, name: str, index=None) -> np.ndarray:
    where = name if index is None else f"{name}[{index}]"
    arr = _to_float(arr, where)
    if arr.ndim != 2:
        raise ValueError(
            f"{where} must be 2-D (n_timesteps, n_features) inside a list of trials; got shape {arr.shape}."
        )
    return arr


def check_sequences(
    X,
    *,
    name: str = "X",
    min_length: int = 1,
    n_features: int | None = None,
    estimator_name: str | None = None,
    allow_nan: bool = False,
    length_hint: str | None = None,
) -> Sequences:
    """Validate ``X`` in any of the three layouts and return :class:`Sequences`.

    Parameters
    ----------
    X : array-like or list of array-like
        Data in one of the accepted layouts.
    name : str
        Name used in error messages (``"X"``, ``"u"``, ``"y"``).
    min_length : int
        Smallest number of time steps a trial may have.
    n_features : int or None
        Expected size of the last axis (the fitted ``n_features_in_``); None skips the check.
    estimator_name : str or None
        Class name for the scikit-learn-style feature-count message.
    allow_nan : bool
        Whether NaN / inf values are accepted.
    length_hint : str or None
        Why ``min_length`` steps are needed and what to do (ends the too-short message).
    """
    if X is None:
        raise ValueError(f"{name} is None; pass an array of shape (n_trials, n_timesteps, n_features).")
    check_array_like(X, name)
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError(f"{name} is an empty list; pass at least one trial.")
        check_array_like(X[0], f"{name}[0]")
        first = np.asarray(X[0]) if not hasattr(X[0], "shape") else X[0]
        if np.ndim(first) == 1:
            # a plain list of numbers or a list of rows: treat as an array
            X = np.asarray(X) if _is_rectangular(X) else X
        if isinstance(X, (list, tuple)):
            trials = [_as_float_2d(t, name, i) for i, t in enumerate(X)]
            layout = "list"
        else:
            trials, layout = None, None
    else:
        trials, layout = None, None

    if trials is None:
        arr = _to_float(X, name)
        if arr.ndim == 3:
            trials, layout = list(arr), "3d"
        elif arr.ndim == 2:
            trials, layout = [arr], "2d"
        else:
            hint = " Reshape your data: X.reshape(-1, 1) for a single channel." if arr.ndim == 1 else ""
            raise ValueError(
                f"{name} must be a 3-D array (n_trials, n_timesteps, n_features), a list of 2-D trials, "
                f"or a 2-D array (n_timesteps, n_features); got {arr.ndim}-D with shape {arr.shape}.{hint}"
            )

    if len(trials) == 0:
        raise ValueError(f"{name} has no trials (shape {np.shape(X)}); pass at least one trial.")
    widths = {t.shape[1] for t in trials}
    if len(widths) != 1:
        raise ValueError(f"all trials of {name} must have the same number of features; got {sorted(widths)}.")
    width = widths.pop()
    if width == 0:
        shape = np.shape(trials[0]) if layout == "2d" else (len(trials),) + np.shape(trials[0])
        raise ValueError(
            f"{name} has 0 feature(s) (shape={shape}) while a minimum of 1 is required; pass at least one channel."
        )
    for i, t in enumerate(trials):
        if t.shape[0] < min_length:
            which = "the recording" if layout == "2d" else f"trial {i}"
            hint = length_hint or "(e.g. for the training window); pass longer sequences or lower window_length."
            raise ValueError(f"{name}: {which} has {t.shape[0]} time steps but at least {min_length} are needed {hint}")
        if not allow_nan and not np.all(np.isfinite(t)):
            which = "" if layout == "2d" else f" (trial {i})"
            raise ValueError(
                f"{name} contains NaN or infinite values{which}; remove or impute them first."
            )
    if n_features is not None and width != n_features:
        who = estimator_name or "the estimator"
        raise ValueError(
            f"{name} has {width} features, but {who} is expecting {n_features} features as input."
        )
    return Sequences(trials=trials, layout=layout)


def _is_rectangular(X) -> bool:
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError):
        return False
    return arr.dtype != object or arr.ndim >= 2


def restore(per_trial, layout: str):
    """Put a list of per-trial 2-D arrays back into the caller's container."""
    if layout == "3d":
        return np.stack(per_trial, axis=0)
    if layout == "2d":
        return per_trial[0]
    return list(per_trial)


def check_matching_inputs(u, X: Sequences, *, n_inputs: int | None = None, name: str = "u") -> Sequences:
    """Validate exogenous inputs ``u`` against the trials of ``X`` (same container, same lengths)."""
    seq = check_sequences(u, name=name, n_features=n_inputs, estimator_name="the fitted model")
    return check_aligned(seq, X, name=name, count_hint="pass one input sequence per trial.",
                         length_hint="inputs must be given at every time step of X.")


def check_aligned(seq: Sequences, X: Sequences, *, name: str, count_hint: str, length_hint: str) -> Sequences:
    """Check that ``seq`` has one trial per trial of ``X``, each of the same length."""
    if len(seq) != len(X):
        raise ValueError(f"{name} has {len(seq)} trials but X has {len(X)}; {count_hint}")
    bad = np.nonzero(seq.lengths != X.lengths)[0]
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"{name} and X differ in length for trial {i}: {seq.lengths[i]} vs {X.lengths[i]} time steps; "
            f"{length_hint}"
        )
    return seq


def split_by_lengths(X, lengths):
    """Turn hmmlearn-style concatenated data ``(sum(lengths), n_features)`` into a list of trials.

    scikit-learn's splitters cannot split a ``lengths`` vector, so the estimators take a list of trials
    instead; this converts.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn import split_by_lengths
    >>> trials = split_by_lengths(np.zeros((5, 2)), [2, 3])
    >>> [t.shape for t in trials]
    [(2, 2), (3, 2)]
    """
    X = np.asarray(X)
    lengths = np.asarray(lengths, dtype=int)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (sum(lengths), n_features); got shape {X.shape}.")
    if np.any(lengths <= 0) or lengths.sum() != X.shape[0]:
        raise ValueError(
            f"lengths must be positive and sum to X.shape[0] = {X.shape[0]}; got sum {lengths.sum()}."
        )
    return np.split(X, np.cumsum(lengths)[:-1], axis=0)


# ---------------------------------------------------------------------------------------------------------------
# arguments of public methods


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


# ---------------------------------------------------------------------------------------------------------------
# feature names and output containers


def input_feature_names(X):
    """Column names of a 2-D DataFrame ``X`` (what ``fit`` stores as ``feature_names_in_``), or None.

    scikit-learn's helper: string column names only (a mix of strings and non-strings is a TypeError).
    """
    return _get_feature_names(X)


def set_feature_names(estimator, names) -> None:
    """Set (or remove) ``feature_names_in_`` at the end of a fit."""
    if names is None:
        estimator.__dict__.pop("feature_names_in_", None)
    else:
        estimator.feature_names_in_ = names


def check_fitted_feature_names(estimator, X) -> None:
    """scikit-learn's checks against ``feature_names_in_``: renamed or reordered DataFrame columns raise a
    ValueError; a DataFrame for a model fitted without names (or an array for one fitted with names) warns."""
    _check_feature_names(estimator, X, reset=False)


def _wrap_2d_output(method):
    @functools.wraps(method)
    def wrapped(self, X, *args, **kwargs):
        out = method(self, X, *args, **kwargs)
        if isinstance(out, np.ndarray) and out.ndim == 2:
            return _wrap_data_with_container("transform", out, X, self)
        return out

    return wrapped


class LatentOutputMixin(_SetOutputMixin):
    """``get_feature_names_out`` and ``set_output`` for the latents returned by ``transform``.

    Names are ``<classname>_latent0`` ... (the class-name prefix of scikit-learn's
    ``ClassNamePrefixFeaturesOutMixin``). ``set_output(transform="pandas")`` wraps 2-D outputs (one
    recording, time steps as rows, the input DataFrame's index kept); 3-D arrays and lists of trials
    are returned as they are, since a DataFrame cannot hold them.
    """

    def __init_subclass__(cls, **kwargs):
        kwargs.pop("auto_wrap_output_keys", None)
        super().__init_subclass__(auto_wrap_output_keys=None, **kwargs)  # no wrapping of every output...
        cls._sklearn_auto_wrap_output_keys = {"transform"}  # ...but set_output is available
        for method in ("transform", "fit_transform"):
            if method in cls.__dict__:
                setattr(cls, method, _wrap_2d_output(cls.__dict__[method]))

    def _n_latent_features_out(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def get_feature_names_out(self, input_features=None):
        """Names of the columns of :meth:`transform`'s output.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against ``feature_names_in_`` / ``n_features_in_`` (the latents do not
            depend on the input names).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``<lower-case class name>_latent0``, ``..._latent1``, ...
        """
        check_is_fitted(self, "_state")
        _check_feature_names_in(self, input_features, generate_names=False)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}_latent{i}" for i in range(self._n_latent_features_out())], dtype=object)


# ---------------------------------------------------------------------------------------------------------------
# metadata routing

ROUTING_HINT = (
    "In a search or cross-validation (GridSearchCV, cross_validate, ...) u reaches score, transform and "
    "predict only with scikit-learn's metadata routing: sklearn.set_config(enable_metadata_routing=True) "
    "and request it, est.set_fit_request(u=True).set_score_request(u=True) (and set_transform_request(u=True) "
    "in pipelines)."
)


def check_inputs_routed(estimator, u) -> None:
    """Refuse ``u`` in ``fit`` called by scikit-learn's cross-validation while metadata routing is off.

    Without routing a search passes ``u`` (cut to the training fold) to ``fit`` but nothing to the
    scorer, so every test score would be NaN and the "best" candidate arbitrary.
    """
    if u is None or _routing_enabled():
        return
    frame = sys._getframe(1)
    while frame is not None:
        if (frame.f_code.co_name == "_fit_and_score"
                and frame.f_globals.get("__name__", "").startswith("sklearn.model_selection")):
            name = type(estimator).__name__
            raise ValueError(
                f"{name}.fit received u from a scikit-learn search or cross-validation with metadata routing "
                "disabled: u would reach fit but not score, so every test score would be NaN. Enable routing "
                "and request u: sklearn.set_config(enable_metadata_routing=True) and "
                f"{name}(...).set_fit_request(u=True).set_score_request(u=True)."
            )
        frame = frame.f_back
