"""PerTimeBin: container round trips, pipelines on 3-D data, metadata, scikit-learn's common checks."""

import numpy as np
import pytest
import sklearn
from sklearn.base import is_classifier, is_regressor
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_lrnn.preprocessing import PerTimeBin


@parametrize_with_checks([PerTimeBin(Ridge()), PerTimeBin(LogisticRegression())])
def test_sklearn_compatible(estimator, check):
    # 2-D X is one recording whose rows are time bins: the inner estimator sees it unchanged, so every
    # common check applies and none is expected to fail.
    check(estimator)


def _regression(n_trials=6, T=30, D=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_trials, T, D))
    W = rng.normal(size=(D, 2))
    return X, X @ W + 0.01 * rng.normal(size=(n_trials, T, 2))


def test_round_trips_containers_and_matches_flat_fit():
    X, y = _regression()
    flat = Ridge(alpha=0.5).fit(X.reshape(-1, 3), y.reshape(-1, 2))
    model = PerTimeBin(Ridge(alpha=0.5)).fit(X, y)
    pred = model.predict(X)
    assert pred.shape == (6, 30, 2)
    assert np.allclose(pred, flat.predict(X.reshape(-1, 3)).reshape(6, 30, 2))
    assert model.n_features_in_ == 3 and isinstance(model.estimator_, Ridge)
    assert model.score(X, y) == pytest.approx(flat.score(X.reshape(-1, 3), y.reshape(-1, 2)))
    # list of trials of different lengths in, list out
    trials = [X[0], X[1, :11], X[2, :25]]
    targets = [y[0], y[1, :11], y[2, :25]]
    listed = PerTimeBin(Ridge(alpha=0.5)).fit(trials, targets)
    out = listed.predict(trials)
    assert isinstance(out, list) and [o.shape for o in out] == [(30, 2), (11, 2), (25, 2)]
    ref = Ridge(alpha=0.5).fit(np.concatenate(trials), np.concatenate(targets))
    assert np.allclose(np.concatenate(out), ref.predict(np.concatenate(trials)))
    # 2-D (one recording) in, 2-D out; 1-output 2-D y per trial and bin keeps its shape too
    assert model.predict(X[0]).shape == (30, 2)
    one = PerTimeBin(Ridge()).fit(X, y[..., 0])
    assert one.predict(X).shape == (6, 30)
    assert isinstance(PerTimeBin(Ridge()).fit(trials, [t[:, 0] for t in targets]).predict(trials)[1], np.ndarray)


def test_classifier_per_bin_labels_and_proba():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 20, 2))
    labels = (X[..., 0] + X[..., 1] > 0).astype(int)  # (n_trials, T) labels
    clf = PerTimeBin(LogisticRegression()).fit(X, labels)
    assert is_classifier(clf) and not is_regressor(clf)
    assert clf.predict(X).shape == (8, 20)
    assert clf.predict_proba(X).shape == (8, 20, 2)
    assert clf.decision_function(X).shape == (8, 20)
    assert np.allclose(clf.predict_proba(X).sum(-1), 1.0)
    assert list(clf.classes_) == [0, 1]
    assert clf.score(X, labels) > 0.95
    assert is_regressor(PerTimeBin(Ridge()))


def test_transformer_and_clusterer_inner():
    X, _ = _regression()
    scaler = PerTimeBin(StandardScaler()).fit(X)
    Xt = scaler.transform(X)
    assert Xt.shape == X.shape
    assert np.allclose(Xt.reshape(-1, 3).mean(0), 0) and np.allclose(Xt.reshape(-1, 3).std(0), 1)
    assert not hasattr(scaler, "predict") and not hasattr(PerTimeBin(Ridge()), "predict_proba")
    assert hasattr(PerTimeBin(Ridge()), "predict") and not hasattr(PerTimeBin(Ridge()), "transform")
    km = PerTimeBin(KMeans(n_clusters=2, n_init=2, random_state=0)).fit(X)
    assert km.predict(X).shape == (6, 30) and km.transform(X).shape == (6, 30, 2)


def _to_latents(X):
    """Stand-in for a latent model: a fixed nonlinear map that keeps the (n_trials, T, k) layout."""
    return np.concatenate([np.tanh(X), X**2], axis=-1)


def test_pipeline_on_3d_X_and_3d_y_and_model_selection():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 40, 2))
    y = (np.tanh(X) @ np.array([[1.0], [-1.0]])) + (X**2) @ np.array([[0.5], [0.0]])  # (12, 40, 1)
    pipe = make_pipeline(FunctionTransformer(_to_latents), PerTimeBin(Ridge(alpha=1e-3)))
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (12, 40, 1)
    assert pipe.score(X, y) > 0.999
    raw = PerTimeBin(Ridge(alpha=1e-3)).fit(X, y)
    assert raw.score(X, y) < 0.9  # the decoder on raw data cannot express the nonlinearity
    # trials are axis 0: scikit-learn's splitters cross-validate by trial
    scores = cross_val_score(pipe, X, y, cv=KFold(3))
    assert scores.shape == (3,) and np.all(scores > 0.99)
    search = GridSearchCV(pipe, {"pertimebin__estimator__alpha": [1e-3, 1e4]}, cv=3).fit(X, y)
    assert search.best_params_ == {"pertimebin__estimator__alpha": 1e-3}
    assert search.predict(X[:2]).shape == (2, 40, 1)


def test_sample_weight_per_bin_and_per_trial():
    X, y = _regression(n_trials=4, T=10)
    w_trial = np.array([1.0, 2.0, 0.5, 3.0])
    w_bin = np.random.default_rng(3).uniform(0.1, 2, size=(4, 10))
    for w, flat_w in ((w_trial, np.repeat(w_trial, 10)), (w_bin, w_bin.ravel())):
        got = PerTimeBin(Ridge()).fit(X, y, sample_weight=w).estimator_.coef_
        want = Ridge().fit(X.reshape(-1, 3), y.reshape(-1, 2), sample_weight=flat_w).coef_
        assert np.allclose(got, want)
    model = PerTimeBin(Ridge()).fit(X, y)
    assert model.score(X, y, sample_weight=w_trial) == pytest.approx(
        model.estimator_.score(X.reshape(-1, 3), y.reshape(-1, 2), sample_weight=np.repeat(w_trial, 10))
    )


def test_metadata_routing():
    X, y = _regression(n_trials=4, T=10)
    w = np.array([1.0, 2.0, 0.5, 3.0])
    want = Ridge().fit(X.reshape(-1, 3), y.reshape(-1, 2), sample_weight=np.repeat(w, 10)).coef_
    with sklearn.config_context(enable_metadata_routing=True):
        routed = PerTimeBin(Ridge().set_fit_request(sample_weight=True)).fit(X, y, sample_weight=w)
        assert np.allclose(routed.estimator_.coef_, want)
        with pytest.raises(TypeError, match="not routed to any object"):  # explicitly not requested
            PerTimeBin(Ridge().set_fit_request(sample_weight=False)).fit(X, y, sample_weight=w)
        with pytest.raises(ValueError, match="sample_weight"):  # unset request: scikit-learn's error
            PerTimeBin(Ridge()).fit(X, y, sample_weight=w)
        pipe = make_pipeline(FunctionTransformer(), PerTimeBin(Ridge().set_fit_request(sample_weight=True)))
        pipe.fit(X, y, sample_weight=w)
        assert np.allclose(pipe[-1].estimator_.coef_, want)
        routing = PerTimeBin(Ridge().set_fit_request(sample_weight=True)).get_metadata_routing()
        assert "sample_weight" in str(routing)


def test_bad_input():
    X, y = _regression()
    with pytest.raises(ValueError, match="6 trials"):
        PerTimeBin(Ridge()).fit(X, y[:4])
    with pytest.raises(ValueError, match="trial 0 has 20 time bins but X has 30"):
        PerTimeBin(Ridge()).fit(X, y[:, :20])
    with pytest.raises(ValueError, match="Reshape your data"):
        PerTimeBin(Ridge()).fit(X[0, :, 0], y[0, :, 0])
    with pytest.raises(ValueError, match="4-D"):
        PerTimeBin(Ridge()).fit(X[None], y)
    model = PerTimeBin(Ridge()).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but PerTimeBin is expecting 3"):
        model.predict(X[..., :2])
    with pytest.raises(NotFittedError):
        PerTimeBin(Ridge()).predict(X)
    bad = X.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PerTimeBin(Ridge()).fit(bad, y)
    with pytest.raises(ValueError, match="same number of features"):
        PerTimeBin(Ridge()).fit([X[0], X[1, :, :2]], [y[0], y[1]])
