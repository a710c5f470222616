"""
.. _example_reaching:

==================================================
Motor cortex during reaching: latents and velocity
==================================================

A Poisson low-rank RNN fitted to real spike counts of macaque primary motor cortex (171 units, 50 ms
bins) recorded while the monkey made planar reaches (Stevenson et al. 2011, J Neurophysiol 106:764;
CRCNS DREAM data as redistributed by the KordingLab spykesML repository). The reach targets are not
labelled, so movements and their directions are read from the hand kinematics. We then look at the
posterior latents before and during movement, coloured by reach direction, and decode hand velocity
from them on held-out reaches.

The recording is not distributed with the package: :func:`~sklearn_lrnn.datasets.fetch_m1_reaching`
reads it from the shared data folder beside the repository where there is one, else from
:func:`~sklearn_lrnn.datasets.get_data_home`, downloading it from its public source the first time.

To keep the example under a minute (about 40 s on one core) the fit is cut short (``max_iter=60``
epochs; a default fit stops by itself after 240-350 epochs, 1.5-3 minutes on one core, and decodes
velocity better: ``benchmarks/real_reaching.py`` runs the full comparison, cross-validated by time
blocks, where the default fit's latents reach R^2 0.45 against 0.49 for 4 principal components of
smoothed counts).
"""

# %%
# Movements and their directions from the kinematics
# --------------------------------------------------
# A movement is a run of bins where the hand speed exceeds 0.1 m/s, widened while it stays above
# 0.03 m/s; its direction is the angle of the displacement from onset to offset, in 8 sectors of 45
# degrees. Trials are 1.5 s windows from 0.5 s before to 1 s after each movement onset (non-overlapping).
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import fetch_m1_reaching

try:
    here = Path(__file__).resolve().parent
except NameError:  # run interactively
    here = Path.cwd()
shared = here.parent.parent / "shared" / "data"  # the shared data folder beside the repository, if any
rec = fetch_m1_reaching(data_home=shared if (shared / "m1_reaching").is_dir() else None)
counts, velocity, position = rec.spike_counts, rec.hand_velocity, rec.hand_position

speed = np.hypot(*velocity.T)
fast = np.flatnonzero(np.diff(np.r_[0, (speed > 0.1).astype(int), 0]))
onsets, offsets = [], []
for a, b in zip(fast[::2], fast[1::2]):
    while a > 0 and speed[a - 1] > 0.03:
        a -= 1
    while b < len(speed) and speed[b] > 0.03:
        b += 1
    if onsets and a - offsets[-1] <= 2:  # merge movements less than 100 ms apart
        offsets[-1] = b
    else:
        onsets.append(a)
        offsets.append(b)
onsets, offsets = np.array(onsets), np.array(offsets)
dist = np.hypot(*(position[offsets - 1] - position[onsets]).T)
ok = (offsets - onsets >= 3) & (dist >= 0.02)  # at least 150 ms and 2 cm
onsets, offsets = onsets[ok], offsets[ok]
disp = position[offsets - 1] - position[onsets]
direction = np.round(np.arctan2(disp[:, 1], disp[:, 0]) % (2 * np.pi) / (np.pi / 4)).astype(int) % 8

before, after = 10, 20  # bins: 0.5 s before, 1 s after onset
keep, last = [], -1
for i, on in enumerate(onsets):
    if on - before >= 0 and on + after <= len(counts) and on - before >= last:
        keep.append(i)
        last = on + after
keep = np.array(keep)
window = onsets[keep][:, None] + np.arange(-before, after)
X = counts[window].astype(float)  # (trials, 30 bins, 171 units)
V = velocity[window]              # (trials, 30 bins, 2)
direction = direction[keep]
print(f"{len(X)} reaches, per direction: {np.bincount(direction, minlength=8)}; X: {X.shape}")

# %%
# Fit on the first 80% of the reaches
# -----------------------------------
# Rank 4 is the rank that ``benchmarks/real_reaching.py`` selects by held-out likelihood. The default
# proposal for spike counts is the encoder. 60 epochs are not enough for the stopping rule, so the fit
# raises a ``ConvergenceWarning``, which we silence here.
n_train = int(0.8 * len(X))
model = StochasticLowRankRNN(rank=4, observation="poisson", max_iter=60, compute_fixed_points=False, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X[:n_train])
Z = model.transform(X, method="smoothing")  # posterior means given each whole trial, (trials, 30, 4)
print(f"epochs: {model.n_iter_}, held-out ELBO per bin: {model.score(X[n_train:]):.2f}")

# %%
# Latents before and during movement
# ----------------------------------
# The mean latent trajectory of each reach direction (held-out and training reaches alike), projected
# on the two principal axes of the latents. The trajectories start together 0.5 s before movement
# onset (circles), begin to separate by direction around onset (squares; the smoothing posterior sees
# the whole trial, and preparatory activity precedes the movement) and fan out during the reach.
proj = PCA(2).fit(Z.reshape(-1, 4))
colors = plt.cm.hsv(np.arange(8) / 8)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
t = (np.arange(-before, after)) * 0.05
for d in range(8):
    m = proj.transform(Z[direction == d].mean(0))
    axes[0].plot(m[:, 0], m[:, 1], color=colors[d], label=f"{45 * d} deg")
    axes[0].plot(*m[0], "o", color=colors[d])
    axes[0].plot(*m[before], "s", color=colors[d], markeredgecolor="k")
axes[0].set(xlabel="latent PC 1", ylabel="latent PC 2",
            title="mean latents per direction\n(circle: -0.5 s, square: movement onset)")
axes[0].legend(fontsize="x-small", ncol=2)
for d in range(8):
    axes[1].plot(t, proj.transform(Z[direction == d].mean(0))[:, 0], color=colors[d])
axes[1].axvline(0, color="k", lw=0.8)
axes[1].set(xlabel="time from movement onset (s)", ylabel="latent PC 1", title="latent PC 1 over the trial")

# %%
# Decoding hand velocity from the latents
# ---------------------------------------
# A ridge regression per time bin from the 4 latents to the hand velocity, trained on the training
# reaches and scored on the held-out ones, against the same decoder on 4 principal components of the
# smoothed counts (square root, Gaussian smoothing over 2 bins).
def ridge_r2(F):
    Ftr, Fte = F[:n_train].reshape(-1, F.shape[-1]), F[n_train:].reshape(-1, F.shape[-1])
    reg = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(Ftr, V[:n_train].reshape(-1, 2))
    pred = reg.predict(Fte)
    return r2_score(V[n_train:].reshape(-1, 2), pred, multioutput="variance_weighted"), pred.reshape(-1, X.shape[1], 2)


S = gaussian_filter1d(np.sqrt(X), 2.0, axis=1)
pcs = PCA(4).fit(S[:n_train].reshape(-1, X.shape[2])).transform(S.reshape(-1, X.shape[2])).reshape(len(X), X.shape[1], 4)
r2_model, pred = ridge_r2(Z)
r2_pca, _ = ridge_r2(pcs)
print(f"held-out velocity R^2: latents {r2_model:.2f}, PCA of smoothed counts {r2_pca:.2f}")

fig, axes = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True, layout="constrained")
shown = np.arange(6)  # six held-out reaches, one after the other
tt = np.arange(len(shown) * X.shape[1]) * 0.05
for j, ax in enumerate(axes):
    ax.plot(tt, V[n_train:][shown, :, j].ravel(), color="k", label="true")
    ax.plot(tt, pred[shown, :, j].ravel(), color="tab:orange", label="decoded from latents")
    ax.set_ylabel(["v_x (m/s)", "v_y (m/s)"][j])
    for k in range(1, len(shown)):
        ax.axvline(k * X.shape[1] * 0.05, color="0.8", lw=0.8)
axes[0].legend(fontsize="small")
axes[0].set_title(f"held-out reaches: R^2 {r2_model:.2f} (PCA of smoothed counts: {r2_pca:.2f})")
axes[1].set_xlabel("time (s), six held-out trials")
plt.show()
