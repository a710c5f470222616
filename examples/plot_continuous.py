"""
.. _example_continuous:

=======================================================
Recovering a teacher network from continuous recordings
=======================================================

We generate noisy recordings from a known *teacher*: a rank-2 ReLU RNN of 20 units whose latent
dynamics have a limit cycle (:func:`sklearn_lrnn.datasets.make_low_rank_teacher`). We then fit a
:class:`~sklearn_lrnn.StochasticLowRankRNN` to the observations alone and check what it recovered:

* the transition noise, the decay and the observation noise, against the teacher's true values;
* generated against real traces;
* the power spectra of generated and real data;
* the training loss.

The fit below is deliberately short (a fixed 100-epoch schedule, well under a minute on one CPU core)
so that the gallery builds quickly; the numbers are therefore close to, but not as close as, those of
a full fit. Real analyses keep the default schedule, which trains until the loss stops improving
(``make demo`` does; ``doc/benchmarks.md`` reports noise 0.20 vs 0.2 and decay 0.90 vs 0.9 after a
full fit).
"""

# %%
# Data from a known teacher
# -------------------------
# ``X`` has the layout used throughout the package: ``(n_trials, n_timesteps, n_features)``.
# Here the 20 channels are the teacher's units (its currents, observed with noise of std 0.1);
# the latent state has two dimensions, so the data live close to a plane in 20-D space.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import dominant_period, make_low_rank_teacher
from sklearn_lrnn.plotting import plot_loss_curve, plot_phase_portrait, plot_power_spectra, plot_traces

data = make_low_rank_teacher(n_trials=100, n_timesteps=75, random_state=0)
print("X:", data.X.shape, " true latents Z:", data.Z.shape)
print(f"teacher: noise std {data.teacher['noise_std']}, decay {data.teacher['decay']}, "
      f"observation noise std {data.teacher['obs_noise_std']}, period {data.period:.2f} steps")

# %%
# Fit the stochastic low-rank RNN
# -------------------------------
# ``observation="gaussian_currents"`` reads one channel per unit (as the teacher does), which pins the
# scale of the units and makes the noise in unit space identifiable. With Gaussian observations the
# default ``proposal="auto"`` uses the exact ("optimal") proposal, for which 16 particles are plenty.
model = StochasticLowRankRNN(
    rank=2, observation="gaussian_currents", n_particles=16, batch_size=16, max_iter=100,
    learning_rate=1e-2, learning_rate_schedule="exponential", final_learning_rate=1e-3, random_state=0,
)
model.fit(data.X)
print(f"{model.n_iter_} epochs, {model.n_parameters_} parameters, "
      f"ELBO per time bin {model.score(data.X):.3f}")

# %%
# Recovered parameters against the truth
# --------------------------------------
# Latent coordinates are only defined up to an invertible linear map, so we compare quantities that
# do not depend on them: the transition noise *in unit space* (square roots of the top eigenvalues of
# ``m Sigma_z m^T``), the decay ``a``, the observation noise and the oscillation period of sampled
# trajectories.
m, S = model.left_vectors_, model.noise_cov_
unit_noise = np.sqrt(np.linalg.eigvalsh(m @ S @ m.T)[-model.rank:])
_, Z_long = model.sample(20, 400, random_state=0)
period = np.median([dominant_period(z[100:, 0]) for z in Z_long])

names = ["transition noise\n(unit 1)", "transition noise\n(unit 2)", "decay a", "observation\nnoise std"]
true = [data.teacher["noise_std"]] * 2 + [data.teacher["decay"], data.teacher["obs_noise_std"]]
fitted = list(unit_noise) + [model.decay_, np.sqrt(model.observation_noise_var_).mean()]
for name, t, f in zip(names, true, fitted):
    print(f"{name.replace(chr(10), ' '):32s} true {t:6.3f}   fitted {f:6.3f}")
print(f"{'oscillation period (steps)':32s} true {data.period:6.2f}   fitted {period:6.2f}")

fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
x = np.arange(len(names))
ax.bar(x - 0.2, true, 0.4, label="teacher (truth)", color="black")
ax.bar(x + 0.2, fitted, 0.4, label="fitted model", color="tab:orange")
ax.set_xticks(x, names)
ax.set(ylabel="value", title="Recovered noise and decay vs the teacher's")
ax.legend()

# %%
# Generated vs real traces
# ------------------------
# ``sample`` runs the fitted stochastic dynamics forward and draws observations. A generated trial
# is a new realisation, not a replay of a recorded one: it should look like the data (amplitude,
# rhythm, noise), not match it step by step.
X_gen, Z_gen = model.sample(n_trials=100, n_timesteps=75, random_state=1)
plot_traces(data.X, X_gen, channels=[0, 5, 10])

# %%
# Power spectra
# -------------
# The channel-averaged spectra of the real and generated trials; both peak at the teacher's
# oscillation frequency (1 / period, about 0.07 cycles per step). The title gives the Hellinger
# distance D_H between them (0 = identical). Trials are only 75 steps long, so we smooth over two
# frequency bins instead of the default 20.
plot_power_spectra(data.X, X_gen, smoothing_sigma=2)

# %%
# Training loss and the fitted flow
# ---------------------------------
# The loss is the negative ELBO per time bin; it is still decreasing slowly at the end of this short
# fit. The phase portrait shows the fitted noise-free latent dynamics: an unstable fixed point (open
# circle) inside a limit cycle, on which the posterior latents of a few trials (red) circulate.
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
plot_loss_curve(model, ax=axes[0])
plot_phase_portrait(model, trajectories=model.transform(data.X[:3]), ax=axes[1])
print("fixed points:", np.round(model.fixed_points_.points, 3).tolist(), list(model.fixed_points_.stability))
plt.show()
