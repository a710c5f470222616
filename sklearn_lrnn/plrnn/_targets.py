"""The targets of a supervised fit: their kind (one per step or one per trial), alignment and weights."""

from __future__ import annotations

import numpy as np

from .._validation import check_aligned, check_dense_real, check_numeric, check_sequences, check_trial_weights

__all__ = ["check_targets", "match_trials", "row_weights"]


def check_targets(y, seqs):
    """``(mode, targets, y1d)``: 'seq2seq' (per-step target trials) or 'seq2one' (an array, one row per trial),
    and whether ``y`` was 1-D (predictions are then 1-D too)."""
    check_dense_real(y, "y", is_X=False)
    n_trials = len(seqs)
    if seqs.layout == "2d":
        arr = check_numeric(y, "y", allow_nan=True)
        y1d = arr.ndim == 1
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] != seqs.trials[0].shape[0]:
            raise ValueError(
                f"y must have one target row per time step of the 2-D X ({seqs.trials[0].shape[0]}); "
                f"got shape {np.shape(y)}. For one target per sequence pass X as 3-D (n_trials, T, n_inputs)."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError("y contains NaN or infinite values; remove or impute them before fitting.")
        return "seq2seq", [arr], y1d
    if isinstance(y, (list, tuple)) and len(y) and np.ndim(y[0]) == 2:
        yseq = check_sequences(y, name="y")
        return "seq2seq", match_trials(yseq, seqs), False
    arr = check_numeric(y, "y", allow_nan=True)
    if arr.ndim == 3:
        yseq = check_sequences(arr, name="y")
        return "seq2seq", match_trials(yseq, seqs), False
    if arr.ndim in (1, 2):
        if arr.shape[0] != n_trials:
            raise ValueError(
                f"y has {arr.shape[0]} rows but X has {n_trials} trials; pass one target (vector) per "
                "trial for sequence-to-one regression, or target sequences shaped like X."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError("y contains NaN or infinite values; remove or impute them before fitting.")
        y1d = arr.ndim == 1
        return "seq2one", arr.reshape(n_trials, -1), y1d
    raise ValueError(f"y must be 1-D, 2-D or 3-D (or a list of trials); got shape {arr.shape}.")


def row_weights(sample_weight, rows_per_trial):
    """Weights of the flattened target rows from ``sample_weight`` given per row or per trial."""
    if sample_weight is None:
        return None
    n_rows, n_trials = int(sum(rows_per_trial)), len(rows_per_trial)
    w = check_numeric(sample_weight, "sample_weight")
    if w.ndim == 1 and len(w) == n_trials and n_trials != n_rows:
        w = np.repeat(check_trial_weights(w, n_trials), rows_per_trial)
    elif w.ndim != 1 or len(w) != n_rows:
        raise ValueError(f"sample_weight must have one value per trial ({n_trials}) or per row of the flattened "
                         f"targets ({n_rows}); got shape {w.shape}.")
    return check_trial_weights(w, n_rows, what="target row")


def match_trials(yseq, seqs):
    return check_aligned(
        yseq, seqs, name="y", count_hint="pass one target sequence per input trial.",
        length_hint="target sequences must have one row per input time step (or pass one target per trial).",
    ).trials
