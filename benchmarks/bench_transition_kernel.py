"""Microbenchmark: the low-rank transition step, pure torch vs the fused C++ kernel.

Runs a chain of T steps z_{t+1} = f(z_t) + noise (as the SMC engine does), then backward through all
of them, and prints the median microseconds per step (forward only, and forward + backward) over many
repeats, at 1 and 2 intra-op threads.

    python benchmarks/bench_transition_kernel.py [--repeats 30] [--steps 50] [--acts relu,tanh]

Timings on shared machines are noisy: the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from sklearn_lrnn._engine import fused, kernels

CONFIGS = {  # name: (P, N, R)
    "eeg": (100, 512, 3),
    "teacher": (1024, 20, 2),
}


def params(P, N, R, T, with_current, generator):
    mT = (torch.rand((R, N), generator=generator) * 2 - 1) / R**0.5
    n = (torch.rand((R, N), generator=generator) * 2 - 1) / N**0.5
    h = (torch.rand((N,), generator=generator) * 2 - 1) / N**0.5
    theta = torch.tensor(-2.0)
    # input currents: one leaf (P, N) tensor per step, so that grad_c is produced but neither the input
    # matmul nor a select's backward (which zero-fills the whole (T, P, N) tensor per step) is timed
    cur = [torch.randn((P, N), generator=generator) * 0.3 for _ in range(T)] if with_current else None
    leaves = [mT, n, h, theta] + (cur or [])
    for t in leaves:
        t.requires_grad_(True)
    z0 = torch.randn((P, R), generator=generator)
    noise = torch.randn((T, P, R), generator=generator) * 0.1
    return mT, n, h, theta, cur, z0, noise, leaves


def run_chain(make, prm, act, T, backward):
    mT, n, h, theta, cur, z0, noise, leaves = prm
    for t in leaves:
        t.grad = None
    a = torch.exp(-torch.exp(theta))
    f = make(mT, n, h, a, act)
    z = z0
    for t in range(T):
        z = f(z, None if cur is None else cur[t]) + noise[t]
    if backward:
        z.sum().backward()
    return z


def time_per_step(make, prm, act, T, repeats, backward):
    ctx = torch.enable_grad() if backward else torch.no_grad()
    samples = []
    with ctx:
        run_chain(make, prm, act, T, backward)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            run_chain(make, prm, act, T, backward)
            samples.append((time.perf_counter() - t0) / T * 1e6)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--acts", default="relu,tanh")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--min-work", type=int, default=None,
                    help="fused kernel: min particle x unit elements per thread before it goes parallel")
    args = ap.parse_args()

    t0 = time.perf_counter()
    ext = kernels.extension()
    ok = ext is not None
    print(f"fused kernel available: {ok} (build/load {time.perf_counter() - t0:.1f} s)"
          + ("" if ok else f" -- {kernels.unavailable_reason()}"))
    print(f"torch {torch.__version__}, load average {os.getloadavg()}")
    if ok and args.min_work is not None:
        ext.set_min_work_per_thread(args.min_work)
    if ok:
        print(f"fused: parallel above {ext.get_min_work_per_thread()} elements per thread")
    gen = torch.Generator().manual_seed(0)
    makers = {"torch": fused.reference_step}
    if ok:
        makers["fused"] = fused.make_step
    print(f"{'config':<22}{'act':<14}{'thr':>4}" + "".join(
        f"{k + ' fwd':>12}{k + ' f+b':>12}" for k in makers) + (f"{'speed-up f+b':>14}" if ok else ""))
    for threads in [int(s) for s in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for cname, (P, N, R) in CONFIGS.items():
            for with_current in (False, True):
                prm = params(P, N, R, args.steps, with_current, gen)
                for act in args.acts.split(","):
                    res = {}
                    for k, make in makers.items():
                        fwd = time_per_step(make, prm, act, args.steps, args.repeats, backward=False)
                        fb = time_per_step(make, prm, act, args.steps, args.repeats, backward=True)
                        res[k] = (fwd, fb)
                    label = f"{cname} {P}x{N}x{R}" + (" +c" if with_current else "")
                    line = f"{label:<22}{act:<14}{threads:>4}" + "".join(f"{v[0]:>12.1f}{v[1]:>12.1f}" for v in res.values())
                    if ok:
                        line += f"{res['torch'][1] / res['fused'][1]:>13.1f}x"
                    print(line, flush=True)
    print(f"load average {os.getloadavg()} (us per step, median of {args.repeats} chains of {args.steps} steps "
          "z <- f(z, c_t) + noise_t, then backward from sum(z_T); includes the noise add and autograd)")


if __name__ == "__main__":
    main()
