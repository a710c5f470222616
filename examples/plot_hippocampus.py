"""
.. _example_hippocampus:

=======================================================
Hippocampal place cells on a linear track: latent space
=======================================================

A Poisson low-rank RNN fitted to real spike trains of rat hippocampal units (31 tetrode units) while
the animal runs laps on a linear track (the nelpy project's example data). Place cells fire where the
animal is, so a good latent model should carry the animal's position, which it never sees: we bin the
running periods one lap per trial, fit a rank-3 model, colour its posterior latents by position,
decode position on held-out laps, and compare the place fields of generated spike trains with the
recorded ones.

The recording is not distributed with the package: :func:`~sklearn_lrnn.datasets.fetch_linear_track`
reads it from the shared data folder beside the repository where there is one, else from
:func:`~sklearn_lrnn.datasets.get_data_home`, downloading it from its public source the first time.

To keep the example short the fit is cut at ``max_iter=150`` epochs (about 20 s); a default fit stops
by itself after ~800 epochs (2 minutes on one core). ``benchmarks/real_hippocampus.py`` runs the full
experiment: the rank chosen by held-out likelihood, position decoding cross-validated over laps
against PCA and the linear baseline, and the statistics of generated spike trains.
"""

# %%
# Laps of running, binned
# -----------------------
# Running periods are where the smoothed speed exceeds 10 pixels/s; each lap (one traversal between the
# track's ends) becomes one trial of 100 ms bins. Units that never fire while the animal runs are
# dropped: a rate fitted to no spike at all is zero (the estimator warns about such columns).
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsRegressor

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import bin_running_periods, fetch_linear_track

try:
    here = Path(__file__).resolve().parent
except NameError:  # run interactively
    here = Path.cwd()
shared = here.parent.parent / "shared" / "data"  # the shared data folder beside the repository, if any
rec = fetch_linear_track(data_home=shared if (shared / "hippocampus_linear_track").is_dir() else None)
laps = bin_running_periods(rec.spike_times, rec.position_time, rec.position, bin_size=0.1)
active = np.concatenate(laps.X).sum(0) > 0
X = [x[:, active] for x in laps.X]
position, direction = laps.position, np.asarray(laps.direction)
print(f"{len(X)} laps, {sum(len(x) for x in X)} bins, {active.sum()} active units, "
      f"{(np.concatenate(X) == 0).mean():.0%} of unit-bins empty")

# %%
# Fit on the first 36 laps
# ------------------------
# Only the rank and the observation model are set; the rest are the defaults.
train, test = slice(0, 36), slice(36, None)
model = StochasticLowRankRNN(rank=3, observation="poisson", max_iter=150, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # the epochs are cut short on purpose
    model.fit(X[train])
print(f"held-out ELBO per bin: {model.score(X[test]):.3f} (training laps: {model.score(X[train]):.3f})")

# %%
# Latents coloured by position
# ----------------------------
# The posterior latents (smoothing: each bin sees the whole lap) of every lap, projected on their two
# main axes. Position varies smoothly along the latent trajectories, and the two running directions
# take different paths: the model separates them although it is never told the direction.
Z = model.transform(X, method="smoothing")
stacked = np.concatenate(Z)
centre = stacked.mean(0)
_, _, axes = np.linalg.svd(stacked - centre, full_matrices=False)
fig, ax = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
for k, (sign, name) in enumerate(((1, "rightward laps"), (-1, "leftward laps"))):
    for z, p, d in zip(Z, position, direction):
        if d == sign:
            P = (z - centre) @ axes[:2].T
            ax[k].plot(*P.T, color="0.85", lw=0.6, zorder=1)
            sc = ax[k].scatter(*P.T, c=p, cmap="viridis", s=6, vmin=laps.track_ends[0], vmax=laps.track_ends[1],
                               zorder=2)
    points = getattr(model, "fixed_points_", None)
    if points is not None and len(points):
        F = (np.asarray(points.points) - centre) @ axes[:2].T
        ax[k].scatter(*F.T, marker="x", color="red", s=50, zorder=3, label="fixed points")
        ax[k].legend(loc="lower right", fontsize=8)
    ax[k].set_title(name)
    ax[k].set_xlabel("latent axis 1")
ax[0].set_ylabel("latent axis 2")
fig.colorbar(sc, ax=ax, label="position (pixels)")

# %%
# Position decoded on held-out laps
# ---------------------------------
# A 15-nearest-neighbour regression from latents to position, trained on the first 36 laps, predicts the
# position in the last 12 laps from their spikes alone.
decoder = KNeighborsRegressor(15).fit(np.concatenate(Z[train]), np.concatenate(position[train]))
pred = [decoder.predict(z) for z in Z[test]]
true = np.concatenate(position[test])
r2 = 1 - ((np.concatenate(pred) - true) ** 2).sum() / ((true - np.concatenate(position[train]).mean()) ** 2).sum()
fig, ax = plt.subplots(figsize=(9, 3))
t0 = 0
for p, q in zip(position[test], pred):
    steps = np.arange(t0, t0 + len(p))
    ax.plot(steps, p, color="k", lw=1)
    ax.plot(steps, q, color="tab:orange", lw=1)
    t0 += len(p) + 3
ax.plot([], [], color="k", label="true")
ax.plot([], [], color="tab:orange", label=f"decoded from latents (R$^2$ = {r2:.2f})")
ax.set_xlabel("bins of the held-out laps (100 ms)")
ax.set_ylabel("position (pixels)")
ax.legend(loc="upper right", fontsize=8)
fig.tight_layout()

# %%
# Place fields of generated spike trains
# --------------------------------------
# The fitted model generates laps of its own. Their position is read from the generated latents with
# the decoder above; the mean counts per position bin of a few units, recorded and generated:
edges = np.linspace(*laps.track_ends, 16)
rng = np.random.RandomState(0)
gen = [model.sample(n_trials=1, n_timesteps=len(x), random_state=rng.randint(2**31)) for x in X]
gen_X = np.concatenate([g[0][0] for g in gen])
gen_pos = np.concatenate([decoder.predict(g[1][0]) for g in gen])


def fields(counts, pos):
    idx = np.clip(np.digitize(pos, edges) - 1, 0, len(edges) - 2)
    return np.array([counts[idx == b].mean(0) if (idx == b).any() else np.full(counts.shape[1], np.nan)
                     for b in range(len(edges) - 1)])


real_fields = fields(np.concatenate(X), np.concatenate(position))
gen_fields = fields(gen_X, gen_pos)
units = np.argsort(np.nanmax(real_fields, 0))[-4:]  # the four with the strongest fields
fig, ax = plt.subplots(1, 4, figsize=(11, 2.6), sharex=True)
centres = 0.5 * (edges[1:] + edges[:-1])
for a, j in zip(ax, units):
    a.plot(centres, real_fields[:, j] / 0.1, color="k", label="recorded")
    a.plot(centres, gen_fields[:, j] / 0.1, color="tab:orange", label="generated")
    a.set_title(f"unit {np.flatnonzero(active)[j]}")
    a.set_xlabel("position (pixels)")
ax[0].set_ylabel("rate (Hz)")
ax[0].legend(fontsize=8)
plt.tight_layout()
plt.show()
