"""Median time of one SMC gradient step (forward + backward + RAdam) at the two reference configurations,
and the peak memory of a full EEG-configuration fit.

    .venv/bin/python benchmarks/bench_smc_step.py [--repeats 30] [--threads 1 2] [--fit-epochs 20] [--compare-loop]

EEG configuration (the EEG model of Pals et al. 2024): 64 channels, R = 3, N = 512, clipped relu, K = 10 particles,
10 windows x 50 steps, full transition covariance, optimal proposal.
Teacher configuration: K = 64, 16 trials x 75 steps, N = 20, R = 2, relu, currents readout.

Both use the fused SMC window (the whole time loop in one C++ op) where the kernel is available.
``--compare-loop`` also times the per-step loop (``smc.FUSED_WINDOW = False``), interleaved with the
window step by step in the same process, and prints the median of the paired time ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sklearn_lrnn._engine.low_rank import LowRankTransition  # noqa: E402
from sklearn_lrnn._engine.observations import GaussianAffine, GaussianCurrents  # noqa: E402
from sklearn_lrnn._engine import smc  # noqa: E402
from sklearn_lrnn._engine.smc import StateSpaceModel, run_smc  # noqa: E402
from sklearn_lrnn._engine.training import make_optimizer  # noqa: E402

CONFIGS = {
    "eeg": dict(R=3, N=512, D=64, B=10, T=50, K=10, act="clipped_relu", obs=GaussianAffine),
    "teacher": dict(R=2, N=20, D=20, B=16, T=75, K=64, act="relu", obs=GaussianCurrents),
}


def _stepper(cfg):
    g = torch.Generator().manual_seed(0)
    tr = LowRankTransition(cfg["R"], cfg["N"], activation=cfg["act"], generator=g)
    model = StateSpaceModel(tr, cfg["obs"](cfg["R"], cfg["D"], generator=g))
    opt = make_optimizer(model.parameters(), 1e-3)  # as the estimators train
    x = torch.randn(cfg["B"], cfg["T"], cfg["D"], generator=g)

    def step():
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = -run_smc(model, x, n_particles=cfg["K"], generator=g).log_evidence.mean() / cfg["T"]
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def step_times(cfg, repeats, warmup=5, modes=(True,)):
    """Times per step for each value of smc.FUSED_WINDOW in ``modes``, interleaved step by step."""
    steppers = {m: _stepper(cfg) for m in modes}
    times = {m: [] for m in modes}
    try:
        for i in range(warmup + repeats):
            for m in modes:
                smc.FUSED_WINDOW = m
                dt = steppers[m]()
                if i >= warmup:
                    times[m].append(dt)
    finally:
        smc.FUSED_WINDOW = True
    return times


def fit_peak_memory(epochs: int) -> dict:
    """Fit the EEG configuration on EEG-sized data in a fresh process; report its peak RSS."""
    code = f"""
import resource, time, numpy as np, torch, os, json
torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '1')))
from sklearn_lrnn import StochasticLowRankRNN
path = os.path.join({os.path.dirname(os.path.abspath(__file__))!r}, '..', '..', 'shared', 'data', 'eeg', 'eeg_s001r01_smoothed.npy')
X = np.load(path) if os.path.exists(path) else np.random.default_rng(0).standard_normal((9640, 64)).astype('float32')
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
m = StochasticLowRankRNN(rank=3, n_units=512, activation='clipped_relu', n_particles=10, batch_size=10,
    window_length=50, batches_per_epoch=50, max_iter={epochs}, random_state=0, compute_fixed_points=False).fit(X)
wall = time.perf_counter() - t0
print(json.dumps(dict(rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, import_rss_mb=before / 1024,
                      wall_s=wall, steps=m.n_iter_ * 50, real_data=os.path.exists(path))))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--fit-epochs", type=int, default=10, help="epochs (x 50 steps) of the memory run; 0 skips it")
    ap.add_argument("--compare-loop", action="store_true",
                    help="also time the per-step loop (no fused window), interleaved, and print the ratio")
    args = ap.parse_args()
    from sklearn_lrnn._engine import kernels

    reason = kernels.unavailable_reason()
    print(f"torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}, "
          f"fused kernels: {'yes' if reason is None else 'no (' + reason + ')'}")
    extra = " loop ms / step | window / loop |" if args.compare_loop else ""
    print(f"| config | threads | median ms / step | p10 | p90 | target |{extra}")
    print("| --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if args.compare_loop else ""))
    targets = {"eeg": "<= 20 ms (reference 130-150)", "teacher": "<= 40 ms (reference 250)"}
    modes = (True, False) if args.compare_loop else (True,)
    for th in args.threads:
        torch.set_num_threads(th)
        for name, cfg in CONFIGS.items():
            times = step_times(cfg, args.repeats, modes=modes)
            ts = sorted(times[True])
            q = lambda p: 1000 * ts[int(p * (len(ts) - 1))]  # noqa: E731
            row = f"| {name} | {th} | {1000 * statistics.median(ts):.1f} | {q(0.1):.1f} | {q(0.9):.1f} | {targets[name]} |"
            if args.compare_loop:
                ratio = statistics.median(w / lp for w, lp in zip(times[True], times[False]))
                row += f" {1000 * statistics.median(times[False]):.1f} | {ratio:.3f} |"
            print(row, flush=True)
    if args.compare_loop:
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.fit_epochs:
        res = fit_peak_memory(args.fit_epochs)
        print(f"\nFull EEG-configuration fit ({res['steps']} steps, real data: {res['real_data']}): "
              f"peak RSS {res['rss_mb']:.0f} MB (after imports {res['import_rss_mb']:.0f} MB), "
              f"{res['wall_s']:.1f} s, {1000 * res['wall_s'] / res['steps']:.1f} ms/step incl. data sampling")


if __name__ == "__main__":
    main()
