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

from sklearn_lrnn._engine.plrnn import PLRNN, reference_rollout, rollout
from sklearn_lrnn.datasets._systems import make_lorenz63
from sklearn_lrnn.metrics import power_spectrum_distance, prediction_error, state_space_divergence
from sklearn_lrnn.plrnn import PLRNNRegressor


def time_step(architecture="clipped_shallow", n_hidden=100, T=200, B=16, reps=30):
    g = torch.Generator().manual_seed(0)
    m = PLRNN(3, 3, architecture=architecture, n_hidden=n_hidden, generator=g)
    x = torch.randn(T + 1, B, 3, generator=g)
    out = {}
    for fn in (rollout, reference_rollout):
        def one():
            m.zero_grad()
            keep, P = m.forcing(x[1:], 0.2)
            Y = fn(m, m.infer_state(x[0]), m.base(shape=(T, B)), P, keep, (True,) * T)
            (m.observe(Y) - x[1:]).square().mean().backward()
        for _ in range(3):
            one()
        t0 = time.perf_counter()
        for _ in range(reps):
            one()
        out[fn.__name__] = 1000 * (time.perf_counter() - t0) / reps
    return out


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
                           learning_rate=3e-3, final_learning_rate=1e-5, max_iter=args.max_iter,
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
