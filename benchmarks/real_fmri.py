"""Human fMRI (31 regions x 250 volumes, TR 1.89 s): forecasts and free runs of both estimators vs VAR.

Data: the nitime ROI time series (resting state, TR 1.89 s), read from ``../shared/data`` beside the
clone (``--data-home``). Every region is z-scored with the mean and sd of the training part.

Protocol (one continuous recording, so split in time):

* fit on the first 75% of the volumes (188), evaluate on the held-out last 25% (62);
* models: ``StochasticLowRankRNN(rank=R)`` (Gaussian readout, every other setting at its default),
  its linear baseline ``activation="linear"`` (a rank-R linear-Gaussian state-space model, exact
  Kalman likelihood), both also with ``batches_per_epoch=50`` (``*_b50``: with the defaults, a
  188-step recording cut into 50-step windows, 10 per batch, gives one gradient step per epoch, and the
  plateau rule, 40 epochs without improvement, then stops after about a hundred noisy steps),
  ``PLRNNRegressor()`` with its defaults (dynamical-systems reconstruction, ``fit(X)``;
  ``--plrnn-max-iter`` caps its epochs, 50 gradient steps each), and, benchmark-only: VAR(1) on the 31 regions (least squares; 992 parameters for 187
  transitions), VAR(1) and VAR(2) on the top 5 principal components of the training part (the other
  directions as isotropic noise, as ``baselines.py``'s PCA VAR), the persistence forecast and the
  training mean (0 after z-scoring);
* forecasts: k-step-ahead prediction error PE(k), k = 1, 2, 5, 10 volumes, on the held-out part
  (``sklearn_lrnn.metrics.prediction_error``; the package's models filter the held-out part from their
  initial state, ``latent_forecast`` / ``predict``; VARs use the last training volumes as context);
  the held-out log-likelihood per volume where a model has one;
* free runs: ``--n-gen`` volumes generated after ``--burn-in`` volumes (mean over 3 generations),
  compared with the held-out part: D_stsp in the Gaussian-mixture version on all 31 z-scored regions
  (sigma^2 = 1) and on the top 3 principal components of the training part, and D_H (segments of 62
  volumes, smoothing sigma 2 frequency bins). The data's own floor is the same measure between the
  training part and the held-out part (how far the recording is from itself);
* seeds 0, 1, 2 for the fits and the generations.

Run (one core; JSON lines appended to ``--out``, finished jobs skipped)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/real_fmri.py --seeds 0 1 2
    .venv/bin/python benchmarks/real_fmri.py --table

``--quick`` (3 epochs, one seed, short generations) is a smoke test of the script, not a result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import real_recordings as rr  # noqa: E402

OUT = os.path.join(HERE, "results", "real_fmri.jsonl")
K_STEPS = (1, 2, 5, 10)
TRAIN_FRACTION = 0.75
DH_SIGMA = 2.0
N_PCS_DSTSP = 3
MODELS = ("lrnn", "linear", "lrnn_b50", "linear_b50", "plrnn", "var1_full", "var1_pc5", "var2_pc5", "persistence", "mean")


def split(data, train_fraction=TRAIN_FRACTION):
    """(train, test) of the recording, each region z-scored with the training part's mean and sd."""
    cut = int(round(train_fraction * len(data)))
    mu, sd = data[:cut].mean(0), data[:cut].std(0)
    Z = (data - mu) / sd
    return Z[:cut], Z[cut:]


class VAR:
    """VAR(order) with intercept by least squares, on all channels or on the top ``n_components`` PCs
    (then the other directions are isotropic Gaussian noise of the variance they leave)."""

    def __init__(self, order=1, n_components=None):
        self.order, self.k = int(order), n_components

    def fit(self, X):
        from baselines import PCAReadout

        self.pca = None
        if self.k is not None:
            self.pca = PCAReadout(self.k)
            P = self.pca.fit(X)
        else:
            P = X
        p = self.order
        H = np.concatenate([P[p - 1 - i: len(P) - 1 - i] for i in range(p)] + [np.ones((len(P) - p, 1))], axis=1)
        W, *_ = np.linalg.lstsq(H, P[p:], rcond=None)
        self.W = W
        resid = P[p:] - H @ W
        self.sigma = np.cov(resid.T, bias=True) + 1e-8 * np.eye(P.shape[1])
        self.context = P[-p:]
        self.n_parameters = W.size + P.shape[1] * (P.shape[1] + 1) // 2 + (self.pca.n_parameters if self.pca else 0)
        return self

    def _proj(self, X):
        return X if self.pca is None else self.pca.project(X)

    def _out(self, P):
        return P if self.pca is None else self.pca.readout(P)

    def _step(self, H):  # H (..., order, d), most recent last
        feats = [H[..., -1 - i, :] for i in range(self.order)] + [np.ones(H.shape[:-2] + (1,))]
        return np.concatenate(feats, axis=-1) @ self.W

    def forecast(self, X, n):
        """Row t: the mean forecast of X[t + n] from the data up to X[t] (training context before X)."""
        P = np.vstack([self.context, self._proj(X)])
        H = np.stack([P[t + 1: t + 1 + self.order] for t in range(len(X) - n)])
        for _ in range(n):
            H = np.concatenate([H[:, 1:], self._step(H)[:, None]], axis=1)
        return self._out(H[:, -1])

    def log_likelihood(self, X):
        from scipy.stats import multivariate_normal

        P = np.vstack([self.context, self._proj(X)])
        H = np.stack([P[t: t + self.order] for t in range(len(X))])
        ll = multivariate_normal(np.zeros(P.shape[1]), self.sigma, allow_singular=True).logpdf(P[self.order:] - self._step(H))
        if self.pca is not None:
            ll = ll + self.pca.complement_logpdf(X)
        return float(np.mean(ll))

    def sample(self, n, rng):
        L = np.linalg.cholesky(self.sigma)
        H = self.context.copy()
        out = np.empty((n, H.shape[1]))
        for t in range(n):
            p = self._step(H) + L @ rng.standard_normal(H.shape[1])
            H = np.vstack([H[1:], p])
            out[t] = p
        if self.pca is None:
            return out
        return self.pca.readout(out, rng, self.pca.s2)


def free_run_scores(X_test, X_gen, pca):
    """D_stsp (GMM, all regions; GMM, top PCs) and D_H of one generated run against the held-out part."""
    from sklearn_lrnn.metrics import power_spectrum_distance, state_space_divergence

    if not np.all(np.isfinite(X_gen)):
        return dict(dstsp=np.inf, dstsp_pc=np.inf, dh=1.0)
    return dict(dstsp=float(state_space_divergence(X_test, X_gen, random_state=0)),
                dstsp_pc=float(state_space_divergence(pca.transform(X_test), pca.transform(X_gen), random_state=0)),
                dh=float(power_spectrum_distance(X_test, X_gen, smoothing_sigma=DH_SIGMA, segment_length=len(X_test))))


def data_floor(X_train, X_test, pca):
    """The free-run measures between the training part and the held-out part of the recording."""
    return free_run_scores(X_test, X_train, pca)


def _estimator(name, seed, rank, quick, plrnn_max_iter=None):
    from sklearn_lrnn import PLRNNRegressor, StochasticLowRankRNN

    kw = dict(max_iter=3) if quick else {}
    if name == "plrnn" and plrnn_max_iter and not quick:
        kw = dict(max_iter=plrnn_max_iter)
    if name.endswith("_b50"):  # 50 gradient steps per epoch instead of the default 1 for 188 volumes
        kw = dict(kw, batches_per_epoch=50)
    if name.startswith("lrnn"):
        return StochasticLowRankRNN(rank=rank, random_state=seed, **kw)
    if name.startswith("linear"):
        return StochasticLowRankRNN(rank=rank, activation="linear", random_state=seed, **kw)
    if name == "plrnn":
        return PLRNNRegressor(random_state=seed, **kw)
    raise ValueError(name)


def run_model(name, seed, X_train, X_test, *, rank=3, n_gen=1000, burn_in=100, n_draws=3, quick=False,
              plrnn_max_iter=None):
    """Fit one model on X_train and score it on X_test; a dict of numbers."""
    import torch
    from sklearn.decomposition import PCA

    from sklearn_lrnn.metrics import latent_forecast, persistence_forecast, prediction_error

    torch.set_num_threads(1)
    pca = PCA(N_PCS_DSTSP).fit(X_train)
    res = dict(model=name, seed=seed, rank=rank if name.startswith(("lrnn", "linear")) else None, quick=quick,
               n_train=len(X_train), n_test=len(X_test))
    if name == "plrnn" and plrnn_max_iter and not quick:
        res["max_iter"] = plrnn_max_iter
    rng = np.random.default_rng(seed)
    t0, c0 = time.perf_counter(), time.process_time()
    gens = []
    if name in ("persistence", "mean"):
        f = persistence_forecast if name == "persistence" else (lambda X, n: np.zeros_like(X))
        res["prediction_error"] = {k: float(prediction_error(f, X_test, n_steps=k)) for k in K_STEPS}
        res["log_likelihood"] = None
    elif name.startswith("var"):
        order = int(name[3])
        model = VAR(order, None if name.endswith("full") else 5).fit(X_train)
        res["fit_seconds"] = round(time.perf_counter() - t0, 3)
        res["n_parameters"] = int(model.n_parameters)
        res["prediction_error"] = {k: float(prediction_error(model.forecast, X_test, n_steps=k)) for k in K_STEPS}
        res["log_likelihood"] = model.log_likelihood(X_test)
        gens = [model.sample(burn_in + n_gen, rng)[burn_in:] for _ in range(n_draws)]
    else:
        model = _estimator(name, seed, rank, quick, plrnn_max_iter)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X_train)
        res["fit_seconds"] = round(time.perf_counter() - t0, 1)
        res["fit_cpu_seconds"] = round(time.process_time() - c0, 1)
        res["epochs"] = int(model.n_iter_)
        res["converged"] = bool(getattr(model, "converged_", True))
        res["n_parameters"] = int(model.n_parameters_)
        res["peak_rss_mb"] = round(rr.peak_rss_mb(), 0)
        res["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:140]}" for w in caught})
        if name == "plrnn":
            f = lambda X, n: model.predict(X, n_steps=n)  # noqa: E731
            res["log_likelihood"] = None
            for _ in range(n_draws):  # deterministic map: draws differ only in the start (a data volume)
                x0 = X_train[int(rng.integers(len(X_train)))]
                G = np.asarray(model.sample(burn_in + n_gen, x0=x0))
                gens.append((G[0] if G.ndim == 3 else G)[burn_in:])
        else:
            f = lambda X, n: latent_forecast(model, X, n)  # noqa: E731
            res["log_likelihood"] = float(model.score(X_test))
            for _ in range(n_draws):
                G, _ = model.sample(1, burn_in + n_gen, random_state=int(rng.integers(2**31 - 1)))
                gens.append(np.asarray(G)[0, burn_in:])
        res["prediction_error"] = {k: float(prediction_error(f, X_test, n_steps=k)) for k in K_STEPS}
    if gens:
        s = [free_run_scores(X_test, g, pca) for g in gens]
        for key in ("dstsp", "dstsp_pc", "dh"):
            res[key] = float(np.mean([d[key] for d in s]))
        res["gen_sd"] = float(np.mean([np.nanstd(g) for g in gens]))  # data: about 1 (z-scored)
    return res




def run(args):
    data, names, tr = rr.load_fmri(args.data_home)
    X_train, X_test = split(data)
    done = {(r["model"], r["seed"], r.get("rank"), r["quick"]) for r in rr.read_jsonl(args.out) if "error" not in r}
    for seed in args.seeds:
        for name in args.models:
            key = (name, seed, args.rank if name.startswith(("lrnn", "linear")) else None, args.quick)
            if key in done:
                continue
            if name in ("persistence", "mean") and seed != args.seeds[0]:
                continue
            try:
                res = run_model(name, seed, X_train, X_test, rank=args.rank, n_gen=args.n_gen, burn_in=args.burn_in,
                                quick=args.quick, plrnn_max_iter=args.plrnn_max_iter)
            except Exception as e:  # report, never hide, a failed fit
                res = dict(model=name, seed=seed, rank=key[2], quick=args.quick, error=f"{type(e).__name__}: {e}")
            print(json.dumps(res), flush=True)
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(res) + "\n")
    table(args)


def _fmt(values, digits=3):
    v = [x for x in values if x is not None]
    if not v:
        return "-"
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{np.median(v):.{digits}f} ({min(v):.{digits}f}-{max(v):.{digits}f})"


LABELS = {"lrnn": "low-rank RNN, rank {r} (relu), defaults", "linear": "linear baseline, rank {r} (Kalman), defaults",
          "lrnn_b50": "low-rank RNN, rank {r}, batches_per_epoch=50",
          "linear_b50": "linear baseline, rank {r}, batches_per_epoch=50",
          "plrnn": "PLRNNRegressor() (clipped shallow, GTF)", "var1_full": "VAR(1), 31 regions",
          "var1_pc5": "VAR(1), 5 PCs", "var2_pc5": "VAR(2), 5 PCs", "persistence": "persistence forecast",
          "mean": "training mean (0)"}


def table(args):
    from sklearn.decomposition import PCA

    data, names, tr = rr.load_fmri(args.data_home)
    X_train, X_test = split(data)
    floor = data_floor(X_train, X_test, PCA(N_PCS_DSTSP).fit(X_train))
    rows = [r for r in rr.read_jsonl(args.out) if r["quick"] == args.quick]
    print(f"\nfMRI: {data.shape[1]} regions, {len(data)} volumes (TR {tr} s); fit on {len(X_train)}, held out {len(X_test)}")
    for r in rows:
        if "error" in r:
            print(f"FAILED {r['model']} seed {r['seed']}: {r['error']}")
    rows = [r for r in rows if "error" not in r]
    print("\nmedian (min-max) over seeds; PE(k) in z-scored units (the training mean scores about 1)")
    head = ["model", "seeds", "parameters", "held-out log-lik. / volume"] + [f"PE({k})" for k in K_STEPS] + [
        "D_stsp 31 regions", f"D_stsp {N_PCS_DSTSP} PCs", "D_H", "generated sd", "fit s wall / CPU", "epochs",
        "peak MB (process so far)"]
    print("| " + " | ".join(head) + " |\n|" + " --- |" * len(head))
    for name in MODELS:
        for rank in sorted({r.get("rank") for r in rows if r["model"] == name}, key=lambda x: x or 0):
            rs = [r for r in rows if r["model"] == name and r.get("rank") == rank]
            if not rs:
                continue
            cap = {r.get("max_iter") for r in rs} - {None}
            cells = [LABELS[name].format(r=rank) + (f", max_iter={min(cap)}" if cap else ""), str(len(rs)), _fmt([r.get("n_parameters") for r in rs], 0),
                     _fmt([r.get("log_likelihood") for r in rs], 2)]
            cells += [_fmt([r["prediction_error"][str(k)] if str(k) in r["prediction_error"] else r["prediction_error"][k]
                            for r in rs]) for k in K_STEPS]
            cells += [_fmt([r.get(k) for r in rs], 2 if k != "dh" else 3) for k in ("dstsp", "dstsp_pc", "dh")]
            cells += [_fmt([r.get("gen_sd") for r in rs], 2), _fmt([r.get("fit_seconds") for r in rs], 0) + " / " + _fmt([r.get("fit_cpu_seconds") for r in rs], 0),
                      "/".join(str(r["epochs"]) for r in rs) if "epochs" in rs[0] else "-",
                      _fmt([r.get("peak_rss_mb") for r in rs], 0)]
            print("| " + " | ".join(cells) + " |")
    print(f"| data floor: training part vs held-out part | - | - | - | - | - | - | - | {floor['dstsp']:.2f} "
          f"| {floor['dstsp_pc']:.2f} | {floor['dh']:.3f} | - | - | - | - |")
    warned = sorted({f"{r['model']}: {w}" for r in rows for w in r.get("warnings", [])})
    if warned:
        print("\nwarnings raised by the fits:\n  " + "\n  ".join(warned))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-home", default=None, help=f"shared data folder (default {rr.DATA_HOME})")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--rank", type=int, default=3)
    ap.add_argument("--n-gen", type=int, default=1000)
    ap.add_argument("--burn-in", type=int, default=100)
    ap.add_argument("--plrnn-max-iter", type=int, default=None,
                    help="cap on PLRNNRegressor's epochs (default: its own, 1,000 with the plateau rule)")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--quick", action="store_true", help="smoke test: 3 epochs, seed 0, 200 generated volumes")
    ap.add_argument("--table", action="store_true", help="only print the table of --out")
    args = ap.parse_args(argv)
    try:
        rr.load_fmri(args.data_home)
    except rr.DataMissing as e:
        sys.exit(str(e))
    if args.quick:
        args.seeds, args.n_gen, args.burn_in = args.seeds[:1], 200, 20
    if args.table:
        table(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
