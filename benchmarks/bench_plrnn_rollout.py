"""Time one PLRNN gradient step (teacher-forced rollout, backward) with the three rollout paths.

* ``C++``: ``rollout`` with the fused extension (``csrc/plrnn_rollout.cpp``: both time loops in C++);
* ``Python loops``: the same ``rollout`` with ``SKLEARN_LRNN_NO_FUSED=1`` (per-step torch kernels);
* ``autograd``: ``reference_rollout``, the loop recorded by autograd.

Configurations: the Lorenz-63 benchmark (clipped shallow, M = 3, H = 100, T = 200, B = 16, GTF), the EEG
comparison row (clipped shallow, M = 16, H = 512, affine readout of 64 channels, T = 50, B = 16) and the
addition problem (vanilla, M = 40, T = 200, B = 128, sequence-to-one). Paths are interleaved and the
median over repeats is reported, so the ratios within one run are what to compare on a noisy machine.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_plrnn_rollout.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from sklearn_lrnn._engine import kernels
from sklearn_lrnn._engine.plrnn import PLRNN, reference_rollout, rollout

CONFIGS = {
    "Lorenz: clipped shallow M 3, H 100, T 200, B 16, GTF": dict(arch="clipped_shallow", M=3, H=100, N=3, T=200, B=16,
                                                                  gtf=True),
    "EEG row: clipped shallow M 16, H 512, 64 ch, T 50, B 16, GTF": dict(arch="clipped_shallow", M=16, H=512, N=64,
                                                                         T=50, B=16, gtf=True),
    "addition: vanilla M 40, T 200, B 128, seq-to-one": dict(arch="vanilla", M=40, H=40, N=1, T=200, B=128, gtf=False),
}


def make_step(cfg, fn):
    g = torch.Generator().manual_seed(0)
    readout = "identity" if cfg["gtf"] and cfg["N"] <= cfg["M"] else "affine"
    m = PLRNN(cfg["M"], cfg["N"], architecture=cfg["arch"], n_hidden=cfg["H"], n_inputs=0 if cfg["gtf"] else 2,
              readout=readout, generator=g)
    T, B = cfg["T"], cfg["B"]
    x = torch.randn(T + 1, B, cfg["N"], generator=g)
    s = torch.randn(T, B, 2, generator=g)

    def step():
        m.zero_grad()
        if cfg["gtf"]:
            keep, P = m.forcing(x[1:], 0.2)
            Y = fn(m, m.infer_state(x[0]), m.base(shape=(T, B)), P, keep, (True,) * T)
            loss = (m.observe(Y) - x[1:]).square().mean()
        else:
            Y = fn(m, m.z0.expand(B, cfg["M"]), m.base(s))
            loss = m.observe(Y[-1]).square().mean()
        loss.backward()

    return step


def timed(step, env_no_fused, reps=5):
    old = os.environ.get("SKLEARN_LRNN_NO_FUSED")
    os.environ["SKLEARN_LRNN_NO_FUSED"] = "1" if env_no_fused else "0"
    try:
        step()
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        return 1000 * (time.perf_counter() - t0) / reps
    finally:
        if old is None:
            del os.environ["SKLEARN_LRNN_NO_FUSED"]
        else:
            os.environ["SKLEARN_LRNN_NO_FUSED"] = old


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not kernels.available():
        raise SystemExit(f"the C++ extension is unavailable ({kernels.unavailable_reason()})")
    print("| configuration | C++ (ms) | Python loops (ms) | autograd (ms) | Python / C++ |")
    print("| --- | --- | --- | --- | --- |")
    for name, cfg in CONFIGS.items():
        paths = {"cpp": (make_step(cfg, rollout), False), "py": (make_step(cfg, rollout), True),
                 "ag": (make_step(cfg, reference_rollout), False)}
        times = {k: [] for k in paths}
        for _ in range(args.repeats):
            for k, (step, no_fused) in paths.items():
                times[k].append(timed(step, no_fused))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"| {name} | {med['cpp']:.1f} | {med['py']:.1f} | {med['ag']:.1f} | {med['py'] / med['cpp']:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
