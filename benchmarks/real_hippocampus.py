"""The seed paper's hippocampus experiment on the shared linear-track recording (issue 24, item 3).

Rat hippocampal place cells (31 tetrode units) while the animal runs laps on a linear track. Steps:

1. Bin the running periods (speed above 10 pixels/s), one trial per lap, at ``--bin`` seconds
   (default 0.1 s: a lap lasts 2-4 s, so 17-45 bins; place-field firing of 5-20 Hz gives 0.5-2 spikes a bin
   inside a field while 92% of unit-bins stay empty. 50 ms doubles the cost for the same latent time
   scales; the latents of interest, position, move over hundreds of ms). Units with no spike while running
   (5 of 31) are dropped: their rate would be fitted at zero (``SilentUnitWarning``).
2. Rank 1-6 by held-out likelihood: fit on the first 36 laps, score (ELBO per bin) the last 12.
3. Decoding, cross-validated over laps (5 contiguous blocks): position from the posterior latents
   (``transform(method="smoothing")``) with a linear (ridge) and a nonlinear (15-nearest-neighbour)
   decoder, against the same decoders on (a) PCA of smoothed counts of the same dimension and (b) the
   latents of the linear baseline model (``activation="linear"``, same rank).
4. A model fitted on every lap generates as many laps as the recording; its spike trains against the
   recording: per-unit rates, mean inter-spike intervals and their CV, Fano factors, pairwise
   correlations, and place fields (the generated spikes against the position decoded from the
   generated latents by the decoder trained on the posterior latents).
5. The fitted fixed points and their stability.

Run: ``python benchmarks/real_hippocampus.py`` (full: about 30 min on one core) or ``--quick`` (ranks 2-3,
2 folds, smaller fits; a few minutes). ``--data-home`` points at the data folder (default: the shared
folder beside the clone). Prints tables; ``doc/benchmarks.md`` records the numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from real_recordings import DATA_HOME, peak_rss_mb, smooth_counts, time_block_folds  # noqa: E402

from sklearn_lrnn import StochasticLowRankRNN  # noqa: E402
from sklearn_lrnn.datasets import bin_running_periods, fetch_linear_track  # noqa: E402
from sklearn_lrnn.metrics import isi_cv, isi_distribution, mean_rates, pairwise_correlations  # noqa: E402

N_POSITION_BINS = 20


def load_laps(data_home=None, bin_size=0.1):
    """Laps of the running periods: (list of (T_i, n_active) counts, list of positions, directions, kept units)."""
    rec = fetch_linear_track(data_home=data_home or DATA_HOME, download_if_missing=False)
    laps = bin_running_periods(rec.spike_times, rec.position_time, rec.position, bin_size=bin_size)
    active = np.concatenate(laps.X).sum(0) > 0
    X = [x[:, active] for x in laps.X]
    return X, laps.position, np.asarray(laps.direction), np.nonzero(active)[0], laps.track_ends


def fit_model(X, rank, *, activation="relu", quick=False, seed=0):
    """A default Poisson fit (only rank / observation set; ``quick`` caps the epochs). Returns (model, seconds)."""
    kw = dict(max_iter=150) if quick else {}
    model = StochasticLowRankRNN(rank=rank, observation="poisson", activation=activation, random_state=seed, **kw)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of --quick fits; nothing else is expected
        model.fit(X)
    return model, time.perf_counter() - start


def decode(Z_train, p_train, Z_test, p_test):
    """R^2 of position decoded by ridge and by 15-nearest-neighbour regression (standardised latents)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    A, B = np.concatenate(Z_train), np.concatenate(Z_test)
    y, y_test = np.concatenate(p_train), np.concatenate(p_test)
    out = {}
    for name, reg in (("ridge", RidgeCV(alphas=np.logspace(-3, 3, 13))), ("knn", KNeighborsRegressor(15))):
        pred = make_pipeline(StandardScaler(), reg).fit(A, y).predict(B)
        out[name] = float(1 - ((pred - y_test) ** 2).sum() / ((y_test - y.mean()) ** 2).sum())
    return out


def pca_of_smoothed(X_train, X_test, k):
    """Scores of the top-k principal components of smoothed counts (fitted on the training laps)."""
    from sklearn.decomposition import PCA

    sm = lambda X: [smooth_counts(x[None])[0] for x in X]  # noqa: E731
    S_train, S_test = sm(X_train), sm(X_test)
    pca = PCA(k).fit(np.concatenate(S_train))
    return [pca.transform(s) for s in S_train], [pca.transform(s) for s in S_test]


def select_rank(X, ranks, quick):
    """Held-out ELBO per bin of each rank: fit on the first 3/4 of the laps, score the rest."""
    cut = int(round(0.75 * len(X)))
    rows = []
    for rank in ranks:
        model, secs = fit_model(X[:cut], rank, quick=quick)
        rows.append(dict(rank=rank, train=model.score(X[:cut]), held_out=model.score(X[cut:]), seconds=secs,
                         epochs=model.n_iter_, converged=model.converged_))
        print(f"  rank {rank}: held-out ELBO/bin {rows[-1]['held_out']:.4f} (train {rows[-1]['train']:.4f}), "
              f"{secs:.0f} s, {model.n_iter_} epochs, converged {model.converged_}", flush=True)
    return rows


def decoding_table(X, pos, rank, n_folds, quick):
    """Cross-validated position R^2 per method and decoder (mean over folds), with the per-fold values."""
    scores = {}
    times = []
    for fold, (tr, te) in enumerate(time_block_folds(len(X), n_folds)):
        Xtr, Xte = [X[i] for i in tr], [X[i] for i in te]
        ptr, pte = [pos[i] for i in tr], [pos[i] for i in te]
        for method, activation in (("low-rank RNN (relu)", "relu"), ("linear baseline", "linear")):
            model, secs = fit_model(Xtr, rank, activation=activation, quick=quick, seed=fold)
            times.append(secs)
            Ztr = model.transform(Xtr, method="smoothing")
            Zte = model.transform(Xte, method="smoothing")
            for dec, r2 in decode(Ztr, ptr, Zte, pte).items():
                scores.setdefault((method, dec), []).append(r2)
        Ptr, Pte = pca_of_smoothed(Xtr, Xte, rank)
        for dec, r2 in decode(Ptr, ptr, Pte, pte).items():
            scores.setdefault((f"PCA of smoothed counts ({rank})", dec), []).append(r2)
        print(f"  fold {fold + 1}/{n_folds} done", flush=True)
    return scores, times


def fano_factors(X, window=5):
    """Per unit: variance / mean of spike counts in windows of ``window`` bins within laps."""
    counts = np.concatenate([x[: len(x) // window * window].reshape(-1, window, x.shape[1]).sum(1) for x in X])
    mean = counts.mean(0)
    return np.where(mean > 0, counts.var(0) / np.maximum(mean, 1e-12), np.nan)


def place_fields(X, pos, ends):
    """Mean count per position bin (N_POSITION_BINS along the track) per unit: (n_position_bins, n_units)."""
    edges = np.linspace(ends[0], ends[1], N_POSITION_BINS + 1)
    idx = np.clip(np.digitize(np.concatenate(pos), edges) - 1, 0, N_POSITION_BINS - 1)
    counts = np.concatenate(X)
    fields = np.full((N_POSITION_BINS, counts.shape[1]), np.nan)
    for b in range(N_POSITION_BINS):
        if (idx == b).any():
            fields[b] = counts[idx == b].mean(0)
    return fields


def _mean_isi(X):
    return np.array([d.mean() if len(d) else np.nan for d in isi_distribution(X)])


def generation_table(model, X, pos, ends):
    """Statistics of laps generated by ``model`` against the recording's."""
    from sklearn.neighbors import KNeighborsRegressor

    lengths = [len(x) for x in X]
    rng = np.random.RandomState(0)
    gen_X, gen_Z = [], []
    for i, T in enumerate(lengths):
        Xg, Zg = model.sample(n_trials=1, n_timesteps=T, random_state=rng.randint(2**31))
        gen_X.append(Xg[0]), gen_Z.append(Zg[0])
    Z_post = model.transform(X, method="smoothing")
    decoder = KNeighborsRegressor(15).fit(np.concatenate(Z_post), np.concatenate(pos))
    gen_pos = [decoder.predict(z) for z in gen_Z]

    def corr(a, b):
        ok = np.isfinite(a) & np.isfinite(b)
        return float(np.corrcoef(a[ok], b[ok])[0, 1])

    real_rates, gen_rates = mean_rates(X), mean_rates(gen_X)
    isi_r, isi_g = _mean_isi(X), _mean_isi(gen_X)
    cv_r, cv_g = isi_cv(X), isi_cv(gen_X)
    ff_r, ff_g = fano_factors(X), fano_factors(gen_X)
    C_r, C_g = pairwise_correlations(X), pairwise_correlations(gen_X)
    iu = np.triu_indices_from(C_r, 1)
    F_r, F_g = place_fields(X, pos, ends), place_fields(gen_X, gen_pos, ends)
    field_corr = [corr(F_r[:, j], F_g[:, j]) for j in range(F_r.shape[1]) if np.nanstd(F_r[:, j]) > 0
                  and np.nanstd(F_g[:, j]) > 0]
    rows = [
        ("per-unit mean rate", corr(real_rates, gen_rates), float(np.median(gen_rates / np.maximum(real_rates, 1e-12)))),
        ("mean inter-spike interval", corr(isi_r, isi_g), float(np.nanmedian(isi_g / isi_r))),
        ("ISI coefficient of variation", corr(cv_r, cv_g), float(np.nanmedian(cv_g / np.where(cv_r > 0, cv_r, np.nan)))),
        ("Fano factor (0.5 s windows)", corr(ff_r, ff_g), float(np.nanmedian(ff_g / ff_r))),
        ("pairwise correlations", corr(C_r[iu], C_g[iu]), float(np.nanmedian(np.abs(C_g[iu])) /
                                                                 max(np.nanmedian(np.abs(C_r[iu])), 1e-12))),
        ("place fields (median over units)", float(np.median(field_corr)), float("nan")),
    ]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="ranks 2-3, 2 folds, at most 150 epochs per fit")
    parser.add_argument("--bin", type=float, default=0.1, help="bin size in seconds (default 0.1)")
    parser.add_argument("--rank", type=int, default=None, help="skip the rank selection and use this rank")
    parser.add_argument("--data-home", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, pos, direction, units, ends = load_laps(args.data_home, args.bin)
    stacked = np.concatenate(X)
    print(f"linear track: {len(X)} laps ({(direction > 0).sum()} / {(direction < 0).sum()} per direction), "
          f"{len(stacked)} bins of {args.bin * 1000:.0f} ms, {len(units)} units active while running, "
          f"{(stacked == 0).mean():.1%} of unit-bins empty, median rate "
          f"{np.median(stacked.mean(0)) / args.bin:.2f} Hz")

    ranks = [2, 3] if args.quick else [1, 2, 3, 4, 5, 6]
    if args.rank is None:
        print("\n## Rank by held-out likelihood (first 3/4 of the laps -> last 1/4)")
        rows = select_rank(X, ranks, args.quick)
        rank = max(rows, key=lambda r: r["held_out"])["rank"]
        print(f"chosen rank: {rank}")
    else:
        rank = args.rank

    n_folds = 2 if args.quick else 5
    print(f"\n## Position decoded from latents, {n_folds}-fold CV over blocks of laps (R^2, mean +- sd over folds)")
    scores, times = decoding_table(X, pos, rank, n_folds, args.quick)
    print(f"| method (dimension {rank}) | ridge | 15-NN |\n| --- | --- | --- |")
    for method in dict.fromkeys(m for m, _ in scores):
        cells = [f"{np.mean(scores[(method, d)]):.3f} +- {np.std(scores[(method, d)]):.3f}" for d in ("ridge", "knn")]
        print(f"| {method} | {cells[0]} | {cells[1]} |")
    print(f"fit time per fold: median {np.median(times):.0f} s, max {np.max(times):.0f} s")

    print("\n## Generated laps against the recording (model fitted on every lap)")
    model, secs = fit_model(X, rank, quick=args.quick)
    print(f"fit: {secs:.0f} s, {model.n_iter_} epochs, converged {model.converged_}")
    print("| statistic | correlation real vs generated | median ratio generated / real |\n| --- | --- | --- |")
    for name, c, ratio in generation_table(model, X, pos, ends):
        print(f"| {name} | {c:.3f} | {ratio:.3f} |")

    print("\n## Fixed points of the fitted dynamics")
    fps = getattr(model, "fixed_points_", None)
    if fps is None:
        print("not computed (see the fit's warnings)")
    else:
        points, stab = fps.points, np.asarray(fps.stability)
        kinds = dict(zip(*np.unique(stab, return_counts=True))) if len(stab) else {}
        print(f"{len(points)} fixed points: {kinds or 'none'}")
        for p, s in zip(points, stab):
            print(f"  {np.round(p, 3)}: {s}")
    print(f"\npeak memory: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
