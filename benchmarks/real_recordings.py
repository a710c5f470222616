"""Shared pieces of the real-recording benchmarks (``real_reaching.py``, ``real_fmri.py``) and their tests.

Not part of the package: loading the shared recordings, movement epochs and reach directions from hand
kinematics, trials aligned to movement onset, time-block cross-validation folds, smoothed counts, the
ridge decoder, and peak memory.

The recordings live in the shared data folder beside the clone (``../shared/data`` relative to the
repository root; ``--data-home`` overrides it). They are read through ``sklearn_lrnn.datasets``'
``fetch_m1_reaching`` / ``fetch_fmri_rois`` (checksums checked, never downloading here) where those
loaders exist, and directly from the files otherwise (same arrays).
"""

from __future__ import annotations

import os
import resource

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_HOME = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
M1_FILE = os.path.join("m1_reaching", "m1_reaching.npz")
FMRI_FILE = os.path.join("fmri", "fmri_timeseries.csv")
N_DIRECTIONS = 8


class DataMissing(FileNotFoundError):
    """The shared recording is not where it was looked for."""


def _require(data_home, rel):
    path = os.path.join(data_home or DATA_HOME, rel)
    if not os.path.isfile(path):
        raise DataMissing(f"{path} not found: this needs the shared data folder ({data_home or DATA_HOME}, "
                          "beside the clone; pass --data-home to point elsewhere).")
    return path


def load_m1(data_home=None):
    """Dict with ``spike_counts`` (T, 171) int, ``time`` (T,), ``hand_position`` / ``hand_velocity`` (T, 2),
    ``bin_size`` (s) of the macaque M1 reaching recording (Stevenson et al. 2011)."""
    path = _require(data_home, M1_FILE)
    try:
        from sklearn_lrnn.datasets import fetch_m1_reaching
    except ImportError:
        fetch_m1_reaching = None
    if fetch_m1_reaching is not None:
        b = fetch_m1_reaching(data_home=data_home or DATA_HOME, download_if_missing=False)
        return dict(spike_counts=np.asarray(b.spike_counts), time=np.asarray(b.time),
                    hand_position=np.asarray(b.hand_position), hand_velocity=np.asarray(b.hand_velocity),
                    bin_size=float(b.bin_size))
    with np.load(path, allow_pickle=False) as d:
        out = {k: d[k] for k in ("spike_counts", "time", "hand_position", "hand_velocity")}
    out["bin_size"] = float(np.median(np.diff(out["time"])))
    return out


def load_fmri(data_home=None):
    """(data (250, 31) float, region names, repetition time in s) of the nitime fMRI ROI series."""
    path = _require(data_home, FMRI_FILE)
    try:
        from sklearn_lrnn.datasets import fetch_fmri_rois
    except ImportError:
        fetch_fmri_rois = None
    if fetch_fmri_rois is not None:
        b = fetch_fmri_rois(data_home=data_home or DATA_HOME, download_if_missing=False)
        return np.asarray(b.data, dtype=float), list(b.feature_names), float(b.repetition_time)
    with open(path) as f:
        names = [s.strip().strip('"') for s in f.readline().split(",")]
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return data, names, 1.89


# --------------------------------------------------------------------------- movement epochs


def detect_movements(velocity, position, *, bin_size=0.05, threshold=0.1, low_fraction=0.3,
                     min_duration=0.15, merge_gap=0.1, min_distance=0.02):
    """Movement epochs from hand kinematics: runs of speed above ``threshold``, widened by hysteresis.

    A movement is a run of bins with speed ``|v|`` above ``threshold`` (m/s), extended backwards and
    forwards while the speed stays above ``low_fraction * threshold`` (so onset and offset are where the
    hand starts and stops, not where it crosses the high threshold). Runs closer than ``merge_gap``
    seconds are merged; runs shorter than ``min_duration`` seconds, or whose displacement is shorter than
    ``min_distance`` (m), are dropped. The direction is the angle of the displacement from onset to
    offset, binned into 8 sectors of 45 degrees centred on 0, 45, ..., 315 degrees (sector 0: +x).

    Returns a dict of arrays, one entry per movement: ``onset``, ``offset`` (bin indices, offset
    exclusive), ``angle`` (radians in [0, 2 pi)), ``direction`` (sector 0-7), ``distance`` (m),
    ``peak_speed`` (m/s).
    """
    v = np.asarray(velocity, dtype=float)
    p = np.asarray(position, dtype=float)
    if v.ndim != 2 or v.shape[1] != 2 or p.shape != v.shape:
        raise ValueError(f"velocity and position must both be (T, 2); got {v.shape} and {p.shape}.")
    speed = np.hypot(v[:, 0], v[:, 1])
    T = len(speed)
    low = low_fraction * threshold
    above = np.flatnonzero(np.diff(np.concatenate([[0], (speed > threshold).astype(int), [0]])))
    runs = list(zip(above[::2], above[1::2]))  # [start, stop) of high-speed runs
    epochs = []
    for a, b in runs:
        while a > 0 and speed[a - 1] > low:
            a -= 1
        while b < T and speed[b] > low:
            b += 1
        if epochs and a - epochs[-1][1] <= int(round(merge_gap / bin_size)):
            epochs[-1][1] = max(epochs[-1][1], b)
        else:
            epochs.append([a, b])
    onset, offset, angle, dist, peak = [], [], [], [], []
    for a, b in epochs:
        if (b - a) * bin_size < min_duration:
            continue
        d = p[b - 1] - p[a]
        r = float(np.hypot(*d))
        if r < min_distance:
            continue
        onset.append(a)
        offset.append(b)
        angle.append(np.arctan2(d[1], d[0]) % (2 * np.pi))
        dist.append(r)
        peak.append(float(speed[a:b].max()))
    angle = np.array(angle)
    direction = (np.round(angle / (2 * np.pi / N_DIRECTIONS)).astype(int) % N_DIRECTIONS)
    return dict(onset=np.array(onset, dtype=int), offset=np.array(offset, dtype=int), angle=angle,
                direction=direction, distance=np.array(dist), peak_speed=np.array(peak))


def select_trials(movements, n_bins_total, *, before, after):
    """Indices of movements whose window [onset - before, onset + after) lies inside the recording and
    does not overlap the previous kept window (greedy in time): trials are disjoint pieces of it."""
    keep, last_end = [], -1
    for i, on in enumerate(movements["onset"]):
        a, b = on - before, on + after
        if a < 0 or b > n_bins_total or a < last_end:
            continue
        keep.append(i)
        last_end = b
    return np.array(keep, dtype=int)


def cut_trials(arrays, onsets, *, before, after):
    """Each (T, d) array cut into (n_trials, before + after, d) windows starting ``before`` bins before each onset."""
    idx = np.asarray(onsets)[:, None] + np.arange(-before, after)[None, :]
    return [np.asarray(a)[idx] for a in arrays]


def reaching_trials(data, *, before_s=0.5, after_s=1.0, **movement_kw):
    """Trials aligned to movement onset from the M1 recording (a dict of :func:`load_m1`).

    Returns a dict: ``counts`` (n, T, 171) float64, ``velocity`` / ``position`` (n, T, 2), ``direction``,
    ``angle``, ``onset`` (bin of the recording), ``before`` (bins before onset), ``moving`` (n, T) bool
    (inside the movement epoch), and ``movements`` (all detected epochs)."""
    bs = data["bin_size"]
    before, after = int(round(before_s / bs)), int(round(after_s / bs))
    mov = detect_movements(data["hand_velocity"], data["hand_position"], bin_size=bs, **movement_kw)
    keep = select_trials(mov, len(data["time"]), before=before, after=after)
    onsets = mov["onset"][keep]
    counts, vel, pos = cut_trials([data["spike_counts"], data["hand_velocity"], data["hand_position"]], onsets,
                                  before=before, after=after)
    rel = np.arange(-before, after)[None, :]
    moving = (rel >= 0) & (rel < (mov["offset"][keep] - onsets)[:, None])
    return dict(counts=counts.astype(np.float64), velocity=vel, position=pos, direction=mov["direction"][keep],
                angle=mov["angle"][keep], onset=onsets, before=before, moving=moving, movements=mov)


# --------------------------------------------------------------------------- cross-validation and decoding


def time_block_folds(n_trials, n_folds=5):
    """(train, test) index pairs: the trials (in recording order) cut into ``n_folds`` contiguous blocks,
    each block the test set once."""
    blocks = np.array_split(np.arange(n_trials), n_folds)
    return [(np.concatenate([b for j, b in enumerate(blocks) if j != i]), blocks[i]) for i in range(n_folds)]


def smooth_counts(counts, sigma_bins=2.0):
    """Gaussian smoothing along time within each trial (counts (n, T, N)), then sqrt (variance stabilising)."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.sqrt(np.asarray(counts, dtype=float)), sigma_bins, axis=1, mode="nearest")


def pca_latents(train, test, n_components):
    """PCA of smoothed counts fitted on the training trials; (train scores, test scores) as (n, T, k)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components).fit(train.reshape(-1, train.shape[-1]))
    f = lambda A: pca.transform(A.reshape(-1, A.shape[-1])).reshape(A.shape[0], A.shape[1], -1)  # noqa: E731
    return f(train), f(test)


def decode_r2(Z_train, y_train, Z_test, y_test, *, lags=0, mask_train=None, mask_test=None):
    """Ridge from latents (n, T, k) to targets (n, T, d); R^2 on the test bins (pooled over outputs,
    ``1 - SSE / SST`` with SST about the training mean). The features are standardised on the training
    bins and the penalty is chosen on them (``RidgeCV``, leave-one-out, alphas 1e-3 ... 1e3); ``lags`` > 0
    adds the latents of the ``lags`` previous bins of the same trial (zero-padded). Masks pick the bins used.
    Returns (R^2, fitted ridge, fitted scaler)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    def feats(Z):
        Z = np.asarray(Z, dtype=float)
        parts = [Z]
        for lag in range(1, lags + 1):
            parts.append(np.concatenate([np.zeros_like(Z[:, :lag]), Z[:, :-lag]], axis=1))
        return np.concatenate(parts, axis=2)

    Ftr, Fte = feats(Z_train), feats(Z_test)
    mtr = np.ones(Ftr.shape[:2], bool) if mask_train is None else mask_train
    mte = np.ones(Fte.shape[:2], bool) if mask_test is None else mask_test
    Xtr, Ytr, Xte, Yte = Ftr[mtr], np.asarray(y_train)[mtr], Fte[mte], np.asarray(y_test)[mte]
    sc = StandardScaler().fit(Xtr)
    reg = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(sc.transform(Xtr), Ytr)
    pred = reg.predict(sc.transform(Xte))
    sse = ((pred - Yte) ** 2).sum()
    sst = ((Yte - Ytr.mean(0)) ** 2).sum()
    return float(1 - sse / sst), reg, sc


def peak_rss_mb():
    """Peak resident memory of this process so far (MB; Linux reports ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_jsonl(path):
    """The JSON-line records of a results file (an empty list if it does not exist yet)."""
    import json

    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def append_jsonl(path, record):
    """Append one record to a results file as a JSON line (the scripts skip finished jobs on a rerun)."""
    import json

    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
