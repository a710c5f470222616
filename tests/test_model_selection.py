"""Day-to-day use: grid search over rank and noise, cross-validation by trial, a decoder pipeline,
metadata routing of inputs ``u``, and distributed search on a local dask cluster."""

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn.datasets import make_low_rank_teacher
from sklearn_lrnn.preprocessing import PerTimeBin

SMALL = dict(n_particles=8, batch_size=10, max_iter=25, learning_rate=1e-2,
             learning_rate_schedule="exponential", final_learning_rate=1e-3,
             random_state=0, compute_fixed_points=False)


@pytest.fixture(scope="module")
def teacher():
    return make_low_rank_teacher(n_trials=60, n_timesteps=40, n_units=10, random_state=1)


def test_grid_search_selects_the_teachers_rank(teacher):
    grid = {"rank": [1, 2, 3], "transition_noise": ["diag", "full"]}
    gs = GridSearchCV(StochasticLowRankRNN(**SMALL), grid, cv=KFold(3, shuffle=True, random_state=0)).fit(teacher.X)
    assert gs.best_params_["rank"] == 2
    scores = gs.cv_results_["mean_test_score"].reshape(3, 2)  # held-out ELBO per bin
    assert scores[1].max() > scores[0].max() + 1.0  # rank 1 cannot hold an oscillation


class ShapeSpy(StochasticLowRankRNN):
    """Records the shapes it is fitted and scored on (same parameters as its parent)."""

    seen: list = []

    def fit(self, X, y=None, *, u=None):
        ShapeSpy.seen.append(("fit", np.shape(X)))
        return super().fit(X, y, u=u)

    def score(self, X, y=None, *, u=None, sample_weight=None):
        ShapeSpy.seen.append(("score", np.shape(X)))
        return super().score(X, y, u=u, sample_weight=sample_weight)


def test_cross_val_score_splits_by_trial(teacher):
    ShapeSpy.seen = []
    scores = cross_val_score(ShapeSpy(rank=2, **{**SMALL, "max_iter": 2}), teacher.X, cv=KFold(3))
    assert len(scores) == 3 and np.all(np.isfinite(scores))
    fits = [s for kind, s in ShapeSpy.seen if kind == "fit"]
    tests = [s for kind, s in ShapeSpy.seen if kind == "score"]
    assert fits == [(40, 40, 10)] * 3 and tests == [(20, 40, 10)] * 3  # whole trials, time axis intact


def test_pipeline_decoder_beats_decoder_on_raw_data():
    # noisy observations of a latent the teacher encodes: the posterior pools evidence over time
    data = make_low_rank_teacher(n_trials=60, n_timesteps=40, n_units=10, obs_noise_std=1.0, random_state=2)
    X, y = data.X, data.Z
    cv = KFold(3, shuffle=True, random_state=0)
    pipe = make_pipeline(StochasticLowRankRNN(rank=2, **{**SMALL, "max_iter": 40}), PerTimeBin(Ridge(1e-3)))
    with_model = cross_val_score(pipe, X, y, cv=cv).mean()
    raw = cross_val_score(PerTimeBin(Ridge(1e-3)), X, y, cv=cv).mean()
    assert with_model > raw + 0.05, (with_model, raw)


class InputSpy(StochasticLowRankRNN):
    """Records which inputs reach fit / transform / score."""

    calls: list = []

    def fit(self, X, y=None, *, u=None):
        InputSpy.calls.append(("fit", None if u is None else np.shape(u)))
        return super().fit(X, y, u=u)

    def transform(self, X, *, u=None, method="filtering"):
        InputSpy.calls.append(("transform", None if u is None else np.shape(u)))
        return super().transform(X, u=u, method=method)

    def score(self, X, y=None, *, u=None, sample_weight=None):
        InputSpy.calls.append(("score", None if u is None else np.shape(u)))
        return super().score(X, y, u=u, sample_weight=sample_weight)


def test_inputs_are_routed_through_pipeline_cross_validate_and_grid_search(teacher):
    X = teacher.X[:30]
    u = np.random.default_rng(0).standard_normal((30, 40, 2))
    y = teacher.Z[:30]
    with sklearn.config_context(enable_metadata_routing=True):
        spy = InputSpy(rank=2, **{**SMALL, "max_iter": 1}).set_fit_request(u=True).set_transform_request(u=True)
        pipe = make_pipeline(spy, PerTimeBin(Ridge()))
        InputSpy.calls = []
        cross_validate(pipe, X, y, cv=KFold(3), params={"u": u})
        kinds = {k for k, _ in InputSpy.calls}
        assert kinds == {"fit", "transform"}
        assert all(shape is not None for _, shape in InputSpy.calls)  # u reached every step
        assert ("fit", (20, 40, 2)) in InputSpy.calls and ("transform", (10, 40, 2)) in InputSpy.calls

        InputSpy.calls = []
        gs = GridSearchCV(pipe, {"inputspy__rank": [1, 2]}, cv=KFold(2)).fit(X, y, u=u)
        assert all(shape is not None for _, shape in InputSpy.calls)
        assert gs.best_estimator_.predict(X, u=u).shape == y.shape

        # the estimator alone, scored by its held-out ELBO with routed inputs
        InputSpy.calls = []
        alone = InputSpy(rank=2, **{**SMALL, "max_iter": 1}).set_fit_request(u=True).set_score_request(u=True)
        cross_validate(alone, X, cv=KFold(2), params={"u": u})
        assert [k for k, _ in InputSpy.calls] == ["fit", "score"] * 2
        assert all(shape is not None for _, shape in InputSpy.calls)


def test_model_fitted_with_inputs_requires_them(teacher):
    u = np.random.default_rng(0).standard_normal((60, 40, 2))
    model = StochasticLowRankRNN(rank=2, **{**SMALL, "max_iter": 1}).fit(teacher.X, u=u)
    with pytest.raises(ValueError, match="inputs"):
        model.transform(teacher.X)
    with pytest.raises(ValueError, match="u"):
        model.transform(teacher.X, u=u[:, :30])


def test_dask_distributed_search_matches_serial(teacher):
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_backend

    grid = {"rank": [1, 2]}
    est = StochasticLowRankRNN(**{**SMALL, "max_iter": 8})
    cv = KFold(2, shuffle=True, random_state=0)
    serial = GridSearchCV(est, grid, cv=cv).fit(teacher.X)
    # two single-threaded worker processes: parallel fits don't oversubscribe the two cores
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with parallel_backend("dask"):
            dist = GridSearchCV(est, grid, cv=cv, n_jobs=-1).fit(teacher.X)
        assert len(client.scheduler_info()["workers"]) == 2
    assert dist.best_params_ == serial.best_params_
    np.testing.assert_allclose(dist.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"], rtol=1e-4)
