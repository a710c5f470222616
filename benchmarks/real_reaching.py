"""Macaque M1 during reaching: do the posterior latents of a Poisson low-rank RNN carry hand velocity?

Data: the shared M1 recording (171 units, 50 ms counts, hand position and velocity, 13 min continuous;
Stevenson et al. 2011, J Neurophysiol 106:764, via CRCNS DREAM / KordingLab spykesML), read from
``../shared/data`` beside the clone (``--data-home``). Every unit is used (no selection by rate).

Protocol:

* movement epochs from the kinematics (``real_recordings.detect_movements``): speed above 0.1 m/s,
  widened while it stays above 0.03 m/s, at least 150 ms and 2 cm; the direction is the angle of the
  displacement from onset to offset, binned into 8 sectors of 45 degrees;
* trials: 1.5 s windows aligned to movement onset (0.5 s before, 1 s after, 30 bins), the first
  movement of any overlap kept, so trials are disjoint pieces of the recording;
* 5-fold cross-validation by time blocks: the trials in recording order cut into 5 contiguous blocks,
  each the test block once;
* models, fitted on the training blocks only: ``StochasticLowRankRNN(rank=R, observation="poisson")``
  with every other setting at its default (``random_state`` = seed), and its linear baseline
  ``activation="linear"`` (same rank, same readout and proposal);
* rank: chosen by the held-out ELBO per bin of the last fold (train on the first 80% of the
  recording, test on the last 20%) over ``--ranks``; that fit is reused as the chosen rank's last fold;
* decoding: ridge regression (``RidgeCV`` on standardised features) of hand velocity (x, y) from the
  posterior latents (``transform(method="smoothing")``; the filtering means as well), trained on the
  training trials' bins and scored by R^2 on the test block, all bins and movement bins only; the same
  decoder on PCA of smoothed counts (sqrt, Gaussian sigma = 2 bins within each trial, PCA fitted on
  the training trials) with as many components as the rank, and, as a ceiling, on all 171 smoothed units;
* each fit runs in its own process (one torch thread): its wall time, CPU time (the two differ when
  other processes share the cores) and peak resident memory
  (``ru_maxrss`` of that process, including Python, NumPy and torch, about 0.5 GB) are reported.

Run (one core; every fit is appended to ``--out`` as a JSON line, finished fits are skipped)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/real_reaching.py --seeds 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/real_reaching.py --seeds 0 --rank 4   # no rank search
    .venv/bin/python benchmarks/real_reaching.py --table                              # tables of --out

``--quick`` (3 epochs, 60 trials, 2 folds, rank 2) is a smoke test of the script, not a result.
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

OUT = os.path.join(HERE, "results", "real_reaching.jsonl")
N_FOLDS = 5


def load_trials(data_home=None, quick=False):
    data = rr.load_m1(data_home)
    tr = rr.reaching_trials(data)
    if quick:
        tr = {k: (v[:60] if k != "movements" and k != "before" else v) for k, v in tr.items()}
    return tr


def fit_job(job, data_home=None):
    """One fit (run in its own process): fit on the training blocks, score and decode on the test block."""
    import torch

    torch.set_num_threads(1)
    from sklearn_lrnn import StochasticLowRankRNN

    quick = job["quick"]
    tr = load_trials(data_home, quick)
    train, test = rr.time_block_folds(len(tr["counts"]), job["n_folds"])[job["fold"]]
    X, V, M = tr["counts"], tr["velocity"], tr["moving"]
    kw = dict(max_iter=3) if quick else {}
    model = StochasticLowRankRNN(rank=job["rank"], observation="poisson", random_state=job["seed"],
                                 **(dict(activation="linear") if job["kind"] == "linear" else {}), **kw)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X[train])
    res = dict(job, fit_seconds=round(time.perf_counter() - t0, 1), fit_cpu_seconds=round(time.process_time() - c0, 1),
               epochs=int(model.n_iter_),
               converged=bool(model.converged_), n_parameters=int(model.n_parameters_),
               n_train=int(len(train)), n_test=int(len(test)),
               warnings=sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught}))
    res["peak_rss_mb"] = round(rr.peak_rss_mb(), 0)
    res["train_elbo"] = float(model.score(X[train]))
    res["test_elbo"] = float(model.score(X[test]))
    for method in ("smoothing", "filtering"):
        Ztr, Zte = model.transform(X[train], method=method), model.transform(X[test], method=method)
        res[f"r2_{method}"] = rr.decode_r2(Ztr, V[train], Zte, V[test])[0]
        res[f"r2_{method}_moving"] = rr.decode_r2(Ztr, V[train], Zte, V[test], mask_train=M[train],
                                                  mask_test=M[test])[0]
    res["peak_rss_mb_with_scoring"] = round(rr.peak_rss_mb(), 0)
    return res


def _child(job, data_home, conn):
    try:
        conn.send(("ok", fit_job(job, data_home)))
    except BaseException as e:  # report, never hide, a failed fit
        conn.send(("error", f"{type(e).__name__}: {e}"))
    conn.close()


def run_in_process(job, data_home):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(job, data_home, child))
    p.start()
    status, payload = parent.recv()
    p.join()
    if status == "error":
        return dict(job, error=payload)
    return payload


def pca_rows(tr, dims, n_folds):
    """Decoding R^2 of PCA of smoothed counts (each dimension) and of all smoothed units, per fold."""
    S, V, M = rr.smooth_counts(tr["counts"]), tr["velocity"], tr["moving"]
    rows = []
    for fold, (train, test) in enumerate(rr.time_block_folds(len(S), n_folds)):
        for k in list(dims) + ["all"]:
            if k == "all":
                Ztr, Zte = S[train], S[test]
            else:
                Ztr, Zte = rr.pca_latents(S[train], S[test], k)
            rows.append(dict(kind="pca", rank=k, fold=fold,
                             r2_smoothing=rr.decode_r2(Ztr, V[train], Zte, V[test])[0],
                             r2_smoothing_moving=rr.decode_r2(Ztr, V[train], Zte, V[test], mask_train=M[train],
                                                              mask_test=M[test])[0]))
    return rows




def _key(r):
    return (r["kind"], r["rank"], r["fold"], r["seed"], r["quick"])


def run(args):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    done = {_key(r): r for r in rr.read_jsonl(args.out) if "error" not in r}

    def get(kind, rank, fold, seed):
        job = dict(kind=kind, rank=rank, fold=fold, seed=seed, n_folds=args.folds, quick=args.quick)
        if _key(job) in done:
            return done[_key(job)]
        res = run_in_process(job, args.data_home)
        print(json.dumps(res), flush=True)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(res) + "\n")
        if "error" not in res:
            done[_key(job)] = res
        return res

    last = args.folds - 1
    seed0 = args.seeds[0]
    if args.rank is None:
        sel = {r: get("lrnn", r, last, seed0) for r in args.ranks}
        ok = {r: v["test_elbo"] for r, v in sel.items() if "error" not in v}
        rank = max(ok, key=ok.get)
        print(f"rank selection (held-out ELBO per bin, last fold, seed {seed0}): "
              + ", ".join(f"R={r}: {v:.4f}" for r, v in ok.items()) + f" -> R = {rank}", flush=True)
    else:
        rank = args.rank
    linear_folds = range(args.folds) if args.linear_folds is None else args.linear_folds
    for seed in args.seeds:
        for fold in range(args.folds):
            get("lrnn", rank, fold, seed)
        for fold in linear_folds:
            get("linear", rank, fold, seed)
    table(args, rank)


def _cpu(rs):
    c = [r["fit_cpu_seconds"] for r in rs if "fit_cpu_seconds" in r]
    return f"{max(c):.0f}" if c else "-"


def table(args, rank=None):
    tr = load_trials(args.data_home, args.quick)
    counts = tr["counts"]
    print(f"\ntrials: {counts.shape[0]} x {counts.shape[1]} bins of 50 ms x {counts.shape[2]} units "
          f"({(counts == 0).mean():.0%} empty bins); per direction {np.bincount(tr['direction'], minlength=8).tolist()}; "
          f"movements detected {len(tr['movements']['onset'])}")
    rows = [r for r in rr.read_jsonl(args.out) if r.get("quick") == args.quick and r.get("n_folds", N_FOLDS) == args.folds]
    errors = [r for r in rows if "error" in r]
    rows = [r for r in rows if "error" not in r]
    for r in errors:
        print(f"FAILED fit {r['kind']} R={r['rank']} fold {r['fold']} seed {r['seed']}: {r['error']}")
    sel = sorted({r["rank"] for r in rows if r["kind"] == "lrnn" and r["fold"] == args.folds - 1})
    if sel:
        print("\nrank selection: held-out ELBO per bin on the last block (train first 80%)")
        print("| R | seed | held-out ELBO / bin | train ELBO / bin | epochs | fit s | peak MB |\n| --- | --- | --- | --- | --- | --- | --- |")
        for r in sorted([r for r in rows if r["kind"] == "lrnn" and r["fold"] == args.folds - 1],
                        key=lambda r: (r["rank"], r["seed"])):
            print(f"| {r['rank']} | {r['seed']} | {r['test_elbo']:.4f} | {r['train_elbo']:.4f} | {r['epochs']} "
                  f"| {r['fit_seconds']:.0f} | {r['peak_rss_mb_with_scoring']:.0f} |")
    if rank is None and sel:  # the rule of run(): best held-out ELBO of the last fold, first seed
        last = {r["rank"]: r["test_elbo"] for r in rows
                if r["kind"] == "lrnn" and r["fold"] == args.folds - 1 and r["seed"] == args.seeds[0]}
        rank = max(last, key=last.get) if last else None
    if rank is None:
        return
    pca = pca_rows(tr, sorted({rank, *sel}), args.folds)
    print(f"\nvelocity decoding, R^2 on held-out time blocks ({args.folds} folds), rank / dimension {rank}")
    print("| model | seed | R^2 all bins (per fold) | mean | R^2 movement bins, mean | R^2 filtering, mean "
          "| held-out ELBO / bin | fit s wall / CPU (max) | epochs | peak MB (max) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, label in (("lrnn", f"low-rank RNN, R={rank}"), ("linear", f"linear baseline, R={rank}")):
        for seed in args.seeds:
            rs = sorted([r for r in rows if r["kind"] == kind and r["rank"] == rank and r["seed"] == seed],
                        key=lambda r: r["fold"])
            if not rs:
                continue
            a = [r["r2_smoothing"] for r in rs]
            print(f"| {label} | {seed} | {' / '.join(f'{x:.3f}' for x in a)} | {np.mean(a):.3f} "
                  f"| {np.mean([r['r2_smoothing_moving'] for r in rs]):.3f} | {np.mean([r['r2_filtering'] for r in rs]):.3f} "
                  f"| {np.mean([r['test_elbo'] for r in rs]):.4f} | {max(r['fit_seconds'] for r in rs):.0f} / {_cpu(rs)} "
                  f"| {'/'.join(str(r['epochs']) for r in rs)} | {max(r['peak_rss_mb_with_scoring'] for r in rs):.0f} |"
                  + ("" if len(rs) == args.folds else f" ({len(rs)} of {args.folds} folds)"))
    for k in sorted({rank, *sel}) + ["all"]:
        rs = [r for r in pca if r["rank"] == k]
        a = [r["r2_smoothing"] for r in rs]
        label = f"PCA of smoothed counts, {k} components" if k != "all" else "all 171 smoothed units (ceiling)"
        print(f"| {label} | - | {' / '.join(f'{x:.3f}' for x in a)} | {np.mean(a):.3f} "
              f"| {np.mean([r['r2_smoothing_moving'] for r in rs]):.3f} | - | - | - | - | - |")
    others = [r for r in rows if r["kind"] == "lrnn" and r["rank"] != rank and r["fold"] == args.folds - 1]
    if others:
        print("\nother ranks (last fold only): " + ", ".join(
            f"R={r['rank']} R^2 {r['r2_smoothing']:.3f} (PCA {np.mean([p['r2_smoothing'] for p in pca if p['rank'] == r['rank'] and p['fold'] == r['fold']]):.3f})"
            for r in sorted(others, key=lambda r: r["rank"])))
    warned = sorted({w for r in rows for w in r.get("warnings", [])})
    if warned:
        print("\nwarnings raised by the fits:\n  " + "\n  ".join(warned))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-home", default=None, help=f"shared data folder (default {rr.DATA_HOME})")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[2, 3, 4, 6], help="candidate ranks")
    ap.add_argument("--rank", type=int, default=None, help="skip the rank search and use this rank")
    ap.add_argument("--folds", type=int, default=N_FOLDS)
    ap.add_argument("--linear-folds", type=int, nargs="+", default=None,
                    help="fit the linear baseline on these folds only (default: all)")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--quick", action="store_true", help="smoke test: 60 trials, 3 epochs, 2 folds, rank 2")
    ap.add_argument("--table", action="store_true", help="only print the tables of --out")
    args = ap.parse_args(argv)
    try:
        rr.load_m1(args.data_home)
    except rr.DataMissing as e:
        sys.exit(str(e))
    if args.quick:
        args.folds, args.ranks = 2, [2]
        args.rank = args.rank or 2
    if args.table:
        table(args, args.rank)
    else:
        run(args)


if __name__ == "__main__":
    main()
