"""
.. _example_inputs:

========================================================
Input-driven dynamics: a ring attractor and a reach task
========================================================

Many experiments drive the recorded circuit with stimuli or task cues. These *external inputs* are
given to every method as ``u=`` (same container as ``X``, one input vector per time step).

The teacher here (:func:`sklearn_lrnn.datasets.make_ring_teacher`) is a rank-2 ReLU network with
attractors on a ring. In each trial a two-dimensional input, the (cos, sin) of one of 8 target
angles, is switched on for 25 steps and pushes the state out from the centre towards the target;
afterwards the network holds the target. We fit a :class:`~sklearn_lrnn.StochasticLowRankRNN` with
``u=``, look at its posterior latents coloured by target angle, and then drive the fitted model with
*held-out* inputs (an earlier, longer cue and longer trials than in training) to see whether it
still reaches the right targets.

The fit is small (160 trials of 32 units, 150 epochs, under a minute on one CPU core); real analyses
use more trials and epochs.
"""

# %%
# Data: recordings and the inputs that drove them
# -----------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Ridge

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import make_ring_teacher, ring_inputs
from sklearn_lrnn.plotting import plot_latents

ring = make_ring_teacher(n_trials=160, n_timesteps=75, n_units=32, random_state=0)
angle_deg = np.degrees(ring.target_angle).round().astype(int)  # 0, 45, ..., 315
print("X:", ring.X.shape, " u:", ring.u.shape, " targets (deg):", np.unique(angle_deg).tolist())

# %%
# Fit with inputs
# ---------------
# ``fit(X, u=u)`` learns input weights ``W_u`` together with the recurrent connectivity. A model
# fitted with inputs needs them in ``transform``, ``score`` and ``sample`` too (it raises a
# ``ValueError`` otherwise). Inside a ``Pipeline`` or ``GridSearchCV``, ``u`` is passed by
# scikit-learn's metadata routing (see the user guide).
model = StochasticLowRankRNN(
    rank=2, observation="gaussian_currents", n_particles=16, batch_size=16, max_iter=150,
    learning_rate=1e-2, learning_rate_schedule="exponential", final_learning_rate=1e-3, random_state=0,
)
model.fit(ring.X, u=ring.u)
m, S = model.left_vectors_, model.noise_cov_
print("input weights:", model.input_weights_.shape)
print("transition noise in unit space:", np.sqrt(np.linalg.eigvalsh(m @ S @ m.T)[-2:]).round(3),
      f"(teacher: {ring.teacher['noise_std']})")

# %%
# Posterior latents coloured by target angle
# ------------------------------------------
# Left: the teacher's true latents; right: the posterior means of the fitted model
# (``transform(X, u=u)``). The fitted latent space is the teacher's up to a linear change of
# coordinates (here close to a rotation), so the arms point in other directions, but each target
# angle keeps its own arm and the arms keep their order around the circle.
Z_post = model.transform(ring.X, u=ring.u)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
plot_latents(ring.Z, angle_deg, ax=axes[0])
axes[0].set_title("Teacher latents\n(colour: target angle, deg)")
plot_latents(Z_post, angle_deg, ax=axes[1])
axes[1].set_title("Posterior latents of the fitted model\n(colour: target angle, deg)")

# %%
# Generation with held-out inputs
# -------------------------------
# :func:`~sklearn_lrnn.datasets.ring_inputs` builds new input sequences: four trials per target, 90
# steps long, with the cue from step 15 to 45 (training: steps 25 to 50 of 75). ``sample(u=...)``
# runs the fitted stochastic dynamics under these inputs.
test_angles = np.repeat(np.arange(8) * np.pi / 4, 4)
u_new = ring_inputs(test_angles, 90, onset=15, duration=30)
X_gen, Z_gen = model.sample(u=u_new, random_state=0)
test_deg = np.degrees(test_angles).round().astype(int)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
axes[0].plot(u_new[0, :, 0], label="u[0] = cos(target)")
axes[0].plot(u_new[0, :, 1], label="u[1] = sin(target)")
axes[0].axvspan(25, 50, color="gray", alpha=0.2, label="cue period in training")
axes[0].set(xlabel="time step", ylabel="input", title="A held-out input sequence (target 0 deg)")
axes[0].legend(fontsize="small")
plot_latents(Z_gen, test_deg, ax=axes[1])
axes[1].set_title("Latents generated under held-out inputs\n(colour: target angle, deg)")

# %%
# Do the generated trials reach the right target?
# -----------------------------------------------
# We read the target out of the end-of-trial activity with a linear decoder trained on the
# *recorded* data (activity of the 32 units -> cos and sin of the target angle), and apply it to the
# last time step of the generated trials.
decoder = Ridge(alpha=1e-3).fit(ring.X[:, -1], np.c_[np.cos(ring.target_angle), np.sin(ring.target_angle)])
pred = decoder.predict(X_gen[:, -1])
pred_deg = np.degrees(np.arctan2(pred[:, 1], pred[:, 0])) % 360
signed_error = (pred_deg - test_deg + 180) % 360 - 180  # in (-180, 180]
error = np.abs(signed_error)
print(f"median angle error {np.median(error):.1f} deg; {np.mean(error < 22.5):.0%} of trials end "
      "nearer their target than any other")

rng = np.random.default_rng(0)
fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
# decoded angles are drawn within +-180 deg of their target (so 355 deg shows as -5 deg for target 0)
ax.scatter(test_deg + rng.uniform(-4, 4, len(test_deg)), test_deg + signed_error, c=test_deg, cmap="hsv",
           edgecolor="black")
ax.plot([0, 315], [0, 315], "k--", lw=1, label="perfect")
ax.set(xlabel="target angle of the held-out input (deg)", ylabel="decoded end-of-trial angle (deg)",
       xticks=np.arange(0, 360, 45), yticks=np.arange(0, 360, 45),
       title="Targets reached under held-out inputs")
ax.legend()
plt.show()
