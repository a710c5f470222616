"""PLRNN fixed points and cycles (exact vs brute force, SCYFI), Lyapunov exponents, continuous time."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from sklearn_lrnn.dynamics import (build_map, continuous_time_equivalent, cycles, find_cycles, fixed_points,
                                   lyapunov_spectrum, max_lyapunov_exponent, plrnn_fixed_points,
                                   scyfi_fixed_points, shallow_plrnn_fixed_points)


def same_sets(A, B, tol=1e-6):
    if len(A) != len(B):
        return False
    used = np.zeros(len(B), bool)
    for p in A:
        d = np.abs(B - p).max(axis=1)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] > tol * (1 + np.abs(p).max()):
            return False
        used[j] = True
    return True


def brute_shallow(A, W1, W2, h1, h2, clipped):
    """Every combination of hidden-unit pieces (relu: 2, clipped: 3 per unit), solved and checked."""
    M, H = W1.shape
    choices = [(0, 1, 2) if clipped else (0, 1)] * H
    pts = []
    for combo in itertools.product(*choices):
        combo = np.array(combo)
        # piece 0: unit off; 1: relu(y + h2) linear (and relu(y) off if clipped); 2: both on (= h2)
        slope = (combo == 1).astype(float)
        inter = np.where(combo == 1, h2, np.where(combo == 2, h2, 0.0)) if clipped else combo * h2
        Amat = np.eye(M) - np.diag(A) - W1 @ (slope[:, None] * W2)
        if abs(np.linalg.det(Amat)) < 1e-12:
            continue
        z = np.linalg.solve(Amat, W1 @ inter + h1)
        y = W2 @ z
        tol = 1e-9 * (1 + np.abs(z).max())
        if clipped:
            ok = np.where(combo == 0, y + h2 <= tol, np.where(combo == 1, (y + h2 >= -tol) & (y <= tol),
                                                               y >= -tol))
            # a negative h2 flips the middle piece: handled by the generic check below instead
            val = A * z + W1 @ (np.maximum(y + h2, 0) - np.maximum(y, 0)) + h1
        else:
            ok = np.where(combo == 1, y + h2 >= -tol, y + h2 <= tol)
            val = A * z + W1 @ np.maximum(y + h2, 0) + h1
        if ok.all() and np.allclose(val, z, atol=1e-8):
            pts.append(z)
    pts = np.array(pts).reshape(-1, M)
    keep = []
    for i, p in enumerate(pts):
        if all(np.abs(p - pts[j]).max() > 1e-8 for j in keep):
            keep.append(i)
    return pts[keep]


def brute_vanilla(A, W, h):
    M = len(A)
    pts = []
    for s in itertools.product((0, 1), repeat=M):
        s = np.array(s, float)
        Amat = np.eye(M) - np.diag(A) - W * s[None, :]
        if abs(np.linalg.det(Amat)) < 1e-12:
            continue
        z = np.linalg.solve(Amat, h)
        if np.all(np.where(s > 0, z >= -1e-10, z <= 1e-10)):
            pts.append(z)
    pts = np.array(pts).reshape(-1, M)
    keep = [i for i in range(len(pts)) if all(np.abs(pts[i] - pts[j]).max() > 1e-8 for j in range(i))]
    return pts[keep]


def random_plrnn(rng, M):
    A = rng.uniform(0.2, 0.95, M)
    W = rng.normal(size=(M, M)) * rng.uniform(0.5, 2.0) / np.sqrt(M)
    np.fill_diagonal(W, 0.0)
    return A, W, rng.normal(size=M) * 0.5


def test_vanilla_exact_matches_brute_force():
    rng = np.random.default_rng(0)
    total = 0
    for _ in range(30):
        M = int(rng.integers(1, 7))
        A, W, h = random_plrnn(rng, M)
        fp = plrnn_fixed_points(A, W, h, method="exact")
        ref = brute_vanilla(A, W, h)
        assert fp.exact and same_sets(fp.points, ref)
        total += len(ref)
    assert total >= 20


@pytest.mark.parametrize("clipped", [False, True])
def test_shallow_exact_matches_brute_force(clipped):
    rng = np.random.default_rng(1 + clipped)
    total = 0
    for _ in range(25):
        M, H = int(rng.integers(1, 4)), int(rng.integers(1, 7 if clipped else 9))
        A = rng.uniform(0.0, 0.9, M)
        W1 = rng.normal(size=(M, H)) * 2 / np.sqrt(H)
        W2 = rng.normal(size=(H, M))
        h1, h2 = rng.normal(size=M) * 0.3, np.abs(rng.normal(size=H))  # h2 > 0: the 3 pieces above
        fp = shallow_plrnn_fixed_points(A, W1, W2, h1, h2, clipped=clipped, method="exact")
        ref = brute_shallow(A, W1, W2, h1, h2, clipped)
        assert same_sets(fp.points, ref), (fp.points, ref)
        for z in fp.points:  # and each is a fixed point of the map itself
            y = W2 @ z
            act = np.maximum(y + h2, 0) - (np.maximum(y, 0) if clipped else 0)
            np.testing.assert_allclose(A * z + W1 @ act + h1, z, atol=1e-9)
        total += len(ref)
    assert total >= 20


def test_scyfi_finds_subset_of_exact_and_all_on_small_model():
    rng = np.random.default_rng(3)
    for _ in range(5):
        A, W, h = random_plrnn(rng, 5)
        exact = plrnn_fixed_points(A, W, h, method="exact")
        heur = plrnn_fixed_points(A, W, h, method="scyfi", max_solves=3000)
        assert not heur.exact
        assert same_sets(heur.points, exact.points)  # 32 regions: 3000 solves find everything
        np.testing.assert_array_equal(heur.stability, exact.stability)


def test_line_attractor_warns():
    """A manifold-attractor unit (A = 1, W row 0, h 0) makes every region singular: warn, list nothing."""
    with pytest.warns(RuntimeWarning, match="singular"):
        fp = plrnn_fixed_points([1.0, 0.5], [[0.0, 0.0], [0.3, 0.0]], [0.0, 0.1], method="exact")
    assert len(fp) == 0 and fp.n_singular == fp.n_cells == 4


def test_auto_switches_to_scyfi_for_large_models():
    rng = np.random.default_rng(4)
    A, W, h = random_plrnn(rng, 30)
    fp = plrnn_fixed_points(A, W, h, max_solves=500)
    assert not fp.exact and fp.method == "scyfi" and fp.n_solves == 500
    for z in fp.points:
        np.testing.assert_allclose(A * z + W @ np.maximum(z, 0) + h, z, atol=1e-8)


def test_two_cycle_exact_and_multipliers():
    # z' = 1 - 2 relu(z): 1 -> -1 -> 1, multiplier (-2) * 0 = 0 -> stable
    cyc = find_cycles(A=[0.0], W=[[-2.0]], h=[1.0], order=2)
    assert cyc.exact and len(cyc) == 1
    np.testing.assert_allclose(cyc.orbits[0, :, 0], [-1.0, 1.0])
    assert cyc.stability[0] == "stable"
    # order 1 = fixed points: z = 1/3
    assert np.allclose(find_cycles(A=[0.0], W=[[-2.0]], h=[1.0], order=1).orbits[0], [[1 / 3]])


def _check_cycle(A, W, h, orbit, mult):
    k = len(orbit)
    z, P = orbit[0], np.eye(len(A))
    for i in range(k):
        J = np.diag(A) + W * (z > 0)[None, :]
        P = J @ P
        z = A * z + W @ np.maximum(z, 0) + h
        np.testing.assert_allclose(z, orbit[(i + 1) % k], atol=1e-8)
    np.testing.assert_allclose(np.sort(np.abs(np.linalg.eigvals(P))), np.sort(np.abs(mult)), atol=1e-8)


def test_cycles_exact_vs_scyfi_random_plrnn():
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(20):
        M = 3
        A = rng.uniform(-0.9, 0.9, M)
        W = rng.normal(size=(M, M)) * 2.0
        np.fill_diagonal(W, 0)
        h = rng.normal(size=M)
        for order in (2, 3):
            ex = find_cycles(A=A, W=W, h=h, order=order, method="exact")
            sc = find_cycles(A=A, W=W, h=h, order=order, method="scyfi", max_solves=6000)
            for orb, mult in zip(ex.orbits, ex.multipliers):
                _check_cycle(A, W, h, orb, mult)
                checked += 1
            # everything the heuristic finds is a true cycle found by the exhaustive search
            assert len(sc) <= len(ex)
            for orb in sc.orbits:
                assert np.min(np.abs(ex.orbits - orb).max(axis=(1, 2))) < 1e-7
    assert checked >= 4


def test_low_rank_cycles():
    # rank-1 clipped-relu "flip" network: z' = -1.5 * phi(z) with a period-2 orbit
    cyc = find_cycles(left=np.ones((1, 1)), right=-np.full((1, 1), 3.0), bias=np.ones(1), decay=0.0,
                      activation="clipped_relu", order=2)
    for orb in cyc.orbits:
        z = orb[0]
        for i in range(2):
            z = -3.0 * (np.maximum(z + 1, 0) - np.maximum(z, 0))
        np.testing.assert_allclose(z, orb[0], atol=1e-9)
    assert len(cyc) == 1


def test_lyapunov_linear_and_tent_map():
    lam = lyapunov_spectrum(A=[0.5, 0.8], W=np.zeros((2, 2)), h=[0.1, 0.2], n_steps=3000)
    np.testing.assert_allclose(lam, np.log([0.8, 0.5]), atol=2e-3)
    # tent map z' = 1 - 2|z| on [-1, 1] as a shallow PLRNN: exponent log 2
    tent = dict(A=[0.0], W1=[[-2.0, -2.0]], W2=[[1.0], [-1.0]], h1=[1.0], h2=[0.0, 0.0])
    le = max_lyapunov_exponent(**tent, n_steps=4000, z0=[0.1234])
    assert abs(le - np.log(2)) < 1e-6
    with pytest.raises(ValueError, match="n_exponents"):
        lyapunov_spectrum(**tent, n_exponents=3)


def test_lyapunov_low_rank_and_estimator():
    rng = np.random.default_rng(0)
    m, n, h = rng.normal(size=(20, 2)), rng.normal(size=(2, 20)) * 0.05, rng.normal(size=20)
    tanh_map = build_map(left=m, right=n, bias=h, decay=0.9, activation="tanh")
    lam = lyapunov_spectrum(tanh_map, n_steps=2000)
    assert lam.shape == (2,) and lam[0] < 0  # weak coupling: contracting around a stable point
    lam2 = lyapunov_spectrum(left=m, right=n, bias=h, decay=0.9, activation="tanh", n_steps=2000)
    np.testing.assert_allclose(lam, lam2)


def test_continuous_time_equivalent_reproduces_map():
    rng = np.random.default_rng(1)
    A, W, h = rng.uniform(0.5, 0.9, 3), rng.normal(size=(3, 3)) * 0.1, rng.normal(size=3)
    np.fill_diagonal(W, 0)
    for region in ([True, False, True], np.array([1, 1, 1]), np.array([0.3, -2.0, 1.0])):
        ode = continuous_time_equivalent(A, W, h, region, dt=0.5)
        assert ode.residual < 1e-9
        D = ode.pattern
        WD = np.diag(A) + W * D[None, :]
        z0 = rng.normal(size=3)
        np.testing.assert_allclose(ode.flow(z0, 0.5), WD @ z0 + h, atol=1e-10)
        np.testing.assert_allclose(ode.matrix * 0.5, np.real(__import__("scipy").linalg.logm(WD)), atol=1e-10)
    with pytest.raises(ValueError, match="negative real eigenvalue"):
        continuous_time_equivalent([-0.5, 0.5], np.zeros((2, 2)), [0.0, 0.0], [True, True])
    with pytest.raises(ValueError, match="shape"):
        continuous_time_equivalent(A, W, h, [True, False])


def test_dispatch_on_plrnn_estimators():
    rng = np.random.default_rng(2)
    A, W, h = random_plrnn(rng, 3)
    van = build_map(A=A, W=W, h=h)
    assert same_sets(fixed_points(van).points, brute_vanilla(A, W, h))
    M, H = 3, 5
    W1, W2 = rng.normal(size=(M, H)), rng.normal(size=(H, M))
    h1, h2 = rng.normal(size=M) * 0.3, np.abs(rng.normal(size=H))
    for arch in ("shallow", "clipped_shallow"):
        est = build_map(A=np.full(M, 0.5), W1=W1, W2=W2, h1=h1, h2=h2, clipped=arch == "clipped_shallow")
        ref = shallow_plrnn_fixed_points(np.full(M, 0.5), W1, W2, h1, h2, clipped=arch == "clipped_shallow")
        assert same_sets(fixed_points(est).points, ref.points)
        assert len(cycles(est, 2, method="scyfi", max_solves=200).orbits.shape) == 3
    with pytest.raises(ValueError, match="latent_map"):  # a parameter holder is not read attribute by attribute
        fixed_points(SimpleNamespace(A_=A, W_=W, h_=h, architecture="vanilla"))


def test_fitted_plrnn_estimator_end_to_end():
    from sklearn_lrnn.plrnn import PLRNNRegressor
    from sklearn_lrnn.datasets._systems import make_lorenz63

    X = np.asarray(make_lorenz63(300, burn_in=100, random_state=0))
    est = PLRNNRegressor(n_latents=3, n_hidden=8, sequence_length=20, batch_size=4, batches_per_epoch=2,
                         max_iter=1, random_state=0, compute_fixed_points=False).fit(X)
    fp = fixed_points(est)
    assert fp.exact and fp.points.shape[1] == 3
    assert np.isfinite(max_lyapunov_exponent(est, n_steps=200, burn_in=50))


@pytest.mark.parametrize("call, match", [
    (lambda: plrnn_fixed_points([0.5, 0.5], np.zeros((2, 3)), [0, 0]), "square"),
    (lambda: plrnn_fixed_points([0.5, 0.5], np.zeros((2, 2)), [0, 0, 0]), "h must have shape"),
    (lambda: plrnn_fixed_points([0.5, np.nan], np.zeros((2, 2)), [0, 0]), "NaN"),
    (lambda: plrnn_fixed_points(np.ones((2, 3)), np.zeros((2, 2)), [0, 0]), "square"),
    (lambda: shallow_plrnn_fixed_points([0.5], np.zeros((1, 3)), np.zeros((2, 1)), [0], [0, 0]), "W2"),
    (lambda: shallow_plrnn_fixed_points([0.5], np.zeros((2, 3)), np.zeros((3, 1)), [0], [0, 0, 0]), "W1"),
    (lambda: plrnn_fixed_points([0.5], [[0.0]], [0.0], method="fast"), "method"),
    (lambda: find_cycles(A=[0.5], W=[[0.0]], h=[0.0], order=0), "order"),
    (lambda: find_cycles(A=[0.5], W=[[0.0]], order=2), "pass a fitted"),
    (lambda: scyfi_fixed_points(left=np.ones((2, 1)), right=np.ones((1, 2)), bias=[0, 0], decay=0.5,
                                activation="tanh"), "piecewise-linear"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
