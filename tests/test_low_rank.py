"""StochasticLowRankRNN: containers, reproducibility, persistence, bad input, training options."""

import pickle

import numpy as np
import pytest
import torch

from sklearn_lrnn import StochasticLowRankRNN, load, save, split_by_lengths
from sklearn_lrnn.datasets import make_low_rank_teacher

FAST = dict(rank=2, max_iter=2, n_particles=4, batch_size=4, window_length=10, random_state=0,
            compute_fixed_points=False)


@pytest.fixture(scope="module")
def data():
    return make_low_rank_teacher(n_trials=12, n_timesteps=20, n_units=8, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    return StochasticLowRankRNN(**FAST).fit(data.X)


def test_three_containers_mirror_outputs(data):
    X3 = data.X
    Xlist = [X3[0], X3[1, :15], X3[2, :12]]
    X2 = X3.reshape(-1, X3.shape[-1])
    for X, check in [
        (X3, lambda Z: Z.shape == (12, 20, 2)),
        (Xlist, lambda Z: isinstance(Z, list) and [z.shape for z in Z] == [(20, 2), (15, 2), (12, 2)]),
        (X2, lambda Z: Z.shape == (240, 2)),
    ]:
        model = StochasticLowRankRNN(**FAST).fit(X)
        Z = model.transform(X)
        assert check(Z)
        assert model.n_features_in_ == 8
        assert np.all(np.isfinite(model.loss_curve_))
        assert model.score_samples(X).shape == (len(X) if isinstance(X, list) else (12 if X.ndim == 3 else 1),)
        Xhat = model.inverse_transform(Z)
        assert (Xhat.shape == X.shape) if not isinstance(X, list) else [x.shape for x in Xhat] == [x.shape for x in X]


def test_list_of_equal_trials_equals_3d(data):
    a = StochasticLowRankRNN(**FAST).fit(data.X)
    b = StochasticLowRankRNN(**FAST).fit(list(data.X))
    np.testing.assert_allclose(a.left_vectors_, b.left_vectors_)
    np.testing.assert_allclose(a.transform(data.X), np.stack(b.transform(list(data.X))))


def test_random_state_reproducible(data, fitted):
    again = StochasticLowRankRNN(**FAST).fit(data.X)
    np.testing.assert_array_equal(fitted.left_vectors_, again.left_vectors_)
    np.testing.assert_array_equal(fitted.loss_curve_, again.loss_curve_)
    np.testing.assert_array_equal(fitted.transform(data.X), again.transform(data.X))
    other = StochasticLowRankRNN(**{**FAST, "random_state": 1}).fit(data.X)
    assert not np.allclose(fitted.left_vectors_, other.left_vectors_)


def test_score_is_deterministic_and_finite(data, fitted):
    s1, s2 = fitted.score(data.X), fitted.score(data.X)
    assert s1 == s2 and np.isfinite(s1)
    w = np.ones(len(data.X))
    assert fitted.score(data.X, sample_weight=w) == pytest.approx(s1)
    with pytest.raises(ValueError, match="sample_weight"):
        fitted.score(data.X, sample_weight=np.ones(3))


def test_pickle_and_save_load_round_trip(tmp_path, data, fitted):
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.transform(data.X), fitted.transform(data.X))
    assert clone.score(data.X) == fitted.score(data.X)
    path = tmp_path / "missing" / "folder" / "model.pkl"  # output folder is created
    save(fitted, path)
    loaded = load(path)
    np.testing.assert_array_equal(loaded.transform(data.X), fitted.transform(data.X))
    assert loaded.saved_versions_["torch"] == torch.__version__
    # no torch tensor lives in the fitted state except the (CPU) optimiser state
    assert all(isinstance(v, np.ndarray) for v in fitted._state.values())


def test_sample_shapes_and_seed(fitted):
    X, Z = fitted.sample(3, 25, random_state=0)
    assert X.shape == (3, 25, 8) and Z.shape == (3, 25, 2)
    X2, _ = fitted.sample(3, 25, random_state=0)
    np.testing.assert_array_equal(X, X2)
    _, Zd = fitted.sample(2, 10, z0=np.zeros(2), noise_scale=0.0)
    np.testing.assert_array_equal(Zd[0], Zd[1])  # deterministic from the same start
    with pytest.raises(ValueError, match="z0"):
        fitted.sample(2, 10, z0=np.zeros(3))


def test_fitted_attributes(fitted):
    assert fitted.left_vectors_.shape == (8, 2) and fitted.right_vectors_.shape == (2, 8)
    assert fitted.bias_.shape == (8,) and 0 < fitted.decay_ < 1
    assert fitted.noise_cov_.shape == (2, 2) and np.all(np.linalg.eigvalsh(fitted.noise_cov_) > 0)
    assert fitted.n_iter_ == 2 and fitted.converged_ is False and fitted.device_ == "cpu"
    assert fitted.n_parameters_ > 0


def test_parameter_count_of_the_published_eeg_model():
    X = np.random.default_rng(0).standard_normal((60, 64))
    model = StochasticLowRankRNN(rank=3, n_units=512, activation="clipped_relu", max_iter=1, window_length=50,
                                 n_particles=2, batch_size=1, compute_fixed_points=False, random_state=0).fit(X)
    assert model.n_parameters_ == 3920  # LR-SMC Table 1


def test_warm_start_and_partial_fit_continue(data):
    model = StochasticLowRankRNN(**{**FAST, "warm_start": True}).fit(data.X)
    first = model.left_vectors_.copy()
    model.fit(data.X)
    assert model.n_iter_ == 4 and len(model.loss_curve_) == 4
    assert not np.allclose(first, model.left_vectors_)
    pf = StochasticLowRankRNN(**FAST)
    pf.partial_fit(data.X)
    pf.partial_fit(data.X)
    assert pf.n_iter_ == 2


def test_early_stopping_keeps_best_and_stops(data):
    model = StochasticLowRankRNN(**{**FAST, "max_iter": 30, "early_stopping": True, "n_iter_no_change": 1,
                                    "tol": 1e3, "validation_fraction": 0.25}).fit(data.X)
    # plateau schedule: the rate drops twice (lr, lr/10, lr/100), the third plateau stops training
    assert model.converged_ and model.n_iter_ == 4
    assert len(model.validation_loss_curve_) == 4
    np.testing.assert_allclose(model.learning_rate_curve_, [1e-3, 1e-3, 1e-4, 1e-5])


@pytest.mark.parametrize("bad,match", [
    (np.full((3, 10, 8), np.nan), "NaN"),
    (np.zeros((3, 10, 8, 2)), "3-D array"),
    (np.zeros(10), "1-D"),
    ([], "empty"),
    (np.zeros((5, 8)), "window_length"),
    (np.zeros((0, 10, 8)), "no trials"),
    ([np.zeros((10, 8)), np.zeros((10, 7))], "same number of features"),
])
def test_bad_input_raises_and_leaves_unfitted(bad, match):
    model = StochasticLowRankRNN(**FAST)
    with pytest.raises(ValueError, match=match):
        model.fit(bad)
    assert not hasattr(model, "left_vectors_")


def test_bad_input_keeps_previous_fit(data, fitted):
    model = pickle.loads(pickle.dumps(fitted))
    before = model.left_vectors_.copy()
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full_like(data.X, np.nan))
    np.testing.assert_array_equal(model.left_vectors_, before)
    with pytest.raises(ValueError, match="8 features"):
        model.transform(data.X[..., :5])


@pytest.mark.parametrize("param,value", [
    ("activation", "Relu"), ("proposal", "optimall"), ("rank", 0), ("decay", 1.5), ("resampling", "x"),
    ("ess_threshold", 2.0), ("observation", "poison"),
])
def test_invalid_parameters_fail_early(data, param, value):
    with pytest.raises(ValueError, match=param):
        StochasticLowRankRNN(**{**FAST, param: value}).fit(data.X)


def test_currents_readout_needs_matching_units(data):
    with pytest.raises(ValueError, match="n_units"):
        StochasticLowRankRNN(**{**FAST, "observation": "gaussian_currents", "n_units": 5}).fit(data.X)


def test_options_run(data):
    for kw in [dict(activation="clipped_relu", transition_noise="diag"), dict(activation="tanh", proposal="bootstrap"),
               dict(resampling="multinomial", ess_threshold=0.5, transition_noise="scalar"),
               dict(observation="gaussian_currents", grad_clip=1.0, train_noise=False, noise_std=0.3)]:
        model = StochasticLowRankRNN(**{**FAST, **kw}).fit(data.X)
        assert np.isfinite(model.score(data.X))
    fixed = StochasticLowRankRNN(**{**FAST, "train_noise": False, "noise_std": 0.3}).fit(data.X)
    np.testing.assert_allclose(np.sqrt(np.diag(fixed.noise_cov_)), 0.3, rtol=1e-5)


def test_verbose_progress(data, capsys):
    StochasticLowRankRNN(**{**FAST, "verbose": 2}).fit(data.X)
    assert "epoch 2" in capsys.readouterr().out


def test_split_by_lengths():
    trials = split_by_lengths(np.arange(10.0).reshape(5, 2), [2, 3])
    assert [t.shape for t in trials] == [(2, 2), (3, 2)]
    with pytest.raises(ValueError, match="sum"):
        split_by_lengths(np.zeros((5, 2)), [2, 2])


def test_device_validation(data):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="CUDA"):
        StochasticLowRankRNN(**{**FAST, "device": "cuda"}).fit(data.X)


def test_fixed_points_are_a_fixed_points_object_as_in_plrnn(data, fitted):
    from sklearn_lrnn.dynamics import FixedPoints

    assert fitted.fixed_points_ is None  # compute_fixed_points=False
    assert not hasattr(fitted, "fixed_point_stability_")
    model = StochasticLowRankRNN(**{**FAST, "compute_fixed_points": True}).fit(data.X)
    fps = model.fixed_points_
    assert isinstance(fps, FixedPoints) and fps.exact and fps.points.shape[1] == 2
    with pytest.warns(FutureWarning, match="fixed_points_.stability"):
        np.testing.assert_array_equal(model.fixed_point_stability_, fps.stability)
    with pytest.warns(FutureWarning, match="fixed_points_.eigvals"):
        np.testing.assert_array_equal(model.fixed_point_eigvals_, fps.eigvals)


def test_arrays_of_fixed_points_saved_before_load_as_a_fixed_points_object(data):
    from sklearn_lrnn.dynamics import FixedPoints

    model = StochasticLowRankRNN(**{**FAST, "compute_fixed_points": True}).fit(data.X)
    fps = model.fixed_points_
    state = model.__getstate__()  # the state as versions before FixedPoints held it: three arrays
    state.update(fixed_points_=fps.points, fixed_point_stability_=fps.stability, fixed_point_eigvals_=fps.eigvals)
    old = StochasticLowRankRNN.__new__(StochasticLowRankRNN)
    old.__setstate__(state)
    assert isinstance(old.fixed_points_, FixedPoints) and "fixed_point_stability_" not in vars(old)
    for field in ("points", "stability", "eigvals", "spiral", "exact"):
        np.testing.assert_array_equal(getattr(old.fixed_points_, field), getattr(fps, field))
