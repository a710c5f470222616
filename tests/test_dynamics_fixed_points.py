"""Exact low-rank fixed points against brute force over every activation pattern, and the teachers."""

import itertools
from math import comb
from pathlib import Path

import numpy as np
import pytest

from sklearn_lrnn.dynamics import (FixedPoints, build_map, fixed_points, low_rank_fixed_points, teacher_from_npz)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TEACHERS = SHARED / "data" / "teachers"


# ----------------------------------------------------------------------------- brute force
def _pieces(activation, h):
    """Per unit: list of (slope, intercept, lo, hi) pieces of phi(x) on [lo, hi] (independent of the engine)."""
    out = []
    for hi_ in h:
        if activation == "relu":  # max(0, x - h)
            out.append([(0.0, 0.0, -np.inf, hi_), (1.0, -hi_, hi_, np.inf)])
        elif hi_ >= 0:  # max(0, x + h) - max(0, x)
            out.append([(0.0, 0.0, -np.inf, -hi_), (1.0, hi_, -hi_, 0.0), (0.0, hi_, 0.0, np.inf)])
        else:
            out.append([(0.0, 0.0, -np.inf, 0.0), (-1.0, 0.0, 0.0, -hi_), (0.0, hi_, -hi_, np.inf)])
    return out


def brute_force(m, n, h, a, activation, c=None, rtol=1e-9):
    """Fixed points by solving every combination of per-unit linear pieces (2^N or 3^N systems)."""
    N, R = m.shape
    c = np.zeros(N) if c is None else c
    pieces = _pieces(activation, h)
    n_p = max(len(p) for p in pieces)
    table = np.zeros((4, N, n_p))
    for i, p in enumerate(pieces):
        table[:, i, :len(p)] = np.array(p).T
        table[:, i, len(p):] = np.array(p[-1])[:, None]  # relu has 2 pieces: pad with a duplicate
    combos = np.array(list(itertools.product(*[range(len(p)) for p in pieces])))
    units = np.arange(N)[None, :]
    slope, inter, lo, hi = (table[j][units, combos] for j in range(4))
    # z = a z + n (slope * (m z + c) + inter)  ->  (I - a I - n diag(slope) m) z = n (slope c + inter)
    Amat = (1 - a) * np.eye(R) - np.einsum("ri,pi,is->prs", n, slope, m)
    rhs = (slope * c + inter) @ n.T
    rows = np.linalg.norm(Amat, axis=2)
    det = np.linalg.det(Amat)
    ok = np.abs(det) > 1e-12 * np.prod(rows, axis=1)
    z = np.linalg.solve(Amat[ok], rhs[ok][..., None])[..., 0]
    x = z @ m.T + c
    tol = rtol * (np.linalg.norm(m, axis=1) * (1 + np.abs(z).max(1, keepdims=True)) + np.abs(h) + np.abs(c))
    good = np.all((x >= lo[ok] - tol) & (x <= hi[ok] + tol), axis=1)
    pts = z[good]
    keep = []
    for i, p in enumerate(pts):
        if all(np.abs(p - pts[j]).max() > 1e-9 + 1e-7 * np.abs(p).max() for j in keep):
            keep.append(i)
    return pts[keep]


def same_sets(A, B, tol=1e-6):
    if len(A) != len(B):
        return False
    used = np.zeros(len(B), bool)
    for p in A:
        d = np.abs(B - p).max(axis=1) if len(B) else np.array([])
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] > tol * (1 + np.abs(p).max()):
            return False
        used[j] = True
    return True


def random_network(rng, activation, kind):
    """Random low-rank network; ``kind`` selects a degenerate structure."""
    N_max = 14 if activation == "relu" else 7
    R = int(rng.integers(1, 5))
    N = int(rng.integers(2, N_max + 1))
    gain = rng.uniform(1.0, 6.0)
    m = rng.normal(size=(N, R))
    n = rng.normal(size=(R, N)) * gain / N
    h = rng.normal(size=N) * 0.5
    a = rng.uniform(0.0, 0.95)
    if kind == "zero_bias":  # all hyperplanes through the origin
        h[:] = 0.0
    elif kind == "duplicate" and N >= 3:  # coincident and parallel hyperplanes
        m[1], h[1] = m[0], h[0]
        m[2], h[2] = -2.5 * m[0], 0.3
    elif kind == "dead" and N >= 2:  # a unit with no input weights and one with no output
        m[0] = 0.0
        n[:, 1] = 0.0
        h[N - 1] = 0.0
    elif kind == "low_rank_m" and R >= 2:  # left vectors span fewer than R dimensions
        m[:, 1] = 0.7 * m[:, 0]
    elif kind == "grid" and R >= 2:  # many vertices with more than R planes (axis-aligned planes)
        m = np.zeros((N, R))
        m[np.arange(N), np.arange(N) % R] = 1.0
        h = np.round(h * 2) / 2
    return m, n, h, a


KINDS = ("generic", "zero_bias", "duplicate", "dead", "low_rank_m", "grid")


def _check_networks(activation, n_networks, seed):
    rng = np.random.default_rng(seed)
    n_points = 0
    for i in range(n_networks):
        kind = KINDS[i % len(KINDS)]
        m, n, h, a = random_network(rng, activation, kind)
        fp = low_rank_fixed_points(m, n, h, a, activation, random_state=i)
        ref = brute_force(m, n, h, a, activation)
        assert same_sets(fp.points, ref), (
            f"network {i} ({kind}, N={len(h)}, R={m.shape[1]}): exact {np.round(fp.points, 4).tolist()} vs "
            f"brute force {np.round(ref, 4).tolist()}")
        n_points += len(ref)
        K = len(h) * (1 if activation == "relu" else 2)
        assert fp.n_cells <= sum(comb(K, j) for j in range(m.shape[1] + 1)) + 1
    return n_points


@pytest.mark.parametrize("activation", ["relu", "clipped_relu"])
def test_matches_brute_force(activation):
    n_points = _check_networks(activation, 100, seed=1 if activation == "relu" else 2)
    assert n_points > 40  # the random networks do have fixed points to compare


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "clipped_relu"])
def test_matches_brute_force_many(activation):
    _check_networks(activation, 500, seed=11 if activation == "relu" else 12)


def test_with_input_current():
    rng = np.random.default_rng(5)
    for act in ("relu", "clipped_relu"):
        m, n, h, a = random_network(rng, act, "generic")
        c = rng.normal(size=len(h))
        fp = low_rank_fixed_points(m, n, h, a, act, inputs=c)
        assert same_sets(fp.points, brute_force(m, n, h, a, act, c=c))


def test_stability_and_cell_count_generic():
    """Stability from region eigenvalues; a simple arrangement has exactly sum_i C(N, i) cells."""
    rng = np.random.default_rng(3)
    N, R = 10, 3
    m, n, h = rng.normal(size=(N, R)), rng.normal(size=(R, N)) * 4 / N, rng.normal(size=N)
    fp = low_rank_fixed_points(m, n, h, 0.3)
    assert fp.n_cells == sum(comb(N, j) for j in range(R + 1))
    assert fp.n_solves == fp.n_cells
    for z, lab, ev, pat in zip(fp.points, fp.stability, fp.eigvals, fp.patterns):
        D = (m @ z - h > 0).astype(float)
        J = 0.3 * np.eye(R) + n @ (D[:, None] * m)
        np.testing.assert_allclose(np.sort(np.abs(np.linalg.eigvals(J))), np.sort(np.abs(ev)), rtol=1e-8)
        np.testing.assert_array_equal(pat, D > 0)
        expect = "stable" if np.abs(ev).max() < 1 else "unstable" if np.abs(ev).min() > 1 else "saddle"
        assert lab == expect
        # a fixed point of the map itself
        np.testing.assert_allclose(0.3 * z + n @ np.maximum(m @ z - h, 0), z, atol=1e-9)


@pytest.mark.parametrize("R, N", [(2, 15), (3, 30), (4, 20), (4, 26)])
def test_every_cell_once_for_larger_generic_networks(R, N):
    """Sweep line coverings (parity pairs for R=3, Turan triples for R=4) reach each vertex once."""
    rng = np.random.default_rng(R * 100 + N)
    m, n, h = rng.normal(size=(N, R)), rng.normal(size=(R, N)) * 3 / N, rng.normal(size=N)
    fp = low_rank_fixed_points(m, n, h, 0.3)
    assert fp.n_cells == sum(comb(N, j) for j in range(R + 1))
    # clipped relu: 2N planes in parallel pairs, no vertex from a pair -> fewer cells than the bound
    fc = low_rank_fixed_points(m, n, h, 0.3, "clipped_relu")
    expect = sum(comb(N, j) * 2 ** j for j in range(R + 1))  # choose j units, one of 2 planes each
    assert fc.n_cells == expect


def test_chunking_does_not_change_result():
    rng = np.random.default_rng(4)
    m, n, h, a = random_network(rng, "clipped_relu", "generic")
    m, n, h = rng.normal(size=(30, 3)), rng.normal(size=(3, 30)) * 0.3, rng.normal(size=30)
    big = low_rank_fixed_points(m, n, h, 0.5, "clipped_relu")
    small = low_rank_fixed_points(m, n, h, 0.5, "clipped_relu", chunk_size=50)
    assert same_sets(big.points, small.points) and big.n_cells == small.n_cells


def test_tanh_is_approximate_and_correct():
    rng = np.random.default_rng(0)
    N, R = 40, 2
    m, n, h = rng.normal(size=(N, R)), rng.normal(size=(R, N)) * 3 / N, rng.normal(size=N) * 0.3
    fp = low_rank_fixed_points(m, n, h, 0.5, "tanh")
    assert not fp.exact and len(fp) >= 1
    resid = 0.5 * fp.points + np.tanh(fp.points @ m.T - h) @ n.T - fp.points
    assert np.abs(resid).max() < 1e-8
    # a bistable 1-D tanh network: z = tanh(2 z) has 3 fixed points (two stable)
    fp1 = low_rank_fixed_points(np.ones((1, 1)), 2 * np.ones((1, 1)), np.zeros(1), 0.0, "tanh")
    assert len(fp1) == 3 and fp1.n_stable == 2


# ----------------------------------------------------------------------------- teachers
@pytest.fixture
def teachers():
    if not TEACHERS.is_dir():
        pytest.skip(f"teacher networks not found at {TEACHERS} (the shared data folder sits beside the repo)")
    return TEACHERS


@pytest.mark.parametrize("name, n_fp, n_stable", [("reach_n60_r2", 17, 8), ("reach_n128_r2", 17, 8),
                                                  ("oscillator_n20_r2", 1, 0), ("decision_n60_r1", 3, 2)])
def test_teacher_fixed_points(teachers, name, n_fp, n_stable):
    t = teacher_from_npz(teachers / f"{name}.npz")
    fp = low_rank_fixed_points(t["left"], t["right"], t["bias"], t["decay"])
    assert len(fp) == n_fp and fp.n_stable == n_stable
    N, R = t["left"].shape
    # generic arrangement: every one of the sum_{i<=R} C(N, i) cells visited, one solve each
    assert fp.n_cells == sum(comb(N, i) for i in range(R + 1))
    # unit-space check: x* = U z* is a fixed point of the published unit-space dynamics
    with np.load(teachers / f"{name}.npz") as f:
        mm, nn, b, alpha = f["m"], f["n"], f["b"], float(f["alpha"])
    X = fp.points @ t["left"].T
    Xn = (1 - alpha) * X + alpha * (np.maximum(X + b, 0) @ nn @ mm.T / N)
    np.testing.assert_allclose(Xn, X, atol=1e-9)


def test_ring_teacher_stable_points_on_ring(teachers):
    """The 8 stable points of the reach teacher sit at 8 distinct angles, one per target."""
    t = teacher_from_npz(teachers / "reach_n60_r2.npz")
    fp = low_rank_fixed_points(t["left"], t["right"], t["bias"], t["decay"])
    st = fp.points[fp.stability == "stable"]
    ang = np.sort(np.arctan2(st[:, 1], st[:, 0]))
    gaps = np.diff(np.concatenate([ang, ang[:1] + 2 * np.pi]))
    assert np.all(gaps > 0.3)  # well separated around the circle
    assert np.all(np.linalg.norm(st, axis=1) > 1e-3)


def test_teacher_from_npz_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        teacher_from_npz(tmp_path / "nope.npz")


# ----------------------------------------------------------------------------- estimator dispatch
def test_fixed_points_dispatch_low_rank():
    rng = np.random.default_rng(8)
    m, n, h, a = random_network(rng, "clipped_relu", "generic")
    pmap = build_map(left=m, right=n, bias=h, decay=a, activation="clipped_relu")
    res = fixed_points(pmap)  # "auto": a small arrangement is searched exactly
    assert isinstance(res, FixedPoints) and res.exact
    assert same_sets(res.points, brute_force(m, n, h, a, "clipped_relu"))
    heur = fixed_points(pmap, method="scyfi", max_solves=2000)
    assert not heur.exact and all(np.abs(res.points - p).max(1).min() < 1e-8 for p in heur.points)


def test_fitted_low_rank_estimator_has_fixed_points():
    from sklearn_lrnn.low_rank import StochasticLowRankRNN

    X = np.random.default_rng(0).normal(size=(4, 12, 3))
    est = StochasticLowRankRNN(rank=2, n_units=20, max_iter=1, n_particles=4, batch_size=4, window_length=10,
                               random_state=0, activation="clipped_relu").fit(X)
    fp = fixed_points(est)
    assert fp.exact
    assert isinstance(est.fixed_points_, FixedPoints)  # the same type as PLRNNRegressor's
    np.testing.assert_allclose(est.fixed_points_.points, fp.points)
    ref = brute_force(est.left_vectors_, est.right_vectors_, est.bias_, est.decay_, "clipped_relu") \
        if len(est.bias_) <= 8 else None
    if ref is not None:
        assert same_sets(fp.points, ref)
    for z in fp.points:  # each is a fixed point of the fitted map
        x = est.left_vectors_ @ z
        phi = np.maximum(x + est.bias_, 0) - np.maximum(x, 0)
        np.testing.assert_allclose(est.decay_ * z + est.right_vectors_ @ phi, z, atol=1e-8)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad, match", [
    (dict(right=np.ones((5, 2))), "transpose"),
    (dict(right=np.ones((2, 4))), "rank, n_units"),
    (dict(bias=np.ones(4)), "bias"),
    (dict(left=np.ones(5)), "left must be 2-D"),
    (dict(bias=np.array([0, 0, np.nan, 0, 0.0])), "NaN"),
    (dict(decay=np.nan), "decay"),
    (dict(activation="sigmoid"), "activation"),
    (dict(inputs=np.ones(3)), "inputs"),
])
def test_bad_input(bad, match):
    args = dict(left=np.ones((5, 2)), right=np.ones((2, 5)), bias=np.zeros(5), decay=0.9, activation="relu")
    args.update(bad)
    act = args.pop("activation")
    inputs = args.pop("inputs", None)
    with pytest.raises(ValueError, match=match):
        low_rank_fixed_points(args["left"], args["right"], args["bias"], args["decay"], act, inputs=inputs)
