"""The data of a low-rank fit: validation of X and u, the held-out split for early stopping, the batches
(padded trials, or random windows of one recording) and the warning about silent count columns."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._lifecycle import _outside_stacklevel
from .._validation import (
    ROUTING_HINT, Sequences, check_fitted_feature_names, check_matching_inputs, check_sequences, fitted_without_inputs,
)
from ..exceptions import SilentUnitWarning
from ._config import LowRankConfig, check_counts

__all__ = ["LowRankFitData", "batch_sampler", "batch_tensors", "split_validation", "validate_data",
           "warn_silent_units"]

# The fewest gradient steps of an epoch of random windows of one recording. One pass over a short
# recording is a single step (188 fMRI volumes in 50-step windows, 10 per batch), and the plateau rule
# (n_iter_no_change epochs without improvement) then stops after a hundred noisy steps, under-trained and
# without a warning. Ten steps per epoch is what the 7,230-sample EEG gets anyway (15).
MIN_WINDOW_STEPS_PER_EPOCH = 10


@dataclass(frozen=True)
class LowRankFitData:
    """What ``_prepare_fit`` hands to the other fit hooks of a low-rank fit."""

    seq: Sequences  # the validated training data
    useq: Sequences | None  # its inputs
    scale: float  # largest |x|: the yardstick of the check that a free run does not explode
    feature_names: Any  # of X, or None
    config: LowRankConfig  # what the fit resolved from the hyper-parameters and the data


def validate_data(est, X, u, *, fitting: bool, learning: bool = False, count_mask=None):
    """``(seq, useq)`` of X and u for ``est``: at fit time (``fitting``) against the parameters, otherwise
    against the fitted model; ``count_mask`` marks the Poisson columns to check."""
    name = type(est).__name__
    n_features = None if fitting else est.n_features_in_
    if not fitting:
        check_fitted_feature_names(est, X)
    seq = check_sequences(X, n_features=n_features, estimator_name=name)
    if learning and seq.layout != "2d" and seq.lengths.max() < 2:
        raise ValueError(
            f"X: every trial has a single time step; {name} learns its dynamics from transitions "
            "z_{t-1} -> z_t, so trials need at least 2 time steps (X of shape (n_trials, n_timesteps, "
            "n_features))."
        )
    check_counts(seq, count_mask(seq.n_features) if callable(count_mask) else count_mask)
    if fitting and seq.layout == "2d" and seq.trials[0].shape[0] < est.window_length:
        raise ValueError(
            f"X: the recording has {seq.trials[0].shape[0]} time steps (n_samples = "
            f"{seq.trials[0].shape[0]}) but window_length={est.window_length}; pass a longer recording "
            "or lower window_length."
        )
    n_inputs = None if fitting else est.n_inputs_
    if u is None:
        if not fitting and est.n_inputs_ > 0:
            raise ValueError(
                f"this model was fitted with {est.n_inputs_} external inputs; pass u=... (same container as "
                "X, one input vector per time step). " + ROUTING_HINT
            )
        return seq, None
    useq = check_matching_inputs(u, seq, n_inputs=n_inputs or None)
    if not fitting and est.n_inputs_ == 0:
        raise fitted_without_inputs()
    return seq, useq


def warn_silent_units(mask, stacked, names) -> None:
    """SilentUnitWarning naming the count columns (``mask``) without a single spike in the training data."""
    silent = np.nonzero(mask & (stacked.sum(0) == 0))[0]
    if not len(silent):
        return
    shown = [str(names[i]) if names is not None else str(int(i)) for i in silent[:20]]
    more = f" and {len(silent) - 20} more" if len(silent) > 20 else ""
    warnings.warn(
        f"X: {len(silent)} of {int(mask.sum())} count columns have no spike in the training data (column"
        f"{'s' if len(silent) > 1 else ''} {', '.join(shown)}{more}). Their rates are fitted near zero (half a "
        "spike over the data), so held-out data in which they fire score low. Drop these columns, or fit on "
        "data in which they fire.",
        SilentUnitWarning, stacklevel=_outside_stacklevel())


def batch_tensors(seq: Sequences, useq, idx, device):
    """Batch of trials ``idx``: x (B, T_max, D) zero-padded, its mask (None if all trials are full), u and
    the lengths, as float32 tensors on ``device``."""
    take = lambda s: Sequences([s.trials[i] for i in idx], s.layout)  # noqa: E731
    x, full = take(seq).padded(np.float32)
    u = None if useq is None else torch.as_tensor(take(useq).padded(np.float32)[0], device=device)
    mask = None if full.all() else torch.as_tensor(full, device=device)
    lengths = torch.as_tensor(full.sum(1), dtype=torch.float32, device=device)
    return torch.as_tensor(x, device=device), mask, u, lengths


def split_validation(seq, useq, gen, *, fraction, window_length: int):
    """Held-out data for early stopping: ``(train_seq, train_u, (val_seq, val_u))``, whole trials (drawn
    with ``gen``) or the end of a recording; ``fraction`` None: ``(seq, useq, None)``."""
    if fraction is None:
        return seq, useq, None
    frac = float(fraction)
    if seq.layout == "2d":
        T = seq.trials[0].shape[0]
        n_val = int(round(T * frac))
        if T - n_val < window_length or n_val < 2:
            raise ValueError(
                f"early_stopping holds out the last {frac:.0%} of the recording, which leaves too few steps "
                f"for window_length={window_length}; lower validation_fraction or window_length."
            )
        cut = lambda s, a, b: None if s is None else Sequences([s.trials[0][a:b]], "2d")  # noqa: E731
        return cut(seq, 0, T - n_val), cut(useq, 0, T - n_val), (cut(seq, T - n_val, T), cut(useq, T - n_val, T))
    n = len(seq)
    n_val = max(1, int(round(n * frac)))
    if n - n_val < 1:
        raise ValueError(f"early_stopping needs at least 2 trials; got {n}.")
    perm = torch.randperm(n, generator=gen).numpy()
    take = lambda s, ids: None if s is None else Sequences([s.trials[i] for i in ids], s.layout)  # noqa: E731
    tr, va = perm[n_val:], perm[:n_val]
    return take(seq, tr), take(useq, tr), (take(seq, va), take(useq, va))


def batch_sampler(seq: Sequences, useq, device, gen, *, batch_size: int, window_length: int, batches_per_epoch):
    """``(sample, n_batches)``: ``sample()`` returns the next batch ``(x, mask, u, lengths)``, random windows of
    ``window_length`` steps of a recording (2-D X) or the trials in a fresh random order each epoch."""
    B = batch_size
    if seq.layout == "2d":
        L = window_length
        f32 = lambda a: torch.from_numpy(np.array(a, dtype=np.float32)).to(device)  # noqa: E731 (copy: input may be read-only)
        x_all = f32(seq.trials[0])
        u_all = None if useq is None else f32(useq.trials[0])
        n_starts = x_all.shape[0] - L + 1
        lengths = torch.full((B,), float(L), device=device)
        offsets = torch.arange(L, device=device)

        def sample():
            starts = torch.randint(n_starts, (B, 1), generator=gen, device=device)
            rows = starts + offsets  # (B, L)
            return x_all[rows], None, None if u_all is None else u_all[rows], lengths

        return sample, batches_per_epoch or max(MIN_WINDOW_STEPS_PER_EPOCH, math.ceil(x_all.shape[0] / L / B))

    n = len(seq)
    state = {"perm": np.empty(0, dtype=int)}
    cpu_gen = torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=gen, device=device)))

    def sample():
        if len(state["perm"]) == 0:
            state["perm"] = torch.randperm(n, generator=cpu_gen).numpy()
        idx, state["perm"] = state["perm"][:B], state["perm"][B:]
        return batch_tensors(seq, useq, idx, device)

    return sample, batches_per_epoch or max(1, math.ceil(n / B))
