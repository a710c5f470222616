"""Addition problem (Hochreiter & Schmidhuber 1997) with and without manifold-attractor regularisation.

Vanilla PLRNN, M = 40 latents, half of them under MAR (tau_A = tau_W = 5, Schmidt et al. 2021),
trained sequence-to-one on 10,000 sequences of length T (RAdam 5e-3 -> 1e-5, batch 128, 250 epochs of
50 steps) and tested on 1,000 new ones (``--n-test``): a prediction is correct when its absolute error
is below 0.04. The same model without MAR (mar_weight = 0: no penalty and no line-attractor start) is
the control. Reports held-out and training accuracy, test MSE and fit time.

``--markers`` places the two markers as Hochreiter & Schmidhuber and Schmidt et al. do (``hochreiter``,
default: first 10 steps / first half) or one in each half (``halves``, whose marker on the last step
a linearly read-out model cannot add: see ``datasets.make_addition_problem``).

``--init`` picks the start of A and W for every non-MAR unit (and so for the whole control):
``random`` (Gaussian, spectral radius 0.9: the plain start of Schmidt et al. 2021's benchmarks, whose
"PLRNN without MAR" has no built-in memory) or ``positive_definite`` (the package default, Brenner et
al. 2022: integrator-like from the start, itself a long-memory initialisation).

Run (2 CPU cores):  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_addition.py --T 200 --init random --n-test 10000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from sklearn_lrnn.datasets._systems import make_addition_problem
from sklearn_lrnn.plrnn import PLRNNRegressor


def run(T, mar_weight, max_iter, seed, batch_size, final_lr=1e-5, init="positive_definite", n_train=10_000,
        n_test=1000, markers="hochreiter"):
    X, y = make_addition_problem(n_train, T, marker_positions=markers, random_state=seed)
    X_test, y_test = make_addition_problem(n_test, T, marker_positions=markers, random_state=seed + 1000)
    model = PLRNNRegressor(architecture="vanilla", n_latents=40, mar_fraction=0.5, mar_weight=mar_weight,
                           init=init, batch_size=batch_size, batches_per_epoch=50, max_iter=max_iter, learning_rate=5e-3,
                           learning_rate_schedule="exponential", final_learning_rate=final_lr, random_state=seed,
                           compute_fixed_points=False)
    t0 = time.perf_counter()
    model.fit(X, y)
    fit_s = time.perf_counter() - t0
    err = np.abs(model.predict(X_test) - y_test)
    train_err = np.abs(model.predict(X[:n_test]) - y[:n_test])
    return {
        "T": T,
        "mar_weight": mar_weight,
        "init": init,
        "markers": markers,
        "seed": seed,
        "final_learning_rate": final_lr,
        "n_train": n_train,
        "n_test": n_test,
        "accuracy_abs_err_lt_0.04": float(np.mean(err < 0.04)),
        "train_accuracy": float(np.mean(train_err < 0.04)),
        "test_mse": float(np.mean(err**2)),
        "chance_mse": float(np.var(y_test)),
        "fit_seconds": round(fit_s, 1),
        "epochs": model.n_iter_,
        "gradient_steps": model.n_iter_ * model.batches_per_epoch,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--T", type=int, default=200)
    ap.add_argument("--max-iter", type=int, default=250)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--markers", choices=["hochreiter", "halves"], default="hochreiter",
                    help="marker positions (datasets.make_addition_problem's marker_positions)")
    ap.add_argument("--n-train", type=int, default=10_000, help="training sequences")
    ap.add_argument("--n-test", type=int, default=1000, help="held-out sequences (accuracy's standard error ~0.003 at 1,000)")
    ap.add_argument("--final-lr", type=float, default=1e-5)
    ap.add_argument("--mar-weight", type=float, default=5.0, help="tau_A = tau_W of the MAR model")
    ap.add_argument("--init", choices=["random", "positive_definite"], default="positive_definite")
    ap.add_argument("--skip-control", action="store_true", help="only the MAR model")
    ap.add_argument("--only-control", action="store_true", help="only the model without MAR")
    args = ap.parse_args()
    torch.set_num_threads(1)
    mar_weights = ([] if args.only_control else [args.mar_weight]) + ([] if args.skip_control else [0.0])
    for mar_weight in mar_weights:  # the MAR model, then the control (mar_weight 0)
        res = run(args.T, mar_weight, args.max_iter, args.seed, args.batch_size, args.final_lr, args.init,
                  args.n_train, args.n_test, args.markers)
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
