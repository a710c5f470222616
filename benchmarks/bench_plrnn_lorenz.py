"""Lorenz-63 reconstruction with a clipped shallow PLRNN trained by generalized teacher forcing.

Protocol (Hess et al. 2023): train on a noisy (5% observation noise) standardised trajectory of
100,000 steps at dt = 0.01, generate 100,000 steps freely from the first state of a clean test
trajectory (another initial condition), and compare with the clean test trajectory:
D_stsp (30 bins per dimension), D_H (smoothing sigma 20), and the maximum Lyapunov exponent of
the fitted map (positive = chaotic). The "floor" rows compare the clean test data with the noisy
training data. Also times one training step of the fused rollout against the autograd reference.

Run (2 CPU cores):  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_plrnn_lorenz.py [--max-iter 1000 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from sklearn_lrnn._engine.plrnn import reference_rollout, rollout
from sklearn_lrnn.datasets._systems import make_lorenz63
from sklearn_lrnn.metrics import power_spectrum_distance, prediction_error, state_space_divergence
from sklearn_lrnn.plrnn import PLRNNRegressor


def time_step(reps=30):
    """ms per gradient step of the Lorenz configuration, C++-loop ``rollout`` vs autograd ``reference_rollout``
    (the step itself is ``bench_plrnn_rollout.make_step``)."""
    from bench_plrnn_rollout import CONFIGS, make_step, timed

    cfg = next(c for name, c in CONFIGS.items() if name.startswith("Lorenz"))
    return {fn.__name__: timed(make_step(cfg, fn), False, reps=reps) for fn in (rollout, reference_rollout)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-iter", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gtf-alpha", default="0.2")
    ap.add_argument("--n-train", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)

    X_train = make_lorenz63(args.n_train, noise=0.05, random_state=0)
    _, X_test = make_lorenz63(100_000, random_state=1, return_clean=True)
    alpha = args.gtf_alpha if args.gtf_alpha == "adaptive" else float(args.gtf_alpha)
    model = PLRNNRegressor(n_latents=3, n_hidden=100, gtf_alpha=alpha, gtf_alpha_decay=0.99, batch_size=args.batch_size,
                           learning_rate=3e-3,
                           learning_rate_schedule="exponential", final_learning_rate=1e-5, max_iter=args.max_iter,
                           random_state=args.seed, compute_lyapunov=True)
    t0 = time.perf_counter()
    model.fit(X_train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    X_gen, _ = model.sample(100_000, x0=X_test[0])
    gen_s = time.perf_counter() - t0
    res = {
        "fit_seconds": round(fit_s, 1),
        "epochs": model.n_iter_,
        "gradient_steps": model.n_iter_ * model.batches_per_epoch,
        "generate_100k_seconds": round(gen_s, 2),
        "final_loss": float(model.loss_curve_[-1]),
        "D_stsp_bins30": state_space_divergence(X_test, X_gen, method="bins", n_bins=30),
        "D_H": power_spectrum_distance(X_test, X_gen, smoothing_sigma=20),
        "floor_D_stsp_bins30": state_space_divergence(X_test, X_train, method="bins", n_bins=30),
        "floor_D_H": power_spectrum_distance(X_test, X_train, smoothing_sigma=20),
        "PE20_test": prediction_error(model, X_test[:20_000], n_steps=20),
        "max_lyapunov_exponent": getattr(model, "lyapunov_exponent_", None),
        "n_fixed_points": None if model.fixed_points_ is None else len(model.fixed_points_),
        "ms_per_gradient_step_T200_B16": time_step(),
        "seed": args.seed,
        "batch_size": args.batch_size,
        "gtf_alpha": alpha,
    }
    print(json.dumps(res, indent=1, default=float))


if __name__ == "__main__":
    main()
