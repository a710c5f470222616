"""Trials of different lengths as tensors: zero-padded stacks, training windows and whole-trial batches."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["pad_trials", "time_major", "window_sampler", "trial_sampler"]


def pad_trials(trials, dtype=np.float32):
    """``(n_trials, T_max, n_features)`` with zeros after each trial's end."""
    lengths = [len(t) for t in trials]
    out = np.zeros((len(trials), max(lengths), trials[0].shape[1]), dtype=dtype)
    for i, t in enumerate(trials):
        out[i, : len(t)] = t
    return out


def time_major(trials, device):
    """``(tensor (T_max, n_trials, n_features), lengths)``: the padded trials, time first, on ``device``."""
    return torch.as_tensor(pad_trials(trials), device=device).transpose(0, 1).contiguous(), [len(t) for t in trials]


def window_sampler(trials, length, batch_size, gen, device, dtype):
    """Random windows of ``length`` steps (never crossing trial boundaries), time-major (length, B, F)."""
    lengths = np.array([len(t) for t in trials])
    data = torch.as_tensor(pad_trials(trials), dtype=dtype, device=device)
    n_starts = lengths - length + 1
    trial_of = torch.as_tensor(np.repeat(np.arange(len(trials)), n_starts), device=device)
    start_of = torch.as_tensor(np.concatenate([np.arange(n) for n in n_starts]), device=device)
    offsets = torch.arange(length, device=device)

    def sample():
        k = torch.randint(len(trial_of), (batch_size,), generator=gen, device=device)
        tr, st = trial_of[k], start_of[k]
        return data[tr[:, None], st[:, None] + offsets].transpose(0, 1).contiguous()

    return sample


def trial_sampler(trials, targets, device, dtype):
    """``draw(generator, n)``: ``n`` whole trials drawn with replacement, as (inputs (T_max, n, K) time-major,
    targets (n, N), index of each trial's last step)."""
    S_all = torch.as_tensor(pad_trials(trials), device=device)
    Y_all = torch.as_tensor(targets, dtype=dtype, device=device)
    last_all = torch.as_tensor(np.array([len(t) for t in trials], dtype=int) - 1, device=device)
    n_tr = len(trials)

    def draw(g, n):
        idx = torch.randint(n_tr, (n,), generator=g, device=device)
        return S_all[idx].transpose(0, 1), Y_all[idx], last_all[idx]

    return draw
