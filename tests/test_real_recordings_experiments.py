"""The real-recording experiments (benchmarks/real_reaching.py, real_fmri.py and their helpers in
benchmarks/real_recordings.py) on the shared recordings: small and fast; skipped without ../shared."""

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _benchmark_script(name):
    """``benchmarks/<name>.py`` as a module (benchmarks/ on sys.path, as the scripts put it themselves)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def rr():
    return _benchmark_script("real_recordings")


@pytest.fixture(scope="module")
def fmri_script():
    return _benchmark_script("real_fmri")


@pytest.fixture
def m1(shared_dir, rr):
    return rr.load_m1(str(shared_dir / "data"))


def test_missing_data_is_a_clear_error(rr, tmp_path):
    with pytest.raises(rr.DataMissing, match="m1_reaching.npz not found.*shared data folder"):
        rr.load_m1(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="fmri_timeseries.csv not found"):
        rr.load_fmri(str(tmp_path))


def test_movement_epochs_on_the_real_kinematics(m1, rr):
    assert m1["spike_counts"].shape == (15536, 171) and m1["bin_size"] == pytest.approx(0.05)
    mov = rr.detect_movements(m1["hand_velocity"], m1["hand_position"])
    n = len(mov["onset"])
    assert 250 <= n <= 500, n  # about one reach every 2 s over 13 min (352 with the defaults)
    assert np.all(np.diff(mov["onset"]) > 0) and np.all(mov["offset"] > mov["onset"])
    assert np.all(mov["offset"][:-1] <= mov["onset"][1:])  # disjoint epochs
    speed = np.hypot(*m1["hand_velocity"].T)
    assert np.all(speed[mov["onset"]] > 0.03) and np.all(mov["peak_speed"] > 0.1)
    before = mov["onset"][mov["onset"] > 0] - 1
    assert np.all(speed[before] <= 0.03)  # the hand was (nearly) still just before each onset
    # reaches of 5-10 cm in every one of the 8 directions, in similar numbers
    assert np.median(mov["distance"]) == pytest.approx(0.08, abs=0.02)
    per_dir = np.bincount(mov["direction"], minlength=8)
    assert per_dir.min() >= 0.5 * n / 8, per_dir

    tr = rr.reaching_trials(m1)
    assert tr["counts"].shape[1:] == (30, 171) and 250 <= len(tr["counts"]) <= n
    assert np.bincount(tr["direction"], minlength=8).min() >= 20
    onset_rows = np.hypot(*tr["velocity"][:, tr["before"]].T)
    pre_rows = np.hypot(*tr["velocity"][:, : tr["before"] - 2].T)
    assert np.median(pre_rows) < 0.5 * np.median(onset_rows) or np.median(pre_rows) < 0.03
    assert tr["moving"][:, tr["before"]].all() and not tr["moving"][:, : tr["before"]].any()
    assert np.all(np.diff(tr["onset"]) >= 30)  # trials are disjoint windows of the recording


def test_direction_sectors(rr):
    T = 40
    for sector in range(8):
        ang = sector * np.pi / 4 + 0.3  # within +- 22.5 degrees of the sector centre
        v = np.zeros((T, 2))
        v[10:20] = 0.2 * np.array([np.cos(ang), np.sin(ang)])
        p = np.cumsum(v, 0) * 0.05
        mov = rr.detect_movements(v, p)
        assert mov["direction"].tolist() == [sector] and mov["onset"].tolist() == [10]
        assert mov["offset"].tolist() == [20]


def test_time_block_folds(rr):
    folds = rr.time_block_folds(23, 5)
    assert len(folds) == 5
    tests = [te for _, te in folds]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(23))
    for tr, te in folds:
        assert np.all(np.diff(te) == 1) and not set(tr) & set(te) and len(tr) + len(te) == 23


def test_tiny_reaching_fit_decodes_velocity(m1, rr):
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_lrnn import StochasticLowRankRNN

    tr = rr.reaching_trials(m1)
    X, V = tr["counts"][:80], tr["velocity"][:80]
    train, test = np.arange(64), np.arange(64, 80)
    model = StochasticLowRankRNN(rank=3, observation="poisson", max_iter=15, compute_fixed_points=False,
                                 random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[train])
    assert np.all(np.isfinite(model.loss_curve_))
    Ztr, Zte = model.transform(X[train], method="smoothing"), model.transform(X[test], method="smoothing")
    assert Ztr.shape == (64, 30, 3) and np.all(np.isfinite(Zte))
    r2 = rr.decode_r2(Ztr, V[train], Zte, V[test])[0]
    perm = np.random.default_rng(0).permutation(len(train))
    r2_shuffled = rr.decode_r2(Ztr[perm], V[train], Zte, V[test])[0]  # latents of other reaches
    assert r2 > 0.05 and r2 > r2_shuffled + 0.05, (r2, r2_shuffled)


def test_pca_baseline_decodes_velocity(m1, rr):
    tr = rr.reaching_trials(m1)
    S, V = rr.smooth_counts(tr["counts"]), tr["velocity"]
    train, test = rr.time_block_folds(len(S), 5)[0]
    Ptr, Pte = rr.pca_latents(S[train], S[test], 4)
    assert Ptr.shape == (len(train), 30, 4)
    assert rr.decode_r2(Ptr, V[train], Pte, V[test])[0] > 0.2


def test_fmri_functions_on_a_slice(shared_dir, fmri_script):
    fm = fmri_script
    data, names, tr = fm.rr.load_fmri(str(shared_dir / "data"))
    assert data.shape == (250, 31) and len(names) == 31 and tr == pytest.approx(1.89)
    X_train, X_test = fm.split(data[:120, :8])
    assert X_train.shape == (90, 8) and X_test.shape == (30, 8)
    np.testing.assert_allclose(X_train.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(X_train.std(0), 1)
    rows = {name: fm.run_model(name, 0, X_train, X_test, rank=2, n_gen=60, burn_in=10, n_draws=1, quick=True)
            for name in ("var1_full", "var2_pc5", "persistence", "mean", "lrnn")}
    for name, r in rows.items():
        assert set(r["prediction_error"]) == set(fm.K_STEPS), name
        assert all(np.isfinite(v) and v > 0 for v in r["prediction_error"].values()), (name, r)
    assert rows["persistence"]["prediction_error"][1] < rows["mean"]["prediction_error"][1]  # smooth BOLD
    for name in ("var1_full", "var2_pc5", "lrnn"):
        assert np.isfinite(rows[name]["dstsp"]) and 0 <= rows[name]["dh"] <= 1, rows[name]
    assert np.isfinite(rows["lrnn"]["log_likelihood"])


def test_var_baseline_recovers_a_var(fmri_script):
    rng = np.random.default_rng(0)
    A = np.array([[0.8, 0.1], [-0.2, 0.7]])
    X = np.zeros((3000, 2))
    for t in range(1, len(X)):
        X[t] = X[t - 1] @ A.T + 0.1 * rng.standard_normal(2)
    var = fmri_script.VAR(1).fit(X)
    np.testing.assert_allclose(var.W[:2].T, A, atol=0.05)
    f = var.forecast(X[-100:], 1)
    np.testing.assert_allclose(f, X[-100:-1] @ A.T, atol=0.05)
    np.testing.assert_allclose(var.sigma, 0.01 * np.eye(2), atol=0.002)
