"""Benchmark: exact low-rank fixed points (seconds and peak memory per (R, N)), naive baseline, SCYFI.

Plain script (no arguments needed)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_fixed_points.py [--quick] [--skip-large]

Each measurement runs in a fresh subprocess, which reports its wall time, CPU time and peak resident
memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, including the Python/NumPy baseline of about
40 MB). Random networks follow the package's initialisation (doc/theory.rst, "Stochastic low-rank
RNN"): n ~ U(+-1/sqrt N), m ~ U(+-1/sqrt R), h ~ U(+-1/sqrt N), decay 0.9. The naive baseline is
the published recipe run one cell at a time: every R-subset of hyperplanes gives a vertex, the 2^R
cells around it are deduplicated in a Python set, and each cell's R x R system is solved with
``numpy.linalg.solve``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from itertools import combinations
from math import comb
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SIZES = [(2, 512), (3, 128), (3, 256), (3, 512), (4, 128)]
NAIVE = {(2, 512, "relu"), (3, 128, "relu"), (2, 512, "clipped_relu")}  # naive is too slow beyond these


def random_network(N, R, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.uniform(-1, 1, (N, R)) / np.sqrt(R)
    n = rng.uniform(-1, 1, (R, N)) / np.sqrt(N)
    h = rng.uniform(-1, 1, N) / np.sqrt(N)
    return m, n, h, 0.9


def naive_fixed_points(m, n, h, a, activation):
    """One cell at a time: vertices -> 2^R patterns around each -> dedupe -> one solve per cell."""
    from sklearn_lrnn.dynamics import low_rank_map

    pm = low_rank_map(m, n, h, a, activation)
    G, g = pm.G, pm.g
    K, R = G.shape
    corners = np.array(np.meshgrid(*[[0, 1]] * R, indexing="ij")).reshape(R, -1).T.astype(bool)
    cells = set()
    for T in combinations(range(K), R):
        T = list(T)
        GT = G[T]
        if abs(np.linalg.det(GT)) < 1e-12:
            continue
        v = np.linalg.solve(GT, -g[T])
        base = G @ v + g > 0
        for corner in corners:
            pat = base.copy()
            pat[T] = corner
            cells.add(np.packbits(pat).tobytes())
    points = []
    for key in cells:
        pat = np.unpackbits(np.frombuffer(key, dtype=np.uint8))[:K].astype(bool)
        J, c = pm.affine(pat[None])
        try:
            z = np.linalg.solve(np.eye(R) - J[0], c[0])
        except np.linalg.LinAlgError:
            continue
        val = G @ z + g
        if np.all(np.where(pat, val >= -1e-9, val <= 1e-9)):
            points.append(z)
    pts = np.array(points).reshape(-1, R)
    keep = [i for i in range(len(pts)) if all(np.abs(pts[i] - pts[j]).max() > 1e-7 for j in range(i))]
    return len(keep), len(cells)


def _child(spec):
    """Run one measurement in this process; print a JSON line."""
    import resource

    from sklearn_lrnn.dynamics import low_rank_fixed_points

    R, N, act, solver = spec["R"], spec["N"], spec["activation"], spec["solver"]
    m, n, h, a = random_network(N, R, seed=spec.get("seed", 0))
    t0, c0 = time.perf_counter(), time.process_time()
    if solver == "none":  # import baseline: the package imports torch (~300 MB before any work)
        n_fp = n_cells = 0
    elif solver == "exact":
        fp = low_rank_fixed_points(m, n, h, a, act)
        n_fp, n_cells = len(fp), fp.n_cells
    else:
        n_fp, n_cells = naive_fixed_points(m, n, h, a, act)
    out = dict(spec, seconds=time.perf_counter() - t0, cpu=time.process_time() - c0, n_fp=n_fp, n_cells=n_cells,
               peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


def measure(spec, timeout):
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return dict(spec, seconds=float("nan"), cpu=float("nan"), n_fp=-1, n_cells=-1, peak_mb=float("nan"),
                    note=f"timeout {timeout}s")
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def scyfi_table(budgets=(100, 300, 1000, 3000, 10000), seeds=range(5)):
    from sklearn_lrnn.dynamics import low_rank_fixed_points, scyfi_fixed_points, teacher_from_npz

    path = SHARED / "data" / "teachers" / "reach_n60_r2.npz"
    if path.is_file():
        t = teacher_from_npz(path)
        params = dict(left=t["left"], right=t["right"], bias=t["bias"], decay=t["decay"])
        name = "reach_n60_r2 teacher"
    else:
        m, n, h, a = random_network(60, 2, seed=3)
        params = dict(left=m, right=n * 20, bias=h, decay=a)
        name = "random N=60 R=2 network (shared data not found)"
    exact = low_rank_fixed_points(params["left"], params["right"], params["bias"], params["decay"])
    rows = []
    for b in budgets:
        counts = [len(scyfi_fixed_points(**params, max_solves=b, random_state=s)) for s in seeds]
        rows.append((b, counts))
    return name, exact, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="only R=2/N=512 and R=3/N=128")
    ap.add_argument("--skip-large", action="store_true", help="skip R=3/N=512 and R=4/N=128 for clipped relu")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    args = ap.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    sizes = SIZES[:2] if args.quick else SIZES
    base = measure(dict(R=1, N=1, activation="relu", solver="none"), args.timeout)
    print(f"# peak RSS of a child that only imports the package: {base['peak_mb']:.0f} MB")
    print(f"# exact low-rank fixed points (numpy {np.__version__}); wall s / CPU s / peak RSS MB per (R, N)")
    print("| activation | R | N | hyperplanes | cells (sum C(K,i)) | fixed pts | wall s | CPU s | peak MB "
          "| naive wall s | naive / exact |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for act in ("relu", "clipped_relu"):
        for R, N in sizes:
            K = N if act == "relu" else 2 * N
            if args.skip_large and act == "clipped_relu" and (R, N) in {(3, 512), (4, 128)}:
                continue
            r = measure(dict(R=R, N=N, activation=act, solver="exact"), args.timeout)
            naive = ""
            ratio = ""
            if (R, N, act) in NAIVE:
                q = measure(dict(R=R, N=N, activation=act, solver="naive"), args.timeout)
                naive = f"{q['seconds']:.1f}"
                if q["n_fp"] >= 0:
                    ratio = f"{q['seconds'] / r['seconds']:.0f}x"
                    if q["n_fp"] != r["n_fp"]:
                        ratio += f" (naive found {q['n_fp']} points!)"
            bound = sum(comb(K, i) for i in range(R + 1))
            print(f"| {act} | {R} | {N} | {K} | {r['n_cells']:,} ({bound:,}) | {r['n_fp']} | {r['seconds']:.2f} "
                  f"| {r['cpu']:.2f} | {r['peak_mb']:.0f} | {naive} | {ratio} |", flush=True)
    name, exact, rows = scyfi_table()
    print(f"\n# SCYFI vs exact on the {name}: exact finds {len(exact)} ({exact.n_stable} stable) "
          f"with {exact.n_solves} solves")
    print("| SCYFI solve budget | fixed points found (5 seeds) | mean |")
    print("|---|---|---|")
    for b, counts in rows:
        print(f"| {b} | {', '.join(map(str, counts))} | {np.mean(counts):.1f} |")


if __name__ == "__main__":
    main()
