"""
.. _example_linear_baseline:

===============================================
Does my data need nonlinear dynamics?
===============================================

Fixed points, limit cycles and attractors read from a fitted low-rank RNN are only worth interpreting
if the nonlinearity earns its place: a linear model with the same rank may describe the data just as
well, and a linear model has exactly one fixed point and no limit cycle. So before reading the
dynamics, compare the model with its linear baseline on held-out data.

``StochasticLowRankRNN(activation="linear")`` is that baseline: the same rank-R latent model, with
``phi(x) = x - h``, i.e. the linear-Gaussian state-space model ``z_t = (a I + n m) z_{t-1} - n h +
noise``. It is fitted by the same estimator, and with a Gaussian readout its ``score`` is the exact
log-likelihood (a Kalman filter), while the relu model's is the SMC estimate, a lower bound in
expectation: if the relu model wins on held-out likelihood, it wins for real.

Both models go into one :class:`~sklearn.model_selection.GridSearchCV` over ``activation``, scored on
held-out trials by :func:`~sklearn_lrnn.metrics.held_out_scorers`: log-likelihood per time bin,
k-step-ahead prediction error and the state-space divergence of freely generated data.

The data set and the fits are small (60 trials of 50 steps, 150 epochs per fit, about 25 s on one CPU
core in all). ``StochasticLowRankRNN()`` on its own trains until its stopping rule is met; to keep the
fits short and equal we give both models the same fixed schedule (``learning_rate_schedule=
"exponential"`` from 1e-2 to 1e-3 over ``max_iter=150`` epochs), which counts as converged and raises
no ``ConvergenceWarning``. Cutting the default schedule short with ``max_iter`` instead would warn.
"""

# %%
# Data with a limit cycle
# -----------------------
# A rank-2 ReLU teacher whose latent state settles on a limit cycle, observed through 10 noisy
# channels. A linear model cannot generate a sustained oscillation of fixed amplitude: its
# trajectories spiral into, or out of, its single fixed point.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import make_low_rank_teacher
from sklearn_lrnn.metrics import held_out_scorers
from sklearn_lrnn.plotting import plot_phase_portrait

data = make_low_rank_teacher(n_trials=60, n_timesteps=50, n_units=10, random_state=1)
print("X:", data.X.shape)

# %%
# Linear baseline and low-rank RNN in one grid search
# ---------------------------------------------------
# ``KFold`` splits the trials: every fold is fitted on 40 whole trials and scored on the other 20.
# ``held_out_scorers`` returns every metric as a scorer (higher is better, so errors and divergences
# are negated); the power-spectrum distance is left out of the comparison below because 50-step
# trials are too short for a spectrum. ``refit="neg_state_space_divergence"`` refits the candidate
# whose generated data come closest to the held-out trials on all trials.
model = StochasticLowRankRNN(rank=2, max_iter=150, learning_rate=1e-2, learning_rate_schedule="exponential",
                             final_learning_rate=1e-3, random_state=0)
scoring = held_out_scorers(k_steps=(1, 10), n_draws=1)
search = GridSearchCV(model, {"activation": ["linear", "relu"]}, cv=KFold(3, shuffle=True, random_state=0),
                      scoring=scoring, refit="neg_state_space_divergence")
search.fit(data.X)

res = search.cv_results_
metrics = {"log_likelihood": ("held-out log-likelihood\nper time bin", 1),
           "neg_prediction_error_10": ("prediction error PE(10)", -1),
           "neg_state_space_divergence": ("state-space divergence\nD_stsp of generated data", -1)}
activations = list(res["param_activation"])
for key, (label, sign) in metrics.items():
    values = "   ".join(f"{a}: {sign * m:.4f} +- {s:.4f}" for a, m, s in
                       zip(activations, res[f"mean_test_{key}"], res[f"std_test_{key}"]))
    print(f"{label.replace(chr(10), ' '):50s} {values}")

fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
for ax, (key, (label, sign)) in zip(axes, metrics.items()):
    ax.bar(activations, sign * res[f"mean_test_{key}"], yerr=res[f"std_test_{key}"], capsize=5,
           color=["gray", "tab:orange"])
    ax.set_title(label, fontsize="medium")
axes[0].set_ylim(np.min(res["mean_test_log_likelihood"]) - 0.5, np.max(res["mean_test_log_likelihood"]) + 0.2)
fig.suptitle("Held-out trials, 3-fold cross-validation (lower is better for the last two)")

# %%
# Read the fixed points only if the nonlinear model wins
# -------------------------------------------------------
# The three metrics do not weigh the same thing. The held-out likelihood is dominated by one-step
# prediction, which a linear model does almost as well here: the two likelihoods differ by less than
# their spread over folds (with short fits either can come out ahead). The 10-step forecasts and,
# most clearly, the generated data test the dynamics themselves: the linear model's generated trials
# fill the inside of the ring that the data trace out, and its forecasts lose the oscillation. So we
# call the nonlinear model the winner when it is better on both of those and not worse on the
# likelihood by more than the spread over folds.
#
# Only then are the relu model's fixed points worth a look: one unstable fixed point inside the
# limit cycle. Had the linear model been as good, the honest summary would be "a linear system with
# one fixed point explains these data", whatever the fitted relu model's portrait shows.
mean = {key: dict(zip(activations, res[f"mean_test_{key}"])) for key in metrics}
spread = dict(zip(activations, res["std_test_log_likelihood"]))
nonlinear_wins = (mean["neg_state_space_divergence"]["relu"] > mean["neg_state_space_divergence"]["linear"]
                  and mean["neg_prediction_error_10"]["relu"] > mean["neg_prediction_error_10"]["linear"]
                  and mean["log_likelihood"]["relu"] >= mean["log_likelihood"]["linear"] - spread["linear"])
print("refitted:", search.best_params_, "| nonlinear model wins:", nonlinear_wins)

if nonlinear_wins:
    best = search.best_estimator_
    for point, kind in zip(best.fixed_points_.points, best.fixed_points_.stability):
        print(f"fixed point z* = {np.round(point, 3)}: {kind}")
    ax = plot_phase_portrait(best, trajectories=best.transform(data.X[:3]))
    ax.set_title("The relu model's flow, fixed point and three filtered trials")
else:
    print("The linear baseline describes these data as well as the nonlinear model: do not interpret the "
          "nonlinear model's fixed points.")
plt.show()
