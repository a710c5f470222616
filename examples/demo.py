"""Demo: fit a stochastic low-rank RNN to data from a known teacher network and check what it recovered.

Run with ``make demo`` (creates the virtualenv on a fresh machine). Prints the recovered noise, decay,
oscillation period and fixed points next to the teacher's, and saves a figure to demo_output/.
"""

import os
import time

import numpy as np

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import dominant_period, make_low_rank_teacher


def main():
    data = make_low_rank_teacher(n_trials=100, n_timesteps=75, random_state=0)
    print(f"Teacher: rank-2 ReLU RNN of {data.X.shape[-1]} units with a limit cycle; "
          f"data {data.X.shape} (trials, time steps, channels).")
    # default training settings: the learning rate drops on plateaus and the fit stops by itself
    model = StochasticLowRankRNN(rank=2, observation="gaussian_currents", random_state=0, verbose=1)
    t0 = time.perf_counter()
    model.fit(data.X)
    print(f"Fitted in {time.perf_counter() - t0:.0f} s ({model.n_iter_} epochs, converged: {model.converged_}, "
          f"{model.n_parameters_} parameters).")

    m, S = model.left_vectors_, model.noise_cov_
    noise = np.sqrt(np.linalg.eigvalsh(m @ S @ m.T)[-2:]).mean()
    _, Z = model.sample(20, 400, random_state=0)
    period = np.median([dominant_period(z[100:, 0]) for z in Z])
    print(f"{'':28s}{'teacher':>10s}{'student':>10s}")
    print(f"{'transition noise std':28s}{data.teacher['noise_std']:10.3f}{noise:10.3f}")
    print(f"{'decay':28s}{data.teacher['decay']:10.3f}{model.decay_:10.3f}")
    print(f"{'observation noise std':28s}{data.teacher['obs_noise_std']:10.3f}"
          f"{np.sqrt(model.observation_noise_var_).mean():10.3f}")
    print(f"{'oscillation period (steps)':28s}{data.period:10.2f}{period:10.2f}")
    print(f"ELBO per time bin on the training data: {model.score(data.X):.3f}")
    if model.fixed_points_ is not None:
        for point, kind in zip(model.fixed_points_.points, model.fixed_points_.stability):
            print(f"fixed point at {np.round(point, 3)}: {kind}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure.")
        return
    os.makedirs("demo_output", exist_ok=True)
    latents = model.transform(data.X[:5])
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(model.loss_curve_)
    axes[0].set(title="Training loss (-ELBO per time bin)", xlabel="epoch", ylabel="loss")
    for z in latents:
        axes[1].plot(z[:, 0], z[:, 1], lw=0.8)
    _, Zc = model.sample(1, 300, z0=np.array([0.5, 0.0]), noise_scale=0.0)
    axes[1].plot(Zc[0, 100:, 0], Zc[0, 100:, 1], "k", lw=2, label="noise-free trajectory")
    if model.fixed_points_ is not None:
        for point, kind in zip(model.fixed_points_.points, model.fixed_points_.stability):
            axes[1].plot(*point, "o", color="tab:green" if kind == "stable" else "tab:red", ms=8, label=f"{kind} fixed point")
    axes[1].set(title="Posterior latents (5 trials) and the fitted flow", xlabel="z1", ylabel="z2")
    axes[1].legend(fontsize=8)
    Xg, _ = model.sample(1, 75, random_state=1)
    axes[2].plot(data.X[0, :, 0], label="real (channel 0)")
    axes[2].plot(Xg[0, :, 0], label="generated (channel 0)")
    axes[2].set(title="Real vs generated observations", xlabel="time step")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig("demo_output/demo.png", dpi=100)
    print("Figure saved to demo_output/demo.png")


if __name__ == "__main__":
    main()
