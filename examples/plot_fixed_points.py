"""
.. _example_fixed_points:

======================================
Exact fixed points and their stability
======================================

With a piecewise-linear activation (``"relu"`` or ``"clipped_relu"``) a low-rank RNN is linear inside
each region of its latent space where the same units are active. :mod:`sklearn_lrnn.dynamics` visits
every such region and solves one small linear system per region, so it finds **all** fixed points
exactly, in polynomial time, and classifies each by the eigenvalues of its Jacobian:

* ``"stable"``: all eigenvalues inside the unit circle; nearby states converge to it (an attractor,
  e.g. a remembered target);
* ``"unstable"``: all eigenvalues outside; nearby states move away (e.g. the centre of a limit cycle);
* ``"saddle"``: some of each; states move towards it along some directions and away along others
  (typically the boundary between two attractors).

First we analyse a teacher network built in code, then a model fitted to data. Nothing is loaded
from disk. The fit in the second part is short (50 epochs, a few seconds); real analyses train longer.
"""

# %%
# A teacher network with a ring of attractors
# -------------------------------------------
# :func:`sklearn_lrnn.datasets.make_ring_teacher` builds a rank-2 ReLU network of 60 units,
# ``z_t = a z_{t-1} + n relu(m z_{t-1} - h)``, designed to hold one of 8 states on a ring. We only
# need its parameters (``left_vectors`` m, ``right_vectors`` n, ``bias`` h and ``decay`` a), which
# have exactly the layout of a fitted model's ``left_vectors_``, ``right_vectors_``, ``bias_`` and
# ``decay_``.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import make_low_rank_teacher, make_ring_teacher
from sklearn_lrnn.dynamics import fixed_points, low_rank_fixed_points, low_rank_map
from sklearn_lrnn.plotting import plot_phase_portrait

teacher = make_ring_teacher(n_trials=1, n_timesteps=10, random_state=0).teacher
m, n, h, a = teacher["left_vectors"], teacher["right_vectors"], teacher["bias"], teacher["decay"]
print("m:", m.shape, " n:", n.shape, " h:", h.shape, " a:", a)

# %%
# All fixed points, exactly
# -------------------------
# :func:`~sklearn_lrnn.dynamics.low_rank_fixed_points` enumerates the cells of the arrangement of the
# 60 unit hyperplanes ``m_i z = h_i`` in the 2-D latent space (at most ``1 + 60 + C(60, 2)``) and
# returns a :class:`~sklearn_lrnn.dynamics.FixedPoints` with the points, their stability and the
# eigenvalues of the Jacobian at each.
fps = low_rank_fixed_points(m, n, h, a, activation="relu")
print(fps)
for point, kind, eig in zip(fps.points, fps.stability, fps.eigvals):
    print(f"  z* = ({point[0]:+.3f}, {point[1]:+.3f})  {kind:8s}  |eigenvalues| = {np.round(np.abs(eig), 3)}")

# %%
# Phase portrait
# --------------
# The arrows show the one-step change ``F(z) - z`` of the noise-free map, computed with the same
# piecewise-affine map the finder uses (:func:`~sklearn_lrnn.dynamics.low_rank_map`). The 8 stable
# fixed points (filled) lie on a ring, separated by 8 saddles (squares); the origin is unstable
# (open circle), so a small push sends the state out to one of the attractors.
pmap = low_rank_map(m, n, h, a, activation="relu")
grid = np.linspace(-5.5, 5.5, 41)
GX, GY = np.meshgrid(grid, grid)
Z = np.column_stack([GX.ravel(), GY.ravel()])
dZ = pmap.step(Z) - Z
U, V = dZ[:, 0].reshape(GX.shape), dZ[:, 1].reshape(GX.shape)

style = {"stable": dict(marker="o", mfc="black", label="stable"),
         "saddle": dict(marker="s", mfc="white", label="saddle"),
         "unstable": dict(marker="o", mfc="white", label="unstable")}
fig, ax = plt.subplots(figsize=(6.5, 6), layout="constrained")
ax.streamplot(grid, grid, U, V, color=np.hypot(U, V), cmap="viridis", density=1.3, linewidth=0.8)
for kind, kw in style.items():
    sel = fps.stability == kind
    ax.plot(*fps.points[sel].T, linestyle="none", ms=9, mec="black", mew=1.5, zorder=5,
            **{**kw, "label": f"{kw['label']} ({sel.sum()})"})
ax.set(xlabel="latent dim 0", ylabel="latent dim 1", aspect="equal",
       title="Ring teacher: flow and fixed points by stability")
ax.legend(loc="upper right", framealpha=0.9)

# %%
# Checking stability by simulation
# --------------------------------
# Linear stability is a statement about what the dynamics do near each point, so we can check it by
# running the noise-free map. Started exactly at a stable fixed point, the state stays there (up to
# rounding); started a tiny distance (1e-6) away from a saddle or from the unstable origin, it
# leaves, and ends at one of the stable points (slowly: their leading eigenvalue is 0.986).
def run(z0, n_steps):
    path = [np.atleast_2d(z0)]
    for _ in range(n_steps):
        path.append(pmap.step(path[-1]))
    return np.stack(path, axis=1)  # (n_starts, n_steps + 1, 2)


stable = fps.points[fps.stability == "stable"]
others = fps.points[fps.stability != "stable"]
rng = np.random.default_rng(0)
from_stable = run(stable, 1500)
from_others = run(others + 1e-6 * rng.standard_normal(others.shape), 1500)
drift = np.abs(from_stable - stable[:, None]).max(axis=(1, 2))
print(f"largest drift of a trajectory started at a stable fixed point: {drift.max():.1e}")
end_dist = np.linalg.norm(from_others[:, -1, None] - stable[None], axis=2).min(axis=1)
print(f"trajectories started near saddles / the origin end within {end_dist.max():.1e} of a stable point")
assert drift.max() < 1e-8 and end_dist.max() < 1e-3

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
t = np.arange(1501)
for path, z0 in zip(from_stable, stable):
    axes[0].semilogy(t, np.linalg.norm(path - z0, axis=1) + 1e-17, color="black", alpha=0.6)
for path, z0, kind in zip(from_others, others, fps.stability[fps.stability != "stable"]):
    axes[0].semilogy(t, np.linalg.norm(path - z0, axis=1), color="tab:red" if kind == "saddle" else "tab:blue",
                     alpha=0.6)
axes[0].plot([], [], color="black", label="started at a stable point")
axes[0].plot([], [], color="tab:red", label="started 1e-6 from a saddle")
axes[0].plot([], [], color="tab:blue", label="started 1e-6 from the unstable origin")
axes[0].set(xlabel="time step", ylabel="distance from the starting fixed point",
            title="Noise-free simulation from each fixed point")
axes[0].legend(fontsize="small")
axes[1].plot(*from_others[:, :, :].transpose(2, 1, 0), color="tab:red", lw=1)
for kind, kw in style.items():
    sel = fps.stability == kind
    axes[1].plot(*fps.points[sel].T, linestyle="none", ms=8, mec="black", mew=1.5, zorder=5, **kw)
axes[1].set(xlabel="latent dim 0", ylabel="latent dim 1", aspect="equal",
            title="Paths from the unstable points end at attractors")
axes[1].legend(fontsize="small")

# %%
# Fixed points of a fitted model
# ------------------------------
# ``fit`` runs the same analysis on the learned connectivity and stores the result as
# ``fixed_points_`` (a :class:`~sklearn_lrnn.dynamics.FixedPoints`: points, stability, eigenvalues);
# :func:`sklearn_lrnn.dynamics.fixed_points` recomputes it for any fitted estimator. Here a model
# fitted to the oscillating teacher of :ref:`example_continuous` has a single fixed point: an
# *unstable spiral* (complex eigenvalues of modulus > 1). Trajectories spiral away from it, but the
# flow far out points inwards, so they settle on a limit cycle between the two: the oscillation.
data = make_low_rank_teacher(n_trials=100, n_timesteps=75, random_state=0)
model = StochasticLowRankRNN(rank=2, observation="gaussian_currents", n_particles=16, batch_size=16,
                             max_iter=50, learning_rate=1e-2, learning_rate_schedule="exponential",
                             final_learning_rate=1e-3, random_state=0).fit(data.X)
fitted = model.fixed_points_
print("fitted:", fitted.points.round(3).tolist(), list(fitted.stability),
      "|eigenvalues|:", np.abs(fitted.eigvals).round(3).tolist())
again = fixed_points(model)
assert np.allclose(again.points, fitted.points) and bool(again.spiral[0])

# noise-free trajectory started next to the unstable fixed point: it spirals out onto the cycle
z_start = fitted.points[0] + np.array([0.05, 0.0])
_, Z_det = model.sample(1, 300, z0=z_start, noise_scale=0.0)
radius = np.linalg.norm(Z_det[0] - fitted.points[0], axis=1)
print(f"distance from the fixed point: {radius[0]:.2f} at the start, {radius[-50:].mean():.2f} on the cycle")
ax = plot_phase_portrait(model, trajectories=Z_det[0])
ax.set_title("Fitted model: unstable spiral inside a limit cycle")
plt.show()
