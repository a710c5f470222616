"""Median time of one SMC gradient step (forward + backward + RAdam) for spiking data with the
encoder and bootstrap proposals: the fused window (default) and run_smc's per-step loop, steps interleaved.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_poisson_step.py [--repeats 20] [--threads 1 2]

Configuration (issue 3, the LR-SMC Poisson setting): N = 40 units observed one-to-one as Poisson
counts of softplus(gain * currents + bias), R = 2, relu, K = 64 particles, 10 trials x 200 steps,
encoder proposal (kernels 21, 11, 1; channels 64, 64; causal), diagonal transition noise. For
comparison it also times the bootstrap proposal on the same data (same loop without the encoder).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sklearn_lrnn._engine.encoder import ConvEncoder  # noqa: E402
from sklearn_lrnn._engine.low_rank import LowRankTransition  # noqa: E402
from sklearn_lrnn._engine.observations import build_observation  # noqa: E402
from sklearn_lrnn._engine.smc import StateSpaceModel, run_smc  # noqa: E402
from sklearn_lrnn._engine.training import make_optimizer  # noqa: E402
from sklearn_lrnn.datasets import make_poisson_teacher  # noqa: E402

CFG = dict(R=2, N=40, B=10, T=200, K=64)


def step_times(proposal, repeats, warmup=3):
    """{"fused": [...], "loop": [...]} seconds per step, one fused and one loop step in turn."""
    from sklearn_lrnn._engine import smc

    g = torch.Generator().manual_seed(0)
    R, N, B, T, K = (CFG[k] for k in "RNBTK")
    tr = LowRankTransition(R, N, generator=g, noise_kind="diag")
    obs = build_observation("poisson_currents", R, N)
    enc = ConvEncoder(N, R) if proposal == "encoder" else None
    model = StateSpaceModel(tr, obs, enc)
    opt = make_optimizer(model.parameters(), 1e-3)  # as the estimators train
    x = torch.as_tensor(make_poisson_teacher(B, T, n_units=N, random_state=0).X, dtype=torch.float32)
    times = {"fused": [], "loop": []}
    try:
        for i in range(warmup + repeats):
            for path in times:
                smc.FUSED_WINDOW = path == "fused"
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                loss = -run_smc(model, x, n_particles=K, proposal=proposal, generator=g).log_evidence.mean() / T
                loss.backward()
                opt.step()
                if i >= warmup:
                    times[path].append(time.perf_counter() - t0)
    finally:
        smc.FUSED_WINDOW = True
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    print(f"torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    print("| config | proposal | threads | fused ms / step (p10-p90) | loop ms / step (p10-p90) | loop / fused |")
    print("| --- | --- | --- | --- | --- | --- |")
    for th in args.threads:
        torch.set_num_threads(th)
        for proposal in ("encoder", "bootstrap"):
            times = step_times(proposal, args.repeats)

            def cell(ts):
                ts = sorted(ts)
                q = lambda p: 1000 * ts[int(p * (len(ts) - 1))]  # noqa: E731
                return f"{1000 * statistics.median(ts):.1f} ({q(0.1):.1f}-{q(0.9):.1f})"

            ratio = statistics.median(times["loop"]) / statistics.median(times["fused"])
            print(f"| Poisson N=40, K=64, 10 x 200 | {proposal} | {th} | {cell(times['fused'])} | {cell(times['loop'])} "
                  f"| {ratio:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
