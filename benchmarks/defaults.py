"""Are the defaults right? Fit systems that no test tunes to, with default settings only.

Only data-shaped arguments are set (``rank``, ``observation``, ``n_latents``, ``random_state``); every
training setting is the estimator's default. Each row reports what a scientist would check:

* low-rank teachers (rank 2; relu and tanh; limit cycles of several periods and noise levels;
  multistable; Gaussian and Poisson; with inputs): transition-noise recovery (ratio fitted / true
  in teacher units, target within 20%), period (within 10%) and amplitude (within 15%) of the
  noise-free generated orbit, Poisson per-neuron rate correlation (>= 0.95), and stable fixed
  points (number, and distance to the teacher's after mapping the latent spaces);
* chaotic flows for ``PLRNNRegressor`` (Rössler, Halvorsen, Sprott B, Lorenz-96): D_stsp of a long
  free generation against a clean test trajectory (target: within 0.3 of the data's own floor),
  D_H (<= 0.15) and the maximum Lyapunov exponent (> 0).

The fitted latent space is mapped to the teacher's by least squares of the true latents on the
posterior means (an affine map), so noise, orbits and fixed points are compared in teacher units.

Run (2 CPU cores; each (system, seed) runs in its own process, peak memory from the OS):

    .venv/bin/python benchmarks/defaults.py --seeds 0 1 2 --jobs 2 [--systems relu_cycle_slow ...]

prints a JSON line per fit (also appended to ``--out``) and the table of medians over seeds;
``--table results.jsonl`` prints the table of a saved run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

# --------------------------------------------------------------------------- low-rank teachers


def _circle_units(n_units, rng):
    theta = np.linspace(0, 2 * np.pi, n_units, endpoint=False) + rng.uniform(-0.05, 0.05, n_units)
    U, upper = np.linalg.qr(np.stack([np.cos(theta), np.sin(theta)], 1))
    return U * np.sign(np.diag(upper))


def _rot(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def teacher_step(T, z, u=None):
    cur = z @ T["m"].T - T["h"]
    if u is not None:
        cur = cur + u @ T["w_u"].T
    phi = np.maximum(cur, 0) if T["act"] == "relu" else np.tanh(cur)
    return T["a"] * z + phi @ T["n"].T


def simulate(T, n_trials, n_steps, rng, noise, z0=None, u=None):
    R = T["m"].shape[1]
    z = rng.normal(scale=T.get("z0_scale", 1.0), size=(n_trials, R)) if z0 is None else z0
    Z = np.empty((n_trials, n_steps, R))
    for t in range(n_steps):
        if t:
            z = teacher_step(T, z, None if u is None else u[:, t]) + noise * rng.standard_normal(z.shape)
        Z[:, t] = z
    return Z


def relu_cycle(decay, gain, bias=0.4):
    # as the package's oscillator teacher, with other decay / gain: near the origin all units are
    # active (eigenvalues decay +- i gain, unstable), far out half are (decay +- i gain / 2, stable)
    def make(rng, n_units):
        U = _circle_units(n_units, rng)
        return dict(m=U, n=gain * _rot(np.pi / 2) @ U.T, h=np.full(n_units, -bias), a=decay, act="relu")
    return make


def tanh_cycle(angle, gain):
    def make(rng, n_units):
        U = _circle_units(n_units, rng)
        return dict(m=U, n=gain * _rot(angle) @ U.T, h=np.zeros(n_units), a=0.9, act="tanh")
    return make


def tanh_bistable(rng, n_units):
    # z1' = 0.8 z1 + 0.5 tanh(z1): a pitchfork, stable at z1 = +-2.33 with a saddle at 0; z2' = 0.8 z2.
    # One unit carries the non-linearity; the channels see a random orthonormal mixing of z.
    m = np.zeros((n_units, 2))
    m[0, 0] = 1.0
    n = np.zeros((2, n_units))
    n[0, 0] = 0.5
    U = np.linalg.qr(rng.normal(size=(n_units, 2)))[0]
    return dict(m=m, n=n, h=np.zeros(n_units), a=0.8, act="tanh", readout=U, z0_scale=1.5)


SYSTEMS_LR = {
    # name: (teacher factory, units/channels, transition noise, observation noise, observation, n_trials, T)
    "relu_cycle_slow": (relu_cycle(0.98, 0.3), 24, 0.05, 0.1, "gaussian", 80, 80),
    "relu_cycle_fast_noisy": (relu_cycle(0.9, 0.7), 24, 0.2, 0.1, "gaussian", 80, 80),
    "tanh_cycle": (tanh_cycle(1.2, 0.25), 24, 0.05, 0.1, "gaussian", 80, 80),
    "tanh_cycle_noisy": (tanh_cycle(0.8, 0.3), 30, 0.15, 0.2, "gaussian", 80, 100),
    "tanh_bistable": (tanh_bistable, 24, 0.15, 0.1, "gaussian", 80, 80),
    "relu_cycle_poisson": (relu_cycle(0.95, 0.45), 30, 0.05, None, "poisson", 80, 100),
    "relu_cycle_inputs": (relu_cycle(0.95, 0.45), 24, 0.05, 0.1, "inputs", 80, 80),
}


def make_low_rank_data(name, seed):
    factory, N, noise, obs_noise, kind, n_trials, T = SYSTEMS_LR[name]
    rng = np.random.RandomState(1000 + seed)
    teacher = factory(rng, N)
    if "z0_scale" not in teacher:  # start trials around the limit cycle's radius, not only in the transient
        orbit = _orbit(lambda z: teacher_step(teacher, z[None])[0], [1.0, 0.0], n=1200, burn=1000)
        teacher["z0_scale"] = float(np.linalg.norm(orbit - orbit.mean(0), axis=1).mean() / np.sqrt(2))
    mix = teacher.get("readout", teacher["m"])
    u = None
    if kind == "inputs":
        teacher["w_u"] = 0.5 * rng.normal(size=(N, 1))
        u = np.zeros((n_trials, T, 1))
        for i in range(n_trials):  # brief pulses at random times
            for t0 in rng.choice(T - 5, 2, replace=False):
                u[i, t0 : t0 + 3, 0] = rng.choice([-1.0, 1.0])
    Z = simulate(teacher, n_trials, T, rng, noise, u=u)
    currents = Z @ mix.T
    if kind == "poisson":
        rates = np.logaddexp(0, 3.0 * currents - 1.5 + rng.normal(scale=0.5, size=N))
        X = rng.poisson(rates).astype(float)
    else:
        X = currents + obs_noise * rng.standard_normal(currents.shape)
    return dict(X=X, Z=Z, u=u, teacher=teacher, noise=noise, kind=kind)


def _orbit(step, z0, n=1500, burn=1000):
    z = np.array(z0, dtype=float)
    out = []
    for t in range(n):
        z = step(z)
        if t >= burn:
            out.append(z.copy())
    return np.array(out)


def _period(x):
    from sklearn_lrnn.datasets._teachers import dominant_period

    return float(dominant_period(x)) if np.ptp(x) > 1e-6 else float("inf")


def _stable_fixed_points(T):
    from sklearn_lrnn.dynamics import build_map
    from sklearn_lrnn.dynamics._low_rank import tanh_fixed_points

    pmap = build_map(left=T["m"], right=T["n"], bias=T["h"], decay=T["a"], activation=T["act"])
    if T["act"] == "tanh":
        fps = tanh_fixed_points(pmap.m, pmap.n, pmap.h, pmap.a, pmap.c)
    else:
        from sklearn_lrnn.dynamics import map_fixed_points

        fps = map_fixed_points(pmap, method="exact")
    return np.asarray(fps.points)[np.asarray(fps.stability) == "stable"]


def run_low_rank(name, seed):
    from sklearn_lrnn import StochasticLowRankRNN

    d = make_low_rank_data(name, seed)
    obs = "poisson" if d["kind"] == "poisson" else "gaussian"
    model = StochasticLowRankRNN(rank=2, observation=obs, random_state=seed, **EXTRA["low_rank"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        model.fit(d["X"], u=d["u"])
        fit_s = time.perf_counter() - t0
    post = np.asarray(model.transform(d["X"], u=d["u"], method="smoothing"))
    P = post.reshape(-1, 2)
    Zt = d["Z"].reshape(-1, 2)
    design = np.hstack([P, np.ones((len(P), 1))])
    coef, *_ = np.linalg.lstsq(design, Zt, rcond=None)
    A, c = coef[:2].T, coef[2]  # z_teacher ~ A z_model + c
    r2 = 1 - ((design @ coef - Zt) ** 2).sum() / ((Zt - Zt.mean(0)) ** 2).sum()
    cov_t = A @ model.noise_cov_ @ A.T
    res = dict(system=name, seed=seed, fit_seconds=round(fit_s, 1), n_iter=model.n_iter_,
               converged=bool(model.converged_), latent_r2=round(float(r2), 4),
               noise_ratio=round(float(np.sqrt(np.trace(cov_t) / (2 * d["noise"] ** 2))), 3),
               warnings=sorted({w.category.__name__ for w in caught}))
    T = d["teacher"]
    if "cycle" in name:
        zt = _orbit(lambda z: teacher_step(T, z[None])[0], [1.0, 0.0])
        _, Zm = model.sample(1, 1500, noise_scale=0.0, burn_in=1000, random_state=0,
                             z0=np.linalg.lstsq(A, np.array([1.0, 0.0]) - c, rcond=None)[0]) \
            if d["u"] is None else (None, None)
        if Zm is None:  # input model: run the fitted map without input from the same state
            Xm, Zm = model.sample(u=np.zeros((1, 2500, 1)), noise_scale=0.0, random_state=0)
            Zm = Zm[:, 1000:]
        zm = Zm[0] @ A.T + c
        rt, rm = np.linalg.norm(zt - zt.mean(0), axis=1).mean(), np.linalg.norm(zm - zm.mean(0), axis=1).mean()
        res.update(period_true=round(_period(zt[:, 0]), 2), period_fit=round(_period(zm[:, 0]), 2),
                   amplitude_ratio=round(float(rm / rt), 3))
        res["period_ratio"] = round(res["period_fit"] / res["period_true"], 3)
    if "bistable" in name:
        true_fp = _stable_fixed_points(T)
        fps = model.fixed_points_
        fit_fp = fps.points[fps.stability == "stable"] @ A.T + c
        dist = [float(np.min(np.linalg.norm(fit_fp - p, axis=1))) if len(fit_fp) else float("inf") for p in true_fp]
        res.update(n_stable_true=len(true_fp), n_stable_fit=int(len(fit_fp)),
                   n_saddle_fit=int((fps.stability == "saddle").sum()),
                   fp_distance_max=round(max(dist), 3), fp_scale=round(float(np.linalg.norm(true_fp, axis=1).max()), 3))
    if d["kind"] == "poisson":
        Xg, _ = model.sample(200, d["X"].shape[1], random_state=0)
        res["rate_corr"] = round(float(np.corrcoef(Xg.mean((0, 1)), d["X"].mean((0, 1)))[0, 1]), 4)
        (m_data, cv_data), (m_gen, cv_gen) = _isi_stats(d["X"]), _isi_stats(Xg)
        res.update(isi_mean_ratio=round(m_gen / m_data, 3), isi_cv_ratio=round(cv_gen / cv_data, 3))
    return res


def _isi_stats(X):
    """Mean and coefficient of variation of the inter-spike intervals (in bins: between successive bins with a
    spike, per neuron and trial, pooled)."""
    isis = [np.diff(np.flatnonzero(X[i, :, j] > 0)) for i in range(X.shape[0]) for j in range(X.shape[2])]
    isis = np.concatenate([v for v in isis if len(v)])
    return float(isis.mean()), float(isis.std() / isis.mean())


# --------------------------------------------------------------------------- chaotic flows

def _rossler(t, s, a=0.2, b=0.2, c=5.7):
    x, y, z = s
    return [-y - z, x + a * y, b + z * (x - c)]


def _halvorsen(t, s, a=1.89):
    x, y, z = s
    return [-a * x - 4 * y - 4 * z - y * y, -a * y - 4 * z - 4 * x - z * z, -a * z - 4 * x - 4 * y - x * x]


def _sprott_b(t, s):
    x, y, z = s
    return [y * z, x - y, 1 - x * y]


FLOWS = {  # rhs, dt, start
    "rossler": (_rossler, 0.1, [1.0, 1.0, 0.5]),
    "halvorsen": (_halvorsen, 0.02, [-5.0, 0.0, 0.0]),
    "sprott_b": (_sprott_b, 0.05, [0.1, 0.1, 0.1]),
}


def make_flow(name, n, seed, noise=0.05):
    from scipy.integrate import solve_ivp

    from sklearn_lrnn.datasets._systems import make_lorenz96

    if name == "lorenz96":
        X, clean = make_lorenz96(n, n_dims=5, dt=0.05, noise=noise, random_state=seed, return_clean=True)
        return X, clean
    rhs, dt, start = FLOWS[name]
    rng = np.random.default_rng(seed)
    x0 = np.asarray(start) + 0.1 * rng.standard_normal(3)
    burn = 2000
    t = np.arange(burn + n) * dt
    sol = solve_ivp(rhs, (0, t[-1]), x0, t_eval=t, rtol=1e-9, atol=1e-9, method="LSODA").y.T[burn:]
    return sol, sol


def run_flow(name, seed):
    from sklearn_lrnn import PLRNNRegressor
    from sklearn_lrnn.metrics import power_spectrum_distance, state_space_divergence

    raw, _ = make_flow(name, 20_000, 100 + seed)
    mu, sd = raw.mean(0), raw.std(0)
    rng = np.random.default_rng(seed)
    X_train = (raw - mu) / sd + 0.05 * rng.standard_normal(raw.shape)
    raw_test, _ = make_flow(name, 20_000, 500 + seed)
    X_test = (raw_test - mu) / sd
    model = PLRNNRegressor(random_state=seed, compute_lyapunov=True, **EXTRA["plrnn"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        model.fit(X_train)
        fit_s = time.perf_counter() - t0
    X_gen, _ = model.sample(20_000, x0=X_test[0])
    kw = dict(method="bins", n_bins=30) if X_test.shape[1] <= 3 else dict(method="gmm", random_state=0)
    return dict(system=name, seed=seed, fit_seconds=round(fit_s, 1), n_iter=model.n_iter_,
                converged=bool(model.converged_),
                D_stsp=round(float(state_space_divergence(X_test, X_gen, **kw)), 3),
                D_stsp_floor=round(float(state_space_divergence(X_test, X_train, **kw)), 3),
                D_H=round(float(power_spectrum_distance(X_test, X_gen, smoothing_sigma=20)), 3),
                max_lyapunov=round(float(model.lyapunov_exponent_), 4),
                warnings=sorted({w.category.__name__ for w in caught}))


ALL = list(SYSTEMS_LR) + list(FLOWS) + ["lorenz96"]

# --previous: the defaults before the plateau schedule (a fixed 1e-3 -> 1e-6 decay over max_iter epochs)
PREVIOUS = {"low_rank": dict(max_iter=100, n_particles=10, learning_rate_schedule="exponential",
                             final_learning_rate=1e-6),
            "plrnn": dict(max_iter=300, learning_rate_schedule="exponential", final_learning_rate=1e-6)}
EXTRA = {"low_rank": {}, "plrnn": {}}


def run_one(name, seed):
    import torch

    torch.set_num_threads(1)
    res = run_low_rank(name, seed) if name in SYSTEMS_LR else run_flow(name, seed)
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
    return res


def verdict(r):
    """Which criteria a row meets (None where a criterion does not apply)."""
    out = {}
    if "noise_ratio" in r:
        out["noise"] = abs(r["noise_ratio"] - 1) <= 0.2
    if "period_ratio" in r:
        out["period"] = abs(r["period_ratio"] - 1) <= 0.1
        out["amplitude"] = abs(r["amplitude_ratio"] - 1) <= 0.15
    if "rate_corr" in r:
        out["rates"] = r["rate_corr"] >= 0.95
    if "n_stable_fit" in r:
        out["fixed_points"] = r["n_stable_fit"] == r["n_stable_true"] and r["fp_distance_max"] <= 0.25 * r["fp_scale"]
    if "D_stsp" in r:
        out["D_stsp"] = r["D_stsp"] <= r["D_stsp_floor"] + 0.3
        out["D_H"] = r["D_H"] <= 0.15
        out["lyapunov"] = r["max_lyapunov"] > 0
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", nargs="*", default=ALL, choices=ALL)
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--one", nargs=2, metavar=("SYSTEM", "SEED"), help=argparse.SUPPRESS)
    ap.add_argument("--previous", action="store_true", help="fit with the previous defaults (fixed decay)")
    ap.add_argument("--out", default="defaults_results.jsonl")
    ap.add_argument("--table", metavar="JSONL", help="print the table of a saved results file and exit")
    args = ap.parse_args()
    if args.table:
        with open(args.table) as fh:
            print_table([json.loads(line) for line in fh if line.strip()])
        return
    if args.previous:
        EXTRA.update(PREVIOUS)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))), flush=True)
        return
    env = dict(os.environ, OMP_NUM_THREADS="1")
    todo = [(s, k) for s in args.systems for k in args.seeds]
    running, results = [], []
    with open(args.out, "a", buffering=1) as fh:
        while todo or running:
            while todo and len(running) < args.jobs:
                s, k = todo.pop(0)
                cmd = [sys.executable, __file__, "--one", s, str(k)] + (["--previous"] if args.previous else [])
                p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
                running.append(p)
            time.sleep(0.5)
            for p in [p for p in running if p.poll() is not None]:
                running.remove(p)
                line = p.stdout.read().strip().splitlines()
                if p.returncode == 0 and line:
                    r = json.loads(line[-1])
                    r["meets"] = verdict(r)
                    results.append(r)
                    print(json.dumps(r), flush=True)
                    fh.write(json.dumps(r) + "\n")
                else:
                    print(f"# a run failed with code {p.returncode}", flush=True)
    print_table(results)


def print_table(results):
    keys = ["noise_ratio", "period_ratio", "amplitude_ratio", "rate_corr", "isi_mean_ratio", "isi_cv_ratio",
            "n_stable_fit", "fp_distance_max",
            "D_stsp", "D_stsp_floor", "D_H", "max_lyapunov", "fit_seconds", "n_iter", "peak_rss_mb"]
    print("| system | sigma_z / sigma_x | seeds | " + " | ".join(keys) + " | criteria met (seeds meeting it) |")
    print("|" + "---|" * (len(keys) + 4))
    for name in dict.fromkeys(r["system"] for r in results):
        rows = [r for r in results if r["system"] == name]
        cells = []
        for k in keys:
            vals = [r[k] for r in rows if k in r]
            cells.append("" if not vals else f"{np.median(vals):.3g}")
        # a criterion is met for the median seed when at least half of the seeds meet it
        per_seed = [verdict(r) for r in rows]
        met = {k: sum(v[k] for v in per_seed) for k in per_seed[0]}
        snr = ""
        if name in SYSTEMS_LR:
            _, _, noise, obs_noise, kind, _, _ = SYSTEMS_LR[name]
            snr = f"{noise} / {obs_noise}" if obs_noise else f"{noise} / Poisson"
        print(f"| {name} | {snr} | {len(rows)} | " + " | ".join(cells) + " | "
              + ", ".join(f"{k} {'yes' if 2 * n >= len(rows) else 'NO'} ({n}/{len(rows)})" for k, n in met.items())
              + " |")


if __name__ == "__main__":
    main()
