"""Co-smoothing (bits per spike) on the two real spike recordings (issue 24, item 6 on real data).

The Neural Latents Benchmark's protocol (Pei et al., 2021), run with the package's ``CoSmoothing``: a
quarter of the units are held out; a latent model is fitted on the held-in units of the training trials;
a Poisson regression (one per held-out unit, time bin by time bin) maps its latents to the held-out
counts on the same trials; on the test trials the held-out rates are predicted from the held-in units
alone and scored by ``bits_per_spike`` against each held-out unit's mean rate (0 = no better than the
mean rate, higher is better).

Recordings (read from ``../shared/data`` beside the clone, ``--data-home``):

* ``hippocampus``: the linear-track laps of ``real_hippocampus.py`` (running periods, one trial per lap,
  100 ms bins, the 26 units that fire while running);
* ``m1``: the reaching trials of ``real_reaching.py`` (1.5 s around movement onset, 50 ms bins, 171 units).

Latent models, each with ``--rank`` latents (4, the rank both experiments select by held-out ELBO):

* ``low-rank RNN``: ``StochasticLowRankRNN(rank, observation="poisson")``, defaults otherwise; latents
  ``transform(method="smoothing")`` (the benchmark allows acausal inference);
* ``linear baseline``: the same with ``activation="linear"``;
* ``PCA``: PCA of smoothed counts (sqrt, Gaussian sigma 2 bins within each trial) with ``rank`` components;
* ``smoothed held-in units``: every held-in unit smoothed the same way (a reference with as many features
  as held-in units, not a low-dimensional model).

Decoder: the same for every model, ``PoissonRegressor(alpha=1e-3, solver="newton-cholesky")`` on the raw
latents. ``CoSmoothing``'s default puts a ``StandardScaler`` in front, which breaks the smoothed-units
reference: a held-in unit nearly silent in the training laps is divided by almost zero, and its first
burst in a test lap sends the decoder's exp past overflow.

Folds: the trials in recording order cut into ``--folds`` contiguous blocks, each the test block once.
The held-out units are a fixed random quarter (``--heldout-seed``).

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/real_cosmoothing.py            # both recordings
    .venv/bin/python benchmarks/real_cosmoothing.py --table                      # tables of --out

Each finished (recording, fold, model) is appended to ``--out`` as a JSON line and skipped on a rerun.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import real_recordings as rr  # noqa: E402

OUT = os.path.join(HERE, "results", "real_cosmoothing.jsonl")
MODELS = ("low-rank RNN", "linear baseline", "PCA", "smoothed held-in units")
STOCHASTIC = ("low-rank RNN", "linear baseline")  # fitted by SMC from a seed; the others are deterministic


class SmoothedPCA(TransformerMixin, BaseEstimator):
    """PCA of sqrt counts smoothed within each trial (``n_components=None``: every unit, rotated).

    Takes and returns the container of the package's estimators: a 3-D array or a list of 2-D trials."""

    def __init__(self, n_components=None, sigma_bins=2.0):
        self.n_components = n_components
        self.sigma_bins = sigma_bins

    def _smooth(self, X):
        return [rr.smooth_counts(np.asarray(x, dtype=float)[None], self.sigma_bins)[0] for x in X]

    def fit(self, X, y=None):
        from sklearn.decomposition import PCA

        self.pca_ = PCA(self.n_components).fit(np.concatenate(self._smooth(X)))
        return self

    def transform(self, X):
        out = [self.pca_.transform(s) for s in self._smooth(X)]
        return np.stack(out) if isinstance(X, np.ndarray) and X.ndim == 3 else out


def load_recording(name, data_home):
    """Trials of counts (list of (T_i, N) arrays, or a 3-D array) of one recording."""
    if name == "hippocampus":
        from real_hippocampus import load_laps

        return load_laps(data_home)[0]
    from real_reaching import load_trials

    return load_trials(data_home)["counts"]


def latent_model(name, rank, seed):
    from sklearn_lrnn import StochasticLowRankRNN

    if name == "low-rank RNN":
        return StochasticLowRankRNN(rank=rank, observation="poisson", random_state=seed), {"method": "smoothing"}
    if name == "linear baseline":
        return (StochasticLowRankRNN(rank=rank, observation="poisson", activation="linear", random_state=seed),
                {"method": "smoothing"})
    if name == "PCA":
        return SmoothedPCA(rank), None
    return SmoothedPCA(None), None


def decoder():
    from sklearn.linear_model import PoissonRegressor

    return PoissonRegressor(alpha=1e-3, solver="newton-cholesky", max_iter=300)


def heldout_units(n_units, seed):
    """A fixed random quarter of the units (sorted indices)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(n_units)[: max(1, n_units // 4)])


def run_one(recording, fold, model_name, args, seed=0):
    import torch

    from sklearn_lrnn.metrics import CoSmoothing

    torch.set_num_threads(1)
    X = load_recording(recording, args.data_home)
    take = (lambda idx: [X[i] for i in idx]) if isinstance(X, list) else (lambda idx: X[idx])
    train, test = rr.time_block_folds(len(X), args.folds)[fold]
    n_units = X[0].shape[-1]
    held = heldout_units(n_units, args.heldout_seed)
    est, tparams = latent_model(model_name, args.rank, seed=fold + 100 * seed)
    model = CoSmoothing(est, heldout_columns=held, decoder=decoder(), transform_params=tparams)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(take(train))
    res = dict(recording=recording, fold=fold, model=model_name, seed=seed, rank=args.rank, n_units=int(n_units),
               n_heldout=int(len(held)), n_train=int(len(train)), n_test=int(len(test)),
               fit_seconds=round(time.perf_counter() - t0, 1), fit_cpu_seconds=round(time.process_time() - c0, 1),
               warnings=sorted({f"{w.category.__name__}: {str(w.message)[:100]}" for w in caught}))
    res["train_bits_per_spike"] = float(model.score(take(train)))
    res["test_bits_per_spike"] = float(model.score(take(test)))
    res["peak_rss_mb"] = round(rr.peak_rss_mb(), 0)
    if hasattr(model.estimator_, "n_iter_"):
        res.update(epochs=int(model.estimator_.n_iter_), converged=bool(model.estimator_.converged_))
    return res




def table(out):
    rows = rr.read_jsonl(out)
    for recording in ("hippocampus", "m1"):
        rs = [r for r in rows if r["recording"] == recording]
        if not rs:
            continue
        r0 = rs[0]
        print(f"\n{recording}: {r0['n_heldout']} of {r0['n_units']} units held out, rank {r0['rank']}, "
              f"bits per spike on the test block (higher is better; 0 = mean rate)")
        print(f"{'model':<24} {'mean':>7} {'median':>7} {'per fold (median over seeds)':<30} {'fits':>5} "
              f"{'train':>7} {'fit CPU s':>10} {'peak MB':>8}")
        for name in MODELS:
            m = [r for r in rs if r["model"] == name]
            if not m:
                continue
            test = [r["test_bits_per_spike"] for r in m]
            folds = sorted({r["fold"] for r in m})
            per_fold = [np.median([r["test_bits_per_spike"] for r in m if r["fold"] == f]) for f in folds]
            print(f"{name:<24} {np.mean(test):>7.3f} {np.median(test):>7.3f} "
                  f"{' '.join(f'{v:.3f}' for v in per_fold):<30} {len(m):>5} "
                  f"{np.mean([r['train_bits_per_spike'] for r in m]):>7.3f} "
                  f"{np.median([r['fit_cpu_seconds'] for r in m]):>10.0f} {max(r['peak_rss_mb'] for r in m):>8.0f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=None, help="data folder (default: the shared folder beside the clone)")
    parser.add_argument("--recordings", nargs="+", default=["hippocampus", "m1"], choices=["hippocampus", "m1"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="fit seeds of the stochastic models (seed s of fold f is f + 100 s)")
    parser.add_argument("--heldout-seed", type=int, default=0)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--table", action="store_true", help="only print the tables of --out")
    args = parser.parse_args(argv)
    if args.table:
        table(args.out)
        return
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    done = {(r["recording"], r["fold"], r["model"], r.get("seed", 0)) for r in rr.read_jsonl(args.out)}
    jobs = [(rec, fold, name, seed) for seed in args.seeds for rec in args.recordings for fold in range(args.folds)
            for name in args.models if name in STOCHASTIC or seed == args.seeds[0]]
    for recording, fold, name, seed in jobs:
        if (recording, fold, name, seed) in done:
            continue
        res = run_one(recording, fold, name, args, seed)
        print(f"{recording} fold {fold} {name} seed {seed}: test {res['test_bits_per_spike']:.3f} bits/spike, "
              f"fit {res['fit_cpu_seconds']:.0f} CPU s", flush=True)
        rr.append_jsonl(args.out, res)
    table(args.out)


if __name__ == "__main__":
    main()
