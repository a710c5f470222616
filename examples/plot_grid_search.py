"""
.. _example_grid_search:

===========================================================
Choosing the rank by cross-validation, and decoding latents
===========================================================

:class:`~sklearn_lrnn.StochasticLowRankRNN` is an ordinary scikit-learn estimator, so the usual
model-selection tools work on it directly:

* :class:`~sklearn.model_selection.GridSearchCV` picks the rank (and the noise parameterisation) by
  the held-out ELBO per time bin that ``score`` returns. Trials are axis 0 of ``X``, so the splitter
  cross-validates by trial: every fold is fitted on whole trials and scored on other whole trials.
* In a :class:`~sklearn.pipeline.Pipeline`, the model is a transformer (observations -> posterior
  latents) followed by any scikit-learn estimator, made to work per time bin by
  :class:`~sklearn_lrnn.PerTimeBin`.

Everything here is small (60 trials of 40 steps, 25 epochs per fit, about half a minute on one CPU
core in all); real searches fit each candidate for many more epochs, and parallelise over candidates
and folds with ``n_jobs``.
"""

# %%
# Data from a rank-2 teacher
# --------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict, cross_val_score
from sklearn.pipeline import make_pipeline

from sklearn_lrnn import PerTimeBin, StochasticLowRankRNN
from sklearn_lrnn.datasets import make_low_rank_teacher

data = make_low_rank_teacher(n_trials=60, n_timesteps=40, n_units=10, random_state=1)
print("X:", data.X.shape)
# a short fixed schedule keeps the gallery fast; the defaults train until a stopping rule is met
small = dict(n_particles=8, batch_size=10, max_iter=25, learning_rate=1e-2, learning_rate_schedule="exponential",
             final_learning_rate=1e-3, random_state=0, compute_fixed_points=False)

# %%
# Grid search over rank and noise type
# ------------------------------------
# ``score`` is computed with a fixed seed and particle count, so every candidate and fold is
# evaluated on equal terms. ``KFold(shuffle=True)`` splits the 60 trials into 3 folds of 20.
grid = {"rank": [1, 2, 3], "transition_noise": ["diag", "full"]}
search = GridSearchCV(StochasticLowRankRNN(**small), grid, cv=KFold(3, shuffle=True, random_state=0))
search.fit(data.X)
print("best parameters:", search.best_params_)

# %%
# The held-out ELBO jumps from rank 1 to rank 2 (a one-dimensional latent cannot hold the teacher's
# oscillation) and does not improve beyond: the extra dimension of rank 3 is not needed. The
# diagonal and full noise covariances fit about equally well here.
res = search.cv_results_
fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
for offset, noise in zip((-0.05, 0.05), grid["transition_noise"]):
    sel = np.asarray(res["param_transition_noise"]) == noise
    ranks = np.asarray(res["param_rank"])[sel].astype(int)
    ax.errorbar(ranks + offset, res["mean_test_score"][sel], yerr=res["std_test_score"][sel], marker="o",
                capsize=4, label=f'transition_noise="{noise}"')
ax.axvline(2, color="gray", linestyle=":", label="teacher's rank")
ax.set(xticks=grid["rank"], xlabel="rank", ylabel="held-out ELBO per time bin (higher is better)",
       title="Choosing the rank by 3-fold cross-validation over trials")
ax.legend()

# %%
# A decoder pipeline: model + per-time-bin regression
# ---------------------------------------------------
# Now the observations are much noisier (noise std 1.0 against a signal of std about 0.7 per
# channel) and we want to decode the teacher's latent state in each time bin. A Ridge regression on the raw observations
# can only use the current bin; the posterior of the fitted model pools evidence over time. Both are
# scored by cross-validated R^2 over trials.
noisy = make_low_rank_teacher(n_trials=60, n_timesteps=40, n_units=10, obs_noise_std=1.0, random_state=2)
X, y = noisy.X, noisy.Z  # y: (trials, time, 2) true latents
cv = KFold(3, shuffle=True, random_state=0)
pipe = make_pipeline(StochasticLowRankRNN(rank=2, **{**small, "max_iter": 40}), PerTimeBin(Ridge(1e-3)))
raw = PerTimeBin(Ridge(1e-3))
r2_pipe = cross_val_score(pipe, X, y, cv=cv)
r2_raw = cross_val_score(raw, X, y, cv=cv)
print(f"R^2 with the model: {r2_pipe.mean():.3f} +- {r2_pipe.std():.3f};  "
      f"raw: {r2_raw.mean():.3f} +- {r2_raw.std():.3f}")

y_pipe = cross_val_predict(pipe, X, y, cv=cv)
y_raw = cross_val_predict(raw, X, y, cv=cv)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained", width_ratios=(1, 2.2))
axes[0].bar([0, 1], [r2_raw.mean(), r2_pipe.mean()], yerr=[r2_raw.std(), r2_pipe.std()], capsize=5,
            color=["gray", "tab:orange"])
axes[0].set_xticks([0, 1], ["Ridge on\nraw data", "StochasticLowRankRNN\n+ PerTimeBin(Ridge)"])
axes[0].set(ylabel="cross-validated R^2", title="Decoding the teacher's latents")
trial = 0
axes[1].plot(y[trial, :, 0], color="black", lw=2, label="true latent 0")
axes[1].plot(y_raw[trial, :, 0], color="gray", label="Ridge on raw data")
axes[1].plot(y_pipe[trial, :, 0], color="tab:orange", label="model + Ridge")
axes[1].set(xlabel="time step", ylabel="latent 0", title=f"Held-out decoding of one trial (trial {trial})")
axes[1].legend(fontsize="small")
plt.show()
