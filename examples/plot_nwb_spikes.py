"""
.. _example_nwb_spikes:

===========================================
From an NWB file's spike times to a fit
===========================================

Recordings of spiking neurons are usually stored as spike times per neuron, not as counts per time
bin: the units table of a `Neurodata Without Borders <https://nwb.org>`_ (NWB) file holds one array of
spike times per sorted unit, and its trials table the trials' start times. This example walks the
whole path from such a file to a fitted model:

1. write a small NWB file with :mod:`pynwb` (here from simulated spikes; with your data you start at
   step 2),
2. read its units and trials tables back,
3. bin the spike times into the ``(n_trials, n_bins, n_neurons)`` count array the estimators take,
   with :func:`sklearn_lrnn.preprocessing.bin_spike_times`,
4. fit a :class:`~sklearn_lrnn.StochasticLowRankRNN` with Poisson observations.

It needs ``pynwb`` (``pip install sklearn_lrnn[nwb]``). The fit is tiny (30 epochs on 20 trials, a
few seconds) so that the gallery stays fast; :ref:`example_spikes` shows a full fit of spike counts.
"""

# %%
# Spike times of a simulated session
# ----------------------------------
# 20 neurons driven by the latent limit cycle of a rank-2 teacher network
# (:func:`sklearn_lrnn.datasets.make_poisson_teacher`) emit Poisson counts in 10 ms bins over
# 20 trials of one second. We turn the counts into spike times, placing each spike at a random time
# inside its bin, with the trials 1.5 s apart in one session: the form in which a spike sorter or an
# NWB file hands them over.
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from pynwb import NWBHDF5IO, NWBFile

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import make_poisson_teacher
from sklearn_lrnn.metrics import mean_rates
from sklearn_lrnn.preprocessing import bin_spike_times

BIN = 0.01  # seconds
teacher = make_poisson_teacher(n_trials=20, n_timesteps=100, n_units=20, offset_spread=0.5, random_state=0)
counts_true = teacher.X.astype(int)  # (trials, bins, neurons)
n_trials, n_bins, n_neurons = counts_true.shape
trial_starts = 0.5 + 1.5 * np.arange(n_trials)

rng = np.random.default_rng(0)
spike_times = []
for neuron in range(n_neurons):
    trial, step = np.nonzero(counts_true[:, :, neuron])
    bins = np.repeat(trial_starts[trial] + step * BIN, counts_true[trial, step, neuron])
    spike_times.append(np.sort(bins + rng.uniform(0.05, 0.95, bins.size) * BIN))
print(f"{n_neurons} neurons, {sum(t.size for t in spike_times)} spikes in {n_trials} trials")

# %%
# Write an NWB file
# -----------------
# One unit per neuron in the units table, one row per trial in the trials table.
folder = tempfile.TemporaryDirectory()
path = Path(folder.name) / "session.nwb"
nwbfile = NWBFile(session_description="simulated low-rank network", identifier="sklearn-lrnn-example",
                  session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
for times in spike_times:
    nwbfile.add_unit(spike_times=times)
for start in trial_starts:
    nwbfile.add_trial(start_time=start, stop_time=start + n_bins * BIN)
with NWBHDF5IO(path, "w") as io:
    io.write(nwbfile)

# %%
# Read the units and trials back, and bin
# ---------------------------------------
# ``units["spike_times"][:]`` gives one array of spike times per unit, ``trials["start_time"][:]``
# the trials' start times. :func:`~sklearn_lrnn.preprocessing.bin_spike_times` cuts a window around
# each start, here ``window=(0.0, 1.0)``: from the start to one second after it (a positive first
# entry would add a baseline before the start). Without ``trial_starts`` it bins the whole session
# into one ``(n_bins, n_neurons)`` recording instead, which the estimators fit on random windows.
with NWBHDF5IO(path, "r") as io:
    session = io.read()
    units_spike_times = session.units["spike_times"][:]
    starts = session.trials["start_time"][:]
folder.cleanup()

X = bin_spike_times(units_spike_times, bin_size=BIN, trial_starts=starts, window=(0.0, 1.0))
print("counts:", X.shape, " same as the simulated counts:", np.array_equal(X, counts_true))

# %%
# Fit a Poisson model
# -------------------
# ``observation="poisson"`` reads the counts as ``Poisson(softplus(B z + b))``; the default proposal
# for counts is the encoder (see the user guide, "Choosing the proposal"). The bounded clipped relu
# keeps every orbit of the fitted dynamics bounded: 30 epochs are too few for a relu network to settle
# reliably, and depending on the seed such a short fit can end with unstable dynamics that generate
# exploding counts.
model = StochasticLowRankRNN(
    rank=2, activation="clipped_relu", observation="poisson", max_iter=30, learning_rate=1e-2,
    learning_rate_schedule="exponential", final_learning_rate=1e-3, encoder_channels=(32, 32), random_state=0,
)
model.fit(X)
X_gen, _ = model.sample(n_trials=n_trials, n_timesteps=n_bins, random_state=1)
r = np.corrcoef(mean_rates(X), mean_rates(X_gen))[0, 1]
print(f"per-neuron mean rates, recorded vs generated: r = {r:.2f}")

# %%
# Spike times, counts and the fitted model
# ----------------------------------------
# Left: the spike times of the first trial as read from the file. Middle: the same trial binned.
# Right: each neuron's mean rate in the recording against that in data generated by the fitted model.
fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
first = [t[(t >= starts[0]) & (t < starts[0] + 1.0)] - starts[0] for t in units_spike_times]
axes[0].eventplot(first, colors="black", linewidths=0.8)
axes[0].set(title="Spike times, trial 1 (from the NWB file)", xlabel="time from trial start (s)", ylabel="unit")
axes[1].imshow(X[0].T, aspect="auto", cmap="Greys", interpolation="none", origin="lower",
               extent=(0, 1, -0.5, n_neurons - 0.5))
axes[1].set(title="Binned counts, trial 1 (10 ms bins)", xlabel="time from trial start (s)", ylabel="unit")
rates_true, rates_gen = mean_rates(X) / BIN, mean_rates(X_gen) / BIN
lim = [0, 1.1 * max(rates_true.max(), rates_gen.max())]
axes[2].scatter(rates_true, rates_gen, color="tab:blue", edgecolor="black")
axes[2].plot(lim, lim, "k--", lw=1)
axes[2].set(xlim=lim, ylim=lim, xlabel="recorded rate (spikes / s)", ylabel="generated rate (spikes / s)",
            title=f"Mean rates per neuron (r = {r:.2f})")
plt.show()
