"""How the cost of one SMC gradient step grows with the number of neurons, the trial length and the particles.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_smc_scaling.py [--repeats 3] [--sweeps neurons length particles]

One step = run_smc forward + backward + one RAdam update, one torch thread, median of ``--repeats`` after one
warm-up step. Each configuration runs in a fresh process so that its peak resident memory (``ru_maxrss``) is its
own; the table shows the peak and its increase over the process after building the model and the data (torch,
the package and the data alone take the rest). Three models, N units observed one channel per unit (so "neurons"
grows the network and the data together):

- ``gaussian``: Gaussian readout x = B z + b + noise, optimal proposal (the EEG path);
- ``poisson bootstrap``: Poisson counts of softplus(gain (m z + W_u v) + bias), bootstrap proposal;
- ``poisson encoder``: the same with the CNN encoder proposal (kernels 21, 11, 1; channels 64, 64).

Rank 2, relu, diagonal transition noise, 10 trials. Sweeps: neurons 30, 100, 300, 1,000 (K = 64, T = 200);
trial length 100, 300, 1,000 (100 neurons, K = 64); particles 16, 64, 256 (100 neurons, T = 200). For each
configuration the time is also split into the forward pass alone (no gradient) and the rest (backward + update).
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

MODELS = ("gaussian", "poisson bootstrap", "poisson encoder")
SWEEPS = {
    "neurons": [dict(N=n, T=200, K=64) for n in (30, 100, 300, 1000)],
    "length": [dict(N=100, T=t, K=64) for t in (100, 300, 1000)],
    "particles": [dict(N=100, T=200, K=k) for k in (16, 64, 256)],
}


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def worker(model_name, N, T, K, repeats, loop=False, B=10, R=2):
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from sklearn_lrnn._engine.encoder import ConvEncoder
    from sklearn_lrnn._engine.low_rank import LowRankTransition
    from sklearn_lrnn._engine.observations import build_observation
    from sklearn_lrnn._engine import smc
    from sklearn_lrnn._engine.smc import StateSpaceModel, run_smc
    from sklearn_lrnn._engine.training import make_optimizer

    smc.FUSED_WINDOW = not loop  # the per-step loop: the path every spiking fit took before the fused window
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    tr = LowRankTransition(R, N, generator=g, noise_kind="diag")
    if model_name == "gaussian":
        obs, proposal, enc = build_observation("gaussian", R, N, generator=g), "optimal", None
        x = torch.randn(B, T, N, generator=g)
    else:
        obs = build_observation("poisson_currents", R, N, generator=g)
        proposal = model_name.split()[1]
        enc = ConvEncoder(N, R) if proposal == "encoder" else None
        x = torch.poisson(torch.full((B, T, N), 0.3), generator=g)
    model = StateSpaceModel(tr, obs, enc)
    opt = make_optimizer(model.parameters(), 1e-3)  # as the estimators train
    base_rss = _rss_mb()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = -run_smc(model, x, n_particles=K, proposal=proposal, generator=g).log_evidence.mean() / T
        loss.backward()
        opt.step()

    def forward():
        with torch.no_grad():
            run_smc(model, x, n_particles=K, proposal=proposal, generator=g)

    times, fwd = [], []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        forward()
        t2 = time.perf_counter()
        if i:
            times.append(t1 - t0)
            fwd.append(t2 - t1)
    return dict(model=model_name, path="loop" if loop else "fused", N=N, T=T, K=K, ms=1000 * statistics.median(times),
                fwd_ms=1000 * statistics.median(fwd), peak_mb=_rss_mb(), step_mb=_rss_mb() - base_rss)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sweeps", nargs="+", default=list(SWEEPS), choices=list(SWEEPS))
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--paths", nargs="+", default=["fused"], choices=["fused", "loop"],
                    help="'loop' also times run_smc's per-step loop (FUSED_WINDOW = False)")
    ap.add_argument("--worker", nargs=5, metavar=("MODEL", "N", "T", "K", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        m, N, T, K, path = args.worker
        print(json.dumps(worker(m, int(N), int(T), int(K), args.repeats, loop=path == "loop")))
        return
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, one torch thread per process")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for sweep in args.sweeps:
        print(f"\n### {sweep}\n")
        print("| model | path | neurons | T | K | ms / step | forward ms | backward + update ms | peak RSS MB | step MB |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for model_name in args.models:
            for cfg in SWEEPS[sweep]:
                for path in args.paths:
                    out = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--worker",
                                          model_name, str(cfg["N"]), str(cfg["T"]), str(cfg["K"]), path],
                                         capture_output=True, text=True, env=env)
                    if out.returncode != 0:
                        why = (out.stderr.strip().splitlines() or ["?"])[-1][:80]
                        print(f"| {model_name} | {path} | {cfg['N']} | {cfg['T']} | {cfg['K']} | failed: {why} "
                              "| | | | |", flush=True)
                        continue
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    print(f"| {r['model']} | {r['path']} | {r['N']} | {r['T']} | {r['K']} | {r['ms']:.1f} | "
                          f"{r['fwd_ms']:.1f} | {r['ms'] - r['fwd_ms']:.1f} | {r['peak_mb']:.0f} | {r['step_mb']:.0f} |",
                          flush=True)


if __name__ == "__main__":
    main()
