"""Peak memory and time of D_stsp (GMM, both conventions) and D_H on an EEG-sized pair (9,640 x 64).

Each measurement runs in its own subprocess, so peaks do not mask each other. Reported per case:
wall time of the metric call, the tracemalloc peak of the call (NumPy registers its buffers with
tracemalloc; torch does not, so torch cases show ~0 there), and the growth of the process's peak
resident set (ru_maxrss after the call minus before it, which includes libraries touched for the
first time).

Data: the 64-channel EEG recording of the Pals et al. (2024) benchmark, ``eeg_s001r01_smoothed.npy`` (not
distributed with the package; looked up at ``EEG`` below), as X_true, and the same recording with its
channels in a fixed random order (X_gen: same marginals, different joint distribution); random data
of that size if the file is missing.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_metrics_memory.py [--repeats 3] [--published]

``--published`` also measures a re-implementation of the published evaluation, which broadcasts a
(T x samples x channels) float32 tensor (several GB of memory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EEG = ROOT.parent / "shared" / "data" / "eeg" / "eeg_s001r01_smoothed.npy"

CASES = {
    "D_stsp gmm exact (numpy, chunked)": "exact",
    "D_stsp gmm reference (numpy, chunked)": "reference",
    "D_stsp gmm exact (torch, chunked)": "torch_exact",
    "D_H (sigma 20)": "dh",
    "D_stsp gmm, published broadcast (torch f32)": "published",
}


def _load():
    import numpy as np

    if EEG.exists():
        x = np.load(EEG).astype(np.float64)
        source = str(EEG.relative_to(ROOT.parent))
    else:
        x = np.random.default_rng(0).normal(size=(9640, 64))
        source = "random normal (EEG file not found)"
    gen = x[:, np.random.default_rng(1).permutation(x.shape[1])]
    return x, gen, source


def _torch_exact(true, gen, n_samples=1000, chunk=None, seed=0):
    """The exact estimator of sklearn_lrnn.metrics written with torch ops (for the numpy/torch choice)."""
    import numpy as np
    import torch

    rng = np.random.RandomState(seed)
    centre = rng.randint(0, true.shape[0], size=n_samples)
    z = torch.from_numpy(true[centre] + rng.standard_normal((n_samples, true.shape[1])))
    chunk = chunk or max(1, 2**21 // true.shape[0])

    def logmix(c):
        c = torch.from_numpy(c)
        out = []
        for s in range(0, n_samples, chunk):
            d2 = torch.cdist(z[s : s + chunk], c, compute_mode="use_mm_for_euclid_dist").square_()
            out.append(torch.logsumexp(-0.5 * d2, dim=1))
        return torch.cat(out)

    return float((logmix(true) - logmix(gen)).mean())


def _published(true, gen, n_samples=1000, seed=0):
    """Published evaluation pattern: a (T x samples x D) float32 difference tensor per mixture."""
    import torch

    torch.manual_seed(seed)
    mu_true = torch.from_numpy(true).float()
    mu_gen = torch.from_numpy(gen).float()
    t = torch.randint(0, mu_true.shape[0], (n_samples,))
    z = mu_true[t] + torch.randn(mu_true[t].shape)

    def lik(mu):
        vec = z.unsqueeze(0) - mu.unsqueeze(1)  # T x S x D
        exponent = torch.einsum("TSX,TSX->TS", vec, vec)
        return torch.exp(-0.5 * exponent).sum(dim=0) / mu.shape[0]

    p, q = lik(mu_true), lik(mu_gen)
    keep = (p > 0) & (q > 0)
    return float(torch.mean(torch.log(p[keep]) - torch.log(q[keep])))


def child(case):
    """Run one case in this (fresh) process and print a JSON line."""
    import resource
    import time
    import tracemalloc

    import numpy as np
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from sklearn_lrnn.metrics import power_spectrum_distance, state_space_divergence

    true, gen, source = _load()
    # warm-up on a small slice so first-call library costs do not count as the metric's memory
    state_space_divergence(true[:50], gen[:50], random_state=0)
    power_spectrum_distance(true[:200], gen[:200])
    _torch_exact(true[:50], gen[:50], n_samples=10)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    if case in ("exact", "reference"):
        value = state_space_divergence(true, gen, method="gmm", convention=case, random_state=0)
    elif case == "torch_exact":
        value = _torch_exact(true, gen)
    elif case == "dh":
        value = power_spectrum_distance(true, gen, smoothing_sigma=20)
    else:
        value = _published(true, gen)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"value": value, "seconds": seconds, "tracemalloc_mb": peak / 2**20,
                      "rss_delta_mb": (rss1 - rss0) / 1024, "rss_peak_mb": rss1 / 1024, "source": source,
                      "shape": list(true.shape)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (time: best, memory: max)")
    parser.add_argument("--published", action="store_true", help="also run the published broadcast (GBs)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    rows, source, shape = [], None, None
    for name, case in CASES.items():
        if case == "published" and not args.published:
            continue
        runs = []
        for _ in range(args.repeats if case != "published" else 1):
            out = subprocess.run([sys.executable, __file__, "--child", case], capture_output=True, text=True,
                                 env=env, cwd=ROOT, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        source, shape = runs[0]["source"], runs[0]["shape"]
        rows.append((name, runs[0]["value"], min(r["seconds"] for r in runs),
                     max(r["tracemalloc_mb"] for r in runs), max(r["rss_delta_mb"] for r in runs),
                     max(r["rss_peak_mb"] for r in runs)))
    print(f"data: {source}, shape {tuple(shape)}; OMP_NUM_THREADS={env['OMP_NUM_THREADS']}; "
          f"{args.repeats} runs per case (time: best, memory: max)\n")
    print("| metric | value | time (s) | tracemalloc peak (MB) | RSS growth (MB) | process peak RSS (MB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, value, sec, tm, drss, rss in rows:
        print(f"| {name} | {value:.4f} | {sec:.2f} | {tm:.1f} | {drss:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
