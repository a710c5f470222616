"""Held-out evaluation of continuous recordings: the protocol, its scorers, and whether it tells a correct
model class from a wrong one."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import TimeSeriesSplit, cross_validate

from sklearn_lrnn import PLRNNRegressor, StochasticLowRankRNN
from sklearn_lrnn.datasets import make_low_rank_teacher
from sklearn_lrnn.metrics import held_out_evaluation, held_out_scorers, latent_forecast, prediction_error

TINY = dict(max_iter=5, learning_rate_schedule="exponential", compute_fixed_points=False, random_state=0)


@pytest.fixture(scope="module")
def recording():
    return make_low_rank_teacher(n_trials=1, n_timesteps=400, n_units=6, random_state=0).X[0]


def test_limit_cycle_teacher_ranks_relu_model_above_linear_baseline():
    """A rank-2 relu teacher with a limit cycle, one recording of 1000 steps fitted on its first 750: the
    relu model (the teacher's class) must generate data closer to the held-out part than the linear
    baseline, which cannot have a limit cycle (measured: D_stsp 0.17 vs 0.72, D_H 0.024 vs 0.063)."""
    X = make_low_rank_teacher(n_trials=1, n_timesteps=1000, n_units=8, random_state=0).X[0]
    settings = dict(rank=2, max_iter=400, learning_rate=1e-2, learning_rate_schedule="exponential",
                    final_learning_rate=1e-3, compute_fixed_points=False, random_state=0)
    res = {act: held_out_evaluation(StochasticLowRankRNN(activation=act, **settings), X, k_steps=(1, 20), n_draws=2)
           for act in ("linear", "relu")}
    relu, linear = res["relu"], res["linear"]
    assert relu.n_train == 750 and relu.n_test == 250 and relu.n_parameters == linear.n_parameters
    assert relu.state_space_divergence < 0.5 * linear.state_space_divergence
    assert relu.power_spectrum_distance < linear.power_spectrum_distance
    assert relu.prediction_error[20] < linear.prediction_error[20]
    # both likelihoods are finite per-bin values of the same data (the linear one exact)
    assert np.isfinite(relu.log_likelihood) and np.isfinite(linear.log_likelihood)


def test_protocol_splits_in_time_and_scores_the_rest(recording):
    res = held_out_evaluation(StochasticLowRankRNN(activation="linear", **TINY), recording, train_fraction=0.6,
                              k_steps=(1, 10), n_draws=2)
    assert (res.n_train, res.n_test) == (240, 160)
    model = res.estimator
    assert model.n_features_in_ == 6 and model.n_iter_ == 5
    assert res.log_likelihood == pytest.approx(model.score(recording[240:]))
    assert res.prediction_error[10] == pytest.approx(
        prediction_error(lambda X, n: latent_forecast(model, X, n), recording[240:], n_steps=10))
    assert res.state_space_divergence_draws.shape == (2,) and res.power_spectrum_distance_draws.shape == (2,)
    assert res.state_space_divergence == pytest.approx(res.state_space_divergence_draws.mean())
    assert res.fit_seconds > 0 and res.n_parameters == model.n_parameters_


def test_plrnn_has_no_likelihood_but_forecasts_and_generates(recording):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2 epochs: ConvergenceWarning
        res = held_out_evaluation(PLRNNRegressor(n_latents=6, n_hidden=8, max_iter=2, random_state=0), recording,
                                  k_steps=(1, 5), n_draws=1)
    assert np.isnan(res.log_likelihood)
    assert all(np.isfinite(v) for v in res.prediction_error.values())
    assert res.prediction_error[1] == pytest.approx(prediction_error(res.estimator, recording[300:], n_steps=1))
    assert np.isfinite(res.state_space_divergence) and np.isfinite(res.power_spectrum_distance)


def test_latent_forecast_of_linear_model_is_the_kalman_prediction():
    data = make_low_rank_teacher(n_trials=4, n_timesteps=30, n_units=6, random_state=1)
    model = StochasticLowRankRNN(activation="linear", **TINY).fit(data.X)
    k = 3
    J = model.decay_ * np.eye(2) + model.right_vectors_ @ model.left_vectors_
    c = -model.right_vectors_ @ model.bias_
    z = model.transform(data.X)[:, :-k]  # filtering means
    for _ in range(k):
        z = z @ J.T + c
    expected = z @ model.observation_matrix_.T + model.observation_offset_
    np.testing.assert_allclose(latent_forecast(model, data.X, k), expected, rtol=1e-4, atol=1e-5)
    as_list = latent_forecast(model, list(data.X), k)
    assert isinstance(as_list, list) and as_list[0].shape == (27, 6)


def test_held_out_scorers_in_cross_validate_with_time_series_split(recording):
    scoring = held_out_scorers(k_steps=(1, 10), n_draws=1)
    cv = cross_validate(StochasticLowRankRNN(activation="linear", **TINY), recording,
                        cv=TimeSeriesSplit(2, test_size=100), scoring=scoring)
    for key in ("log_likelihood", "neg_prediction_error_1", "neg_prediction_error_10",
                "neg_state_space_divergence", "neg_power_spectrum_distance"):
        assert np.all(np.isfinite(cv[f"test_{key}"])), key
    assert np.all(cv["test_neg_prediction_error_1"] < 0)
    assert repr(scoring["neg_prediction_error_10"]) == "held_out_prediction_error(k=10)"


@pytest.mark.parametrize("kwargs,match", [
    (dict(train_fraction=1.0), "train_fraction"),
    (dict(train_fraction=True), "train_fraction"),
    (dict(k_steps=(1, 0)), "positive integers"),
    (dict(k_steps=()), "at least one"),
    (dict(k_steps=(150,)), "longer than the largest forecast horizon"),
    (dict(n_draws=0), "n_draws"),
])
def test_invalid_arguments_are_named(recording, kwargs, match):
    with pytest.raises(ValueError, match=match):
        held_out_evaluation(StochasticLowRankRNN(**TINY), recording, **kwargs)


def test_trials_are_refused_with_advice():
    X = make_low_rank_teacher(n_trials=3, n_timesteps=30, n_units=6, random_state=0).X
    with pytest.raises(ValueError, match="cross-validate by trial"):
        held_out_evaluation(StochasticLowRankRNN(**TINY), X)
    with pytest.raises(ValueError, match="u must be one 2-D array"):
        held_out_evaluation(StochasticLowRankRNN(**TINY), X[0], u=np.zeros((10, 1)), k_steps=(1,))
