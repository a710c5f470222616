"""How many gradient steps an epoch of a low-rank fit makes (sklearn_lrnn/low_rank/_data.py)."""

import math

import numpy as np
import pytest
import torch

from sklearn_lrnn._validation import check_sequences
from sklearn_lrnn.low_rank._data import MIN_WINDOW_STEPS_PER_EPOCH, batch_sampler


def _n_batches(X, batches_per_epoch=None, batch_size=10, window_length=50):
    seq = check_sequences(X, name="X")
    sample, n = batch_sampler(seq, None, torch.device("cpu"), torch.Generator().manual_seed(0),
                              batch_size=batch_size, window_length=window_length, batches_per_epoch=batches_per_epoch)
    x, mask, u, lengths = sample()
    return n, x.shape


@pytest.mark.parametrize("T, expected", [(188, MIN_WINDOW_STEPS_PER_EPOCH), (7230, 15), (20_000, 40)])
def test_one_recording_gets_enough_steps_per_epoch(T, expected):
    # 188 fMRI volumes in 50-step windows, 10 per batch, used to make one step per epoch; long recordings
    # keep one pass over the data (the EEG: 15)
    n, shape = _n_batches(np.zeros((T, 3)))
    assert n == max(expected, math.ceil(T / 500)) and shape == (10, 50, 3)
    assert MIN_WINDOW_STEPS_PER_EPOCH >= 10


def test_trials_and_explicit_batches_per_epoch_unchanged():
    assert _n_batches(np.zeros((25, 30, 3)))[0] == 3  # trials: one pass, ceil(25 / 10)
    assert _n_batches(np.zeros((188, 3)), batches_per_epoch=2)[0] == 2
