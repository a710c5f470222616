"""Baselines: is the nonlinear model better than a linear one, on the same data and by the same metrics?

Every model of a section is fitted to the same training data and scored by the same code. Models:

* in the package: ``StochasticLowRankRNN`` (the nonlinear low-rank RNN), its linear baseline
  ``activation="linear"`` (a rank-R linear-Gaussian state-space model, exact Kalman likelihood),
  ``PLRNNRegressor`` (clipped shallow PLRNN, generalized teacher forcing) and its linear latent model
  ``architecture="linear"``;
* benchmark-only, thin wrappers in this file around well-kept libraries: a vector autoregression
  (``statsmodels`` VAR) on the top-k principal components, and a Gaussian hidden Markov model
  (``hmmlearn`` GaussianHMM) on the same components. Both read out the components plus isotropic
  Gaussian noise in the orthogonal complement (the variance left over by the components), so they
  generate full-dimensional data and have an exact log-likelihood in data space.

Sections (each (section, model, seed) is one job that writes one JSON file; ``table`` assembles them):

* ``eeg``: the 64-channel EEG of ``eeg_reproduction.py`` (not distributed with the package). The training
  copy is that script's current setting (Hann(15) smoothing undone with eps 0.01, z-scored, white noise
  of std 0.75 added, a fixed draw per seed). Every model is fitted to the first 75% of the training copy
  (7,230 steps) and scored (i) on the held-out last 25% of the training copy: log-likelihood per time
  bin (exact for the linear baseline, VAR and HMM, the SMC estimate for the nonlinear low-rank RNN,
  none for the PLRNN), k-step-ahead prediction error for k = 1, 5, 20, 50
  (``sklearn_lrnn.metrics.held_out_scorers`` for the package's models); (ii) by the published
  evaluation against the whole smoothed recording: 2,400 burn-in steps, 9,640 generated steps, Hann(15)
  smoothing, z-score, D_stsp (exact and reference convention) and D_H, mean of 3 generations. Models
  with an observation noise generate with it minus the added 0.75^2 (as in ``eeg_reproduction.py``).
  Low-rank RNNs use the published architecture (N = 512 units, clipped relu, K = 10 particles, 50-step
  windows, 10 per step, 50 steps per epoch) and the package's default schedule (plateau; 1,500 epochs
  is only a cap); the PLRNN is ``PLRNNRegressor()`` with its defaults.
* ``teachers``: two rank-2 teachers of ``defaults.py``: ``relu_cycle_slow`` (a limit cycle, period 31
  steps) and ``tanh_bistable`` (two stable fixed points and a saddle). 80 trials x 80 steps; the first
  60 trials fit, the last 20 are held out. Low-rank RNN with default settings (relu) vs its linear baseline.
  Metrics: held-out log-likelihood per bin, period and amplitude of the noise-free generated orbit
  (teacher units), number of stable fixed points, D_stsp of 20 generated trials against the held-out ones.
* ``lorenz``: Lorenz-63, 20,000 noisy (5%) standardised training steps; ``PLRNNRegressor()``,
  ``PLRNNRegressor(architecture="linear")`` and VAR(5) on the 3 coordinates. 20,000 generated steps
  from the first state of a clean test trajectory: D_stsp (30 bins per dimension) and D_H against it,
  maximal Lyapunov exponent of the fitted map (VAR: log spectral radius of its companion matrix).

Needs the ``bench`` extra (statsmodels, hmmlearn)::

    pip install -e ".[bench]"

Run (one core; every job in this process, results under ``--out``, finished jobs are skipped)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/baselines.py run eeg --models var3 var8 hmm3 hmm8 --seeds 0 1 2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/baselines.py run eeg --models lrnn3 linear3 plrnn --seeds 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/baselines.py run teachers --seeds 0 1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/baselines.py run lorenz --seeds 0 1
    .venv/bin/python benchmarks/baselines.py table          # markdown tables of everything written

``--quick`` shrinks every section (a smoke test of the script, not a result).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
RESULTS = os.path.join(HERE, "results", "baselines")
K_STEPS = (1, 5, 20, 50)
TRAIN_NOISE, DECONVOLVE = 0.75, 0.01  # the training copy of eeg_reproduction.py's current setting
INSTALL_HINT = ("benchmarks/baselines.py needs statsmodels and hmmlearn, the 'bench' extra: "
                "pip install -e '.[bench]'  (or: pip install 'statsmodels>=0.14' 'hmmlearn>=0.3')")


def require_bench():
    missing = []
    for name in ("statsmodels", "hmmlearn"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        sys.exit(f"missing {', '.join(missing)}. {INSTALL_HINT}")


# --------------------------------------------------------------------------- benchmark-only baselines

class PCAReadout:
    """x = mu + U p + e: top-k principal components p, isotropic noise e in the orthogonal complement."""

    def __init__(self, n_components):
        self.k = int(n_components)

    def fit(self, X):
        self.mu = X.mean(0)
        Xc = X - self.mu
        self.U = np.linalg.svd(Xc, full_matrices=False)[2][: self.k].T  # (D, k), orthonormal columns
        self.D = X.shape[1]
        P = Xc @ self.U
        self.s2 = float(((Xc - P @ self.U.T) ** 2).sum() / (len(X) * max(self.D - self.k, 1)))
        return P

    def project(self, X):
        return (X - self.mu) @ self.U

    def complement_logpdf(self, X):
        """log N of each row's complement part (the PC part is the time-series model's)."""
        Xc = X - self.mu
        R = Xc - (Xc @ self.U) @ self.U.T
        dof = self.D - self.k
        return -0.5 * (dof * np.log(2 * np.pi * self.s2) + (R**2).sum(1) / self.s2)

    def readout(self, P, rng=None, s2=0.0):
        X = self.mu + P @ self.U.T
        if rng is not None and s2 > 0:
            E = np.sqrt(s2) * rng.standard_normal(X.shape)
            X = X + E - (E @ self.U) @ self.U.T
        return X

    @property
    def n_parameters(self):
        return self.D * self.k + self.D + 1


class PCAVAR:
    """statsmodels VAR(order) with intercept on the top-k PCs, plus complement readout noise."""

    def __init__(self, n_components, order=5):
        self.pca, self.order = PCAReadout(n_components), int(order)

    def fit(self, X):
        from statsmodels.tsa.api import VAR

        P = self.pca.fit(X)
        res = VAR(P).fit(self.order, trend="c")
        self.coefs, self.c, self.sigma = np.asarray(res.coefs), np.asarray(res.intercept), np.asarray(res.sigma_u)
        self.context = P[-self.order:]  # the held-out part follows the training part
        self.observation_noise_var_ = self.pca.s2
        return self

    @property
    def n_parameters(self):
        k = self.pca.k
        return self.order * k * k + k + k * (k + 1) // 2 + self.pca.n_parameters

    def _step_mean(self, H):  # H (..., order, k), most recent last
        return self.c + sum(H[..., -1 - i, :] @ self.coefs[i].T for i in range(self.order))

    def sample(self, n, start, rng, s2):
        k = self.pca.k
        L = np.linalg.cholesky(self.sigma)
        H = np.array(start, dtype=float)
        out = np.empty((n, k))
        for t in range(n):
            p = self._step_mean(H) + L @ rng.standard_normal(k)
            H = np.vstack([H[1:], p])
            out[t] = p
        return self.pca.readout(out, rng, s2)

    def log_likelihood(self, X):
        from scipy.stats import multivariate_normal

        P = np.vstack([self.context, self.pca.project(X)])
        H = np.stack([P[t: t + self.order] for t in range(len(X))])
        resid = P[self.order:] - self._step_mean(H)
        ll = multivariate_normal(np.zeros(self.pca.k), self.sigma).logpdf(resid) + self.pca.complement_logpdf(X)
        return float(np.mean(ll))

    def forecast(self, X, n):
        """Row t: the mean forecast of X[t + n] from the data up to X[t] (and the training context)."""
        P = np.vstack([self.context, self.pca.project(X)])
        H = np.stack([P[t + 1: t + 1 + self.order] for t in range(len(X) - n)])
        for _ in range(n):
            H = np.concatenate([H[:, 1:], self._step_mean(H)[:, None]], axis=1)
        return self.pca.readout(H[:, -1])

    def lyapunov(self):
        k, p = self.pca.k, self.order
        C = np.zeros((k * p, k * p))
        C[:k] = np.concatenate(list(self.coefs), axis=1)
        C[k:, : k * (p - 1)] = np.eye(k * (p - 1))
        return float(np.log(np.max(np.abs(np.linalg.eigvals(C)))))


class PCAHMM:
    """hmmlearn GaussianHMM (full covariances) on the top-k PCs, plus complement readout noise."""

    def __init__(self, n_components, n_states=16, random_state=0):
        self.pca, self.n_states, self.random_state = PCAReadout(n_components), int(n_states), random_state

    def fit(self, X):
        from hmmlearn.hmm import GaussianHMM

        P = self.pca.fit(X)
        self.hmm = GaussianHMM(self.n_states, covariance_type="full", n_iter=100, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.hmm.fit(P)
        self.observation_noise_var_ = self.pca.s2
        return self

    @property
    def n_parameters(self):
        S, k = self.n_states, self.pca.k
        return S * (S - 1) + (S - 1) + S * k + S * k * (k + 1) // 2 + self.pca.n_parameters

    def sample(self, n, burn_in, rng, s2):
        P, _ = self.hmm.sample(burn_in + n, random_state=int(rng.integers(2**31 - 1)))
        return self.pca.readout(P[burn_in:], rng, s2)

    def log_likelihood(self, X):
        return float((self.hmm.score(self.pca.project(X)) + self.pca.complement_logpdf(X).sum()) / len(X))

    def _filtered(self, P):
        from scipy.special import logsumexp
        from scipy.stats import multivariate_normal

        logB = np.stack([multivariate_normal(self.hmm.means_[s], self.hmm.covars_[s]).logpdf(P)
                         for s in range(self.n_states)], axis=1)
        logT = np.log(np.maximum(self.hmm.transmat_, 1e-300))
        out = np.empty_like(logB)
        a = np.log(np.maximum(self.hmm.startprob_, 1e-300)) + logB[0]
        out[0] = a - logsumexp(a)
        for t in range(1, len(P)):
            a = logsumexp(out[t - 1][:, None] + logT, axis=0) + logB[t]
            out[t] = a - logsumexp(a)
        return np.exp(out)

    def forecast(self, X, n):
        post = self._filtered(self.pca.project(X))[: len(X) - n]
        return self.pca.readout(post @ np.linalg.matrix_power(self.hmm.transmat_, n) @ self.hmm.means_)


# --------------------------------------------------------------------------- EEG

EEG_MODELS = {f"lrnn{r}": ("lrnn", r) for r in range(1, 6)}
EEG_MODELS.update({f"linear{r}": ("linear", r) for r in range(1, 6)})
EEG_MODELS.update({"var3": ("var", 3), "var8": ("var", 8), "hmm3": ("hmm", 3), "hmm8": ("hmm", 8),
                   "plrnn": ("plrnn", None), "plrnn_linear": ("plrnn", "linear")})


def _eeg_estimator(kind, rank, seed, quick):
    from sklearn_lrnn import PLRNNRegressor, StochasticLowRankRNN

    if kind == "plrnn":
        return PLRNNRegressor(architecture=rank or "clipped_shallow", compute_fixed_points=False, random_state=seed,
                              **(dict(max_iter=2, batches_per_epoch=5) if quick else {}))
    return StochasticLowRankRNN(
        rank=rank, n_units=512, activation="clipped_relu" if kind == "lrnn" else "linear", n_particles=10,
        transition_noise="full", batch_size=10, window_length=50, batches_per_epoch=50,
        max_iter=2 if quick else 1500, compute_fixed_points=False, random_state=seed)


def run_eeg(name, seed, quick=False):
    import eeg_reproduction as er

    from sklearn_lrnn.metrics import held_out_scorers, prediction_error

    kind, size = EEG_MODELS[name]
    X = er.load_eeg(channels=8 if quick else None)
    if quick:
        X = X[:2000]
    copy = er.training_copy(X, TRAIN_NOISE, seed, DECONVOLVE)
    cut = int(round(0.75 * len(copy)))
    X_train, X_test = copy[:cut], copy[cut:]
    removed = TRAIN_NOISE**2
    res = dict(section="eeg", model=name, kind=kind, seed=seed, n_train=cut, n_test=len(X_test), quick=quick)
    t0 = time.perf_counter()
    if kind in ("var", "hmm"):
        model = (PCAVAR(size) if kind == "var" else PCAHMM(size, random_state=seed)).fit(X_train)
        res["fit_seconds"] = round(time.perf_counter() - t0, 2)
        res["n_parameters"] = model.n_parameters
        res["log_likelihood"] = model.log_likelihood(X_test)
        res["prediction_error"] = {k: float(prediction_error(model.forecast, X_test, n_steps=k)) for k in K_STEPS}
        s2 = max(model.observation_noise_var_ - removed, 1e-4)

        def generate(m, Xr, g_seed, _removed):
            rng = np.random.default_rng(g_seed)
            if kind == "var":
                start = m.pca.project(Xr[: m.order])
                return {"": m.sample(er.BURN_IN + er.N_GENERATE, start, rng, s2)[er.BURN_IN:]}
            return {"": m.sample(er.N_GENERATE, er.BURN_IN, rng, s2)}
    else:
        model = _eeg_estimator(kind, size, seed, quick)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X_train)
        res["fit_seconds"] = round(time.perf_counter() - t0, 1)
        res["n_parameters"] = int(model.n_parameters_)
        res["epochs"] = int(model.n_iter_)
        scoring = held_out_scorers(k_steps=K_STEPS)
        res["log_likelihood"] = float(scoring["log_likelihood"](model, X_test))
        res["prediction_error"] = {k: -float(scoring[f"neg_prediction_error_{k}"](model, X_test)) for k in K_STEPS}
        generate = er.generate_plrnn if kind == "plrnn" else er.generate_lrnn
    t1 = time.perf_counter()
    draws = er.scores_over_draws(X, model, generate, seed, 1 if kind == "plrnn" else 3, removed)
    res.update({k: v for k, v in draws.items() if not k.endswith("_expected")})
    res["score_seconds"] = round(time.perf_counter() - t1, 1)
    return res


# --------------------------------------------------------------------------- teachers

TEACHERS = ("relu_cycle_slow", "tanh_bistable")


def run_teacher(system, activation, seed, quick=False):
    import defaults as dfl

    from sklearn_lrnn import StochasticLowRankRNN
    from sklearn_lrnn.metrics import state_space_divergence

    d = dfl.make_low_rank_data(system, seed)
    X, Z = d["X"], d["Z"]
    X_train, X_test = X[:60], X[60:]
    model = StochasticLowRankRNN(rank=2, activation=activation, random_state=seed,
                                 **(dict(max_iter=3) if quick else {}))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_train)
    fit_seconds = time.perf_counter() - t0
    res = dict(section="teachers", system=system, model=activation, seed=seed, quick=quick,
               fit_seconds=round(fit_seconds, 1), n_parameters=int(model.n_parameters_),
               epochs=int(model.n_iter_), log_likelihood=float(model.score(X_test)))
    # fitted latents -> teacher latents by least squares (as in defaults.py)
    post = np.asarray(model.transform(X_train, method="smoothing")).reshape(-1, 2)
    design = np.hstack([post, np.ones((len(post), 1))])
    coef, *_ = np.linalg.lstsq(design, Z[:60].reshape(-1, 2), rcond=None)
    A, c = coef[:2].T, coef[2]
    T = d["teacher"]
    zt = dfl._orbit(lambda z: dfl.teacher_step(T, z[None])[0], [1.0, 0.0])
    _, Zm = model.sample(1, 1500, noise_scale=0.0, burn_in=1000, random_state=0,
                         z0=np.linalg.lstsq(A, np.array([1.0, 0.0]) - c, rcond=None)[0])
    zm = Zm[0] @ A.T + c
    if not np.all(np.isfinite(zm)):  # an unstable fitted map: the orbit explodes
        res.update(period_true=dfl._period(zt[:, 0]), period_fit=float("nan"), amplitude_ratio=float("inf"))
    else:
        rt, rm = np.linalg.norm(zt - zt.mean(0), axis=1).mean(), np.linalg.norm(zm - zm.mean(0), axis=1).mean()
        res.update(period_true=dfl._period(zt[:, 0]), period_fit=dfl._period(zm[:, 0]),
                   amplitude_ratio=float(rm / rt) if rt > 1e-6 else float("nan"))
    res["n_stable_true"] = len(dfl._stable_fixed_points(T))
    from sklearn_lrnn.dynamics import fixed_points

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fps = fixed_points(model)
    res["n_stable_fit"] = int(np.sum(np.asarray(fps.stability) == "stable"))
    res["n_fixed_points_fit"] = len(fps.points)
    X_gen, _ = model.sample(len(X_test), X.shape[1], random_state=seed)
    res["D_stsp"] = float(state_space_divergence(X_test, X_gen, random_state=0))
    res["D_stsp_floor"] = float(state_space_divergence(X_test, X_train[:len(X_test)], random_state=0))
    return res


# --------------------------------------------------------------------------- Lorenz-63

def run_lorenz(name, seed, quick=False):
    from sklearn_lrnn import PLRNNRegressor
    from sklearn_lrnn.datasets._systems import make_lorenz63
    from sklearn_lrnn.metrics import power_spectrum_distance, state_space_divergence

    n = 2000 if quick else 20_000
    X_train = make_lorenz63(n, noise=0.05, random_state=100 + seed)
    _, X_test = make_lorenz63(n, random_state=500 + seed, return_clean=True)
    res = dict(section="lorenz", model=name, seed=seed, quick=quick)
    t0 = time.perf_counter()
    if name == "var5":
        model = PCAVAR(3, order=5).fit(X_train)
        res.update(fit_seconds=round(time.perf_counter() - t0, 2), n_parameters=model.n_parameters - model.pca.n_parameters)
        rng = np.random.default_rng(seed)
        X_gen = model.sample(n, model.pca.project(X_test[:5]), rng, 0.0)
        res["max_lyapunov"] = model.lyapunov()
    else:
        model = PLRNNRegressor(architecture="linear" if name == "plrnn_linear" else "clipped_shallow",
                               compute_lyapunov=True, random_state=seed,
                               **(dict(max_iter=3, batches_per_epoch=5) if quick else {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X_train)
        res.update(fit_seconds=round(time.perf_counter() - t0, 1), n_parameters=int(model.n_parameters_),
                   epochs=int(model.n_iter_), max_lyapunov=float(model.lyapunov_exponent_))
        X_gen, _ = model.sample(n, x0=X_test[0])
        fps = model.fixed_points_
        res["n_fixed_points"] = None if fps is None else len(fps.points)
    res["finite"] = bool(np.all(np.isfinite(X_gen)))
    res["D_stsp"] = float(state_space_divergence(X_test, X_gen, method="bins", n_bins=30)) if res["finite"] else float("inf")
    res["D_stsp_floor"] = float(state_space_divergence(X_test, X_train, method="bins", n_bins=30))
    res["D_H"] = float(power_spectrum_distance(X_test, X_gen, smoothing_sigma=20)) if res["finite"] else 1.0
    return res


# --------------------------------------------------------------------------- driver and tables

def jobs(section, models, seeds):
    if section == "eeg":
        return [(m, s) for m in (models or ["var3", "var8", "hmm3", "hmm8", "linear3", "lrnn3", "plrnn"]) for s in seeds]
    if section == "teachers":
        return [(f"{t}:{a}", s) for t in TEACHERS for a in (models or ["relu", "linear"]) for s in seeds]
    return [(m, s) for m in (models or ["var5", "plrnn", "plrnn_linear"]) for s in seeds]


def cmd_run(args):
    import torch

    require_bench()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name, seed in jobs(args.section, args.models, args.seeds):
        path = os.path.join(args.out, f"{args.section}_{name.replace(':', '_')}_s{seed}{'_quick' if args.quick else ''}.json")
        if os.path.exists(path):
            continue
        t0 = time.perf_counter()
        try:
            if args.section == "eeg":
                res = run_eeg(name, seed, args.quick)
            elif args.section == "teachers":
                system, act = name.split(":")
                res = run_teacher(system, act, seed, args.quick)
            else:
                res = run_lorenz(name, seed, args.quick)
        except Exception as exc:  # one failing job must not stop the others
            print(f"FAILED {args.section} {name} seed {seed}: {type(exc).__name__}: {exc}", flush=True)
            continue
        res["wall_seconds"] = round(time.perf_counter() - t0, 1)
        with open(path, "w") as f:
            json.dump(res, f, indent=1)
        print(json.dumps(res), flush=True)


def _fmt(values, digits=3):
    v = [x for x in values if x is not None and x == x]  # None / NaN: not applicable
    if not v:
        return ""
    v = np.asarray(v, dtype=float)
    if len(v) == 1:
        return f"{v[0]:.{digits}g}"
    return f"{np.median(v):.{digits}g} ({np.min(v):.{digits}g}-{np.max(v):.{digits}g})"


EEG_LABELS = {"lrnn": "low-rank RNN rank {r} (clipped relu, SMC)", "linear": "linear baseline rank {r} (Kalman)",
              "var": "VAR(5) on {r} PCs + readout noise (statsmodels)",
              "hmm": "Gaussian HMM, 16 states, on {r} PCs + readout noise (hmmlearn)",
              "plrnn": "shallow PLRNN, GTF (PLRNNRegressor defaults)"}
EEG_LABELS["plrnn_linear"] = 'linear PLRNN, GTF (PLRNNRegressor(architecture="linear"))'


def cmd_table(args):
    rows = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(args.out, "*.json")))]
    rows = [r for r in rows if bool(r.get("quick")) == args.quick]
    eeg = [r for r in rows if r["section"] == "eeg"]
    if eeg:
        print("### EEG (fit on the first 75% of the training copy; held-out: last 25%; generation: published "
              "evaluation against the whole recording)\n")
        print("| model | seeds | parameters | fit (s) | epochs | held-out log-lik. / bin | PE(1) | PE(5) | PE(20) "
              "| PE(50) | D_stsp exact | D_stsp reference | D_H |")
        print("| --- " * 13 + "|")
        order = list(EEG_MODELS)
        for name in sorted({r["model"] for r in eeg}, key=order.index):
            rs = [r for r in eeg if r["model"] == name]
            kind, size = EEG_MODELS[name]
            pe = [_fmt([r["prediction_error"][str(k)] if str(k) in r["prediction_error"] else r["prediction_error"][k]
                        for r in rs]) for k in K_STEPS]
            ll = _fmt([None if r["log_likelihood"] != r["log_likelihood"] else r["log_likelihood"] for r in rs], 4) or "-"
            label = EEG_LABELS["plrnn_linear"] if name == "plrnn_linear" else EEG_LABELS[kind].format(r=size)
            print(f"| {label} | {','.join(str(r['seed']) for r in rs)} "
                  f"| {rs[0]['n_parameters']:,} | {_fmt([r['fit_seconds'] for r in rs])} "
                  f"| {_fmt([r.get('epochs') for r in rs]) or '-'} | {ll} | {' | '.join(pe)} "
                  f"| {_fmt([r['D_stsp'] for r in rs])} | {_fmt([r['D_stsp_reference'] for r in rs])} "
                  f"| {_fmt([r['D_H'] for r in rs])} |")
        print("\nCells: median (min-max) over seeds; D_stsp / D_H: mean of 3 generations per fit (PLRNN: 1, its free "
              "run is deterministic).\n")
    te = [r for r in rows if r["section"] == "teachers"]
    if te:
        print("### Teachers (60 trials fit, 20 held out)\n")
        print("| teacher | model | seeds | parameters | fit (s) | held-out log-lik. / bin | period (true) | amplitude ratio "
              "| fixed points: stable / all (true stable) | D_stsp | D_stsp floor |")
        print("| --- " * 11 + "|")
        for (system, model) in sorted({(r["system"], r["model"]) for r in te}):
            rs = [r for r in te if r["system"] == system and r["model"] == model]
            true_period = rs[0]["period_true"]
            period = f"{_fmt([r['period_fit'] for r in rs])} ({true_period:.3g})" if np.isfinite(true_period) else "-"
            print(f"| {system} | {model} | {','.join(str(r['seed']) for r in rs)} | {rs[0]['n_parameters']:,} "
                  f"| {_fmt([r['fit_seconds'] for r in rs])} | {_fmt([r['log_likelihood'] for r in rs], 4)} "
                  f"| {period} "
                  f"| {_fmt([r['amplitude_ratio'] for r in rs]) or '-'} | {_fmt([r['n_stable_fit'] for r in rs])} / "
                  f"{_fmt([r['n_fixed_points_fit'] for r in rs])} ({rs[0]['n_stable_true']}) | {_fmt([r['D_stsp'] for r in rs])} | {_fmt([r['D_stsp_floor'] for r in rs])} |")
        print()
    lo = [r for r in rows if r["section"] == "lorenz"]
    if lo:
        print("### Lorenz-63 (20,000 training steps, 20,000 generated)\n")
        print("| model | seeds | parameters | fit (s) | epochs | D_stsp | D_stsp floor | D_H | max Lyapunov exponent "
              "| fixed points |")
        print("| --- " * 10 + "|")
        labels = {"plrnn": "PLRNNRegressor() (clipped shallow, GTF)", "plrnn_linear": 'PLRNNRegressor(architecture="linear")',
                  "var5": "VAR(5) (statsmodels), generated with its noise"}
        for name in sorted({r["model"] for r in lo}):
            rs = [r for r in lo if r["model"] == name]
            print(f"| {labels[name]} | {','.join(str(r['seed']) for r in rs)} | {rs[0]['n_parameters']:,} "
                  f"| {_fmt([r['fit_seconds'] for r in rs])} | {_fmt([r.get('epochs') for r in rs]) or '-'} "
                  f"| {_fmt([r['D_stsp'] for r in rs])} | {_fmt([r['D_stsp_floor'] for r in rs])} "
                  f"| {_fmt([r['D_H'] for r in rs])} | {_fmt([r['max_lyapunov'] for r in rs])} "
                  f"| {_fmt([r.get('n_fixed_points') for r in rs]) or '-'} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="fit and score; one JSON file per (model, seed)")
    r.add_argument("section", choices=["eeg", "teachers", "lorenz"])
    r.add_argument("--models", nargs="*", default=None,
                   help=f"eeg: {sorted(EEG_MODELS)}; teachers: relu (the default activation) linear; "
                        "lorenz: var5 plrnn plrnn_linear")
    r.add_argument("--seeds", nargs="+", type=int, default=[0])
    r.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a result")
    r.add_argument("--out", default=RESULTS)
    t = sub.add_parser("table", help="markdown tables of the written results")
    t.add_argument("--out", default=RESULTS)
    t.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    return {"run": cmd_run, "table": cmd_table}[args.command](args)


if __name__ == "__main__":
    main()
