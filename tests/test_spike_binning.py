"""bin_spike_times: spike times per neuron to count arrays, checked against a brute-force count."""

import doctest

import numpy as np
import pytest

from sklearn_lrnn import _spikes
from sklearn_lrnn.preprocessing import bin_spike_times


def _spike_times(seed, n_neurons=5, duration=10.0, grid=0.1):
    """Sorted spike times per neuron, some exactly on multiples of ``grid`` (bin edges), one neuron silent."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_neurons):
        if i == 2:
            out.append(np.array([]))
            continue
        t = rng.uniform(0, duration, rng.integers(20, 200))
        on_edges = rng.integers(0, int(duration / grid), 10) * grid
        out.append(np.sort(np.concatenate([t, on_edges])))
    return out


def _brute_trials(times, bin_size, starts, before, n_bins):
    counts = np.zeros((len(starts), n_bins, len(times)))
    for i, start in enumerate(starts):
        left = start - before
        for k in range(n_bins):
            lo, hi = left + k * bin_size, left + (k + 1) * bin_size
            for n, t in enumerate(times):
                counts[i, k, n] = sum(1 for s in t if lo <= s < hi)
    return counts


def _brute_recording(times, bin_size, t_start, n_bins):
    counts = np.zeros((n_bins, len(times)))
    for k in range(n_bins):
        lo, hi = t_start + k * bin_size, t_start + (k + 1) * bin_size
        for n, t in enumerate(times):
            counts[k, n] = sum(1 for s in t if lo <= s < hi)
    return counts


@pytest.mark.parametrize("seed, bin_size, window", [(0, 0.1, (0.5, 1.0)), (1, 0.05, (0.0, 0.7)), (2, 0.25, (-0.5, 1.5)),
                                                     (3, 0.1, (0.3, 0.0))])
def test_trials_match_brute_force(seed, bin_size, window):
    times = _spike_times(seed)
    rng = np.random.default_rng(seed + 10)
    starts = np.concatenate([rng.uniform(1, 8, 6), [2.0, 3.0, 3.1]])  # unsorted, overlapping, on the grid
    counts = bin_spike_times(times, bin_size=bin_size, trial_starts=starts, window=window)
    n_bins = int(round(sum(window) / bin_size))
    assert counts.shape == (len(starts), n_bins, len(times)) and counts.dtype == np.float64
    np.testing.assert_array_equal(counts, _brute_trials(times, bin_size, starts, window[0], n_bins))
    assert not counts[..., 2].any()  # the silent neuron


@pytest.mark.parametrize("seed, bin_size, t_start, t_stop", [(0, 0.1, None, None), (1, 0.3, None, None),
                                                            (2, 0.1, 2.0, 7.05), (3, 0.5, -1.0, 12.0)])
def test_recording_matches_brute_force(seed, bin_size, t_start, t_stop):
    times = _spike_times(seed)
    counts = bin_spike_times(times, bin_size=bin_size, t_start=t_start, t_stop=t_stop)
    start = 0.0 if t_start is None else t_start
    assert counts.ndim == 2 and counts.shape[1] == len(times)
    np.testing.assert_array_equal(counts, _brute_recording(times, bin_size, start, counts.shape[0]))
    last = max(t[-1] for t in times if len(t))
    if t_stop is None:  # every spike counted, the latest one in the last bin
        assert counts.sum() == sum(len(t) for t in times)
        assert start + (counts.shape[0] - 1) * bin_size <= last < start + counts.shape[0] * bin_size
    else:  # whole bins up to t_stop only (a partial last bin is dropped)
        assert counts.shape[0] == int(np.floor((t_stop - start) / bin_size + 1e-9))


def test_recording_starts_at_the_earliest_negative_spike():
    counts = bin_spike_times([[-0.25, 0.0, 0.3], [0.1]], bin_size=0.1)
    assert counts.sum() == 4 and counts[0, 0] == 1 and counts[-1, 0] == 1


def test_nwb_like_containers():
    pd = pytest.importorskip("pandas")
    times = _spike_times(4, n_neurons=3)
    ref = bin_spike_times(times, bin_size=0.2, trial_starts=[1.0, 5.0], window=(0.2, 0.8))
    # a DataFrame column of arrays (units.to_dataframe()["spike_times"]), lists, tuples
    for container in (pd.Series(times), [list(t) for t in times], tuple(times)):
        np.testing.assert_array_equal(bin_spike_times(container, bin_size=0.2, trial_starts=[1.0, 5.0],
                                                      window=(0.2, 0.8)), ref)
    # integer times in integer bins (e.g. sample indices)
    counts = bin_spike_times([np.array([0, 3, 3, 9]), np.array([1])], bin_size=2, trial_starts=np.array([2, 6]),
                             window=(2, 4))
    np.testing.assert_array_equal(counts[:, :, 0], [[1, 2, 0], [0, 0, 1]])


def test_counts_fit_a_poisson_model():
    from sklearn_lrnn import StochasticLowRankRNN

    times = _spike_times(5, n_neurons=4)
    X = bin_spike_times(times, bin_size=0.1, trial_starts=np.arange(1.0, 9.0, 1.0), window=(0.0, 1.0))
    model = StochasticLowRankRNN(rank=1, observation="poisson", max_iter=1, n_particles=2, batch_size=4,
                                 encoder_channels=(4, 4), compute_fixed_points=False, random_state=0)
    with pytest.warns(Warning):  # one epoch: not converged
        model.fit(X)
    assert np.isfinite(model.score(X))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(spike_times=[[0.1, 0.3, 0.2]]), ValueError, r"spike_times\[0\] is not sorted: 0.2 \(position 2\)"),
    (dict(spike_times=[[0.1], [0.1, np.nan]]), ValueError, r"spike_times\[1\] holds a non-finite time"),
    (dict(spike_times=[[0.1, np.inf]]), ValueError, "non-finite"),
    (dict(spike_times=[0.1, 0.2, 0.3]), ValueError, "flat sequence of numbers"),
    (dict(spike_times=np.array([0.1, 0.2])), ValueError, "flat sequence"),
    (dict(spike_times=[]), ValueError, "empty"),
    (dict(spike_times=[[[0.1, 0.2]]]), ValueError, "1-D array"),
    (dict(spike_times=[["a", "b"]]), ValueError, "strings"),
    (dict(spike_times="0.1 0.2"), TypeError, "list of 1-D arrays"),
    (dict(spike_times={"a": [0.1]}), TypeError, "list of 1-D arrays"),
    (dict(bin_size=0), ValueError, "bin_size must be a finite number > 0"),
    (dict(bin_size=-0.1), ValueError, "bin_size must be"),
    (dict(bin_size=np.nan), ValueError, "bin_size must be"),
    (dict(bin_size=True), TypeError, "bin_size must be a real number"),
    (dict(bin_size="0.1"), TypeError, "bin_size must be a real number"),
    (dict(bin_size=0.07, trial_starts=[1.0], window=(0.1, 0.4)), ValueError, "not a whole number of bins"),
    (dict(bin_size=2.0, trial_starts=[1.0], window=(0.1, 0.4)), ValueError, "longer than the window"),
    (dict(trial_starts=[1.0]), ValueError, r"window=\(before, after\) is required"),
    (dict(window=(0.1, 0.2)), ValueError, "pass trial_starts with it"),
    (dict(trial_starts=[1.0], window=(0.3, -0.3)), ValueError, "is empty"),
    (dict(trial_starts=[1.0], window=0.5), ValueError, "pair"),
    (dict(trial_starts=[1.0], window=(0.1, np.nan)), ValueError, "finite"),
    (dict(trial_starts=[], window=(0.1, 0.2)), ValueError, "non-empty 1-D"),
    (dict(trial_starts=[[1.0]], window=(0.1, 0.2)), ValueError, "non-empty 1-D"),
    (dict(trial_starts=[1.0, np.nan], window=(0.1, 0.2)), ValueError, "NaN or infinite"),
    (dict(trial_starts=[0.05, 1.0], window=(0.1, 0.2), t_start=0.0), ValueError, "trial 0 starts at"),
    (dict(trial_starts=[1.0, 2.0], window=(0.1, 0.2), t_stop=2.1), ValueError, "trial 1 ends at"),
    (dict(t_start=1.0, t_stop=1.0), ValueError, "must be later than t_start"),
    (dict(t_start=np.inf), ValueError, "t_start must be a finite number"),
    (dict(bin_size=5.0, t_stop=1.0), ValueError, "longer than the recording"),
    (dict(t_start=5.0), ValueError, "no spike at or after t_start"),
])
def test_errors(kwargs, error, match):
    kwargs = {"spike_times": [[0.1, 0.2], [0.5]], "bin_size": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        bin_spike_times(**kwargs)


def test_trial_windows_inside_the_recording_pass():
    counts = bin_spike_times([[0.1, 0.2], [0.5]], bin_size=0.1, trial_starts=[0.1, 0.9], window=(0.1, 0.1),
                             t_start=0.0, t_stop=1.0)
    np.testing.assert_array_equal(counts[:, :, 0], [[0, 1], [0, 0]])  # 0.2 ends the window: out


def test_docstring_examples():
    result = doctest.testmod(_spikes, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
