"""Trial layouts: turn the three accepted layouts of X into a list of trials and back.

Accepted layouts (the "Data conventions" section of the user guide):

* 3-D array ``(n_trials, n_timesteps, n_features)``: equal-length trials;
* list of 2-D arrays ``(T_i, n_features)``: trials of different lengths;
* 2-D array ``(n_timesteps, n_features)``: one continuous recording.

Everything downstream works on :class:`Sequences`, a list of float arrays plus the layout tag, and
:func:`restore` puts per-trial results back into the caller's layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._values import _to_float, check_array_like

__all__ = ["Sequences", "check_sequences", "restore", "split_by_lengths", "check_matching_inputs", "check_aligned"]


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
