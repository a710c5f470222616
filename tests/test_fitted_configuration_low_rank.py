"""StochasticLowRankRNN freezes what its fit resolved: set_params changes no output until the next fit."""

import copy
import dataclasses
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_lrnn import StochasticLowRankRNN, load, save
from sklearn_lrnn.datasets import make_low_rank_teacher
from sklearn_lrnn.dynamics import TanhLowRankMap
from sklearn_lrnn.low_rank import LowRankConfig

FAST = dict(rank=2, max_iter=2, batch_size=4, n_particles=4, eval_particles=8, window_length=10, random_state=0,
            compute_fixed_points=False)

# one changed, valid value for every constructor parameter (a new parameter must be added here)
CHANGED = dict(
    rank=3, n_units=5, activation="tanh", observation="poisson", link="exp", poisson_columns=[0, 1],
    proposal="bootstrap", encoder_kernels=(3, 1), encoder_channels=(4,), encoder_padding="acausal", n_particles=7,
    resampling="multinomial", ess_threshold=0.5, transition_noise="diag", train_noise=False, noise_std=0.3,
    observation_noise_std=0.3, learn_initial_mean=False, decay=0.5, train_decay=False, input_filter=True,
    max_iter=3, batch_size=3, window_length=7, batches_per_epoch=2, learning_rate=1e-2,
    learning_rate_schedule="constant", final_learning_rate=1e-5, grad_clip=None, early_stopping=True,
    validation_fraction=0.3, n_iter_no_change=3, tol=0.1, n_init=2, n_jobs=2, eval_particles=5,
    compute_fixed_points=True, dynamics_budget=0.1, warm_start=True, device="cpu", random_state=7, verbose=1,
)
# where a base below already has the value of CHANGED
OTHER = dict(observation="gaussian")
# the fitted models: a Gaussian readout (optimal proposal) and a Poisson one (encoder proposal)
BASES = {
    "gaussian": dict(FAST),
    "poisson": dict(FAST, observation="poisson", encoder_kernels=(5, 1), encoder_channels=(6,)),
}


@pytest.fixture(scope="module")
def data():
    d = make_low_rank_teacher(n_trials=8, n_timesteps=15, n_units=6, random_state=0)
    counts = np.random.default_rng(0).poisson(1.0, size=d.X.shape).astype(float)
    return {"gaussian": d.X, "poisson": counts}


@pytest.fixture(scope="module")
def fitted(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: StochasticLowRankRNN(**params).fit(data[name]) for name, params in BASES.items()}


def _outputs(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z = model.transform(X)
        Xs, Zs = model.sample(2, 6, random_state=3)
        pmap = model.latent_map()
        return {
            "transform": Z, "smoothing": model.transform(X, method="smoothing"), "score": model.score(X),
            "score_samples": model.score_samples(X), "sample_X": Xs, "sample_Z": Zs,
            "inverse_transform": model.inverse_transform(Z), "latent_map": pmap.step(Z[0]),
            "names": model.get_feature_names_out(),
        }


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_every_parameter_has_a_changed_value():
    assert set(CHANGED) == set(StochasticLowRankRNN().get_params())
    defaults = StochasticLowRankRNN().get_params()
    for name, value in CHANGED.items():
        assert value != FAST.get(name, defaults[name]), name
        est = StochasticLowRankRNN(**{**FAST, name: value})  # valid on its own
        est._validate_params()
        est._check_param_combinations()


@pytest.mark.parametrize("base", sorted(BASES))
@pytest.mark.parametrize("name", sorted(CHANGED))
def test_set_params_after_fit_changes_no_output(data, fitted, base, name):
    X, model = data[base], copy.deepcopy(fitted[base])
    before = _outputs(model, X)
    config = model.config_
    value = OTHER[name] if name in BASES[base] and BASES[base][name] == CHANGED[name] else CHANGED[name]
    model.set_params(**{name: value})
    _assert_same(before, _outputs(model, X))
    assert model.config_ is config


def test_next_fit_uses_the_new_values(data, fitted):
    X = data["gaussian"]
    model = clone(fitted["gaussian"]).set_params(rank=3, activation="tanh", n_particles=5, eval_particles=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    cfg = model.config_
    assert (cfg.rank, cfg.activation, cfg.n_particles, cfg.eval_particles) == (3, "tanh", 5, 6)
    assert model.transform(X).shape == X.shape[:2] + (3,)
    assert isinstance(model.latent_map(), TanhLowRankMap)
    assert model.left_vectors_.shape == (X.shape[-1], 3)


def test_the_configuration_resolves_the_auto_options(fitted):
    gauss, poisson = fitted["gaussian"].config_, fitted["poisson"].config_
    assert (gauss.proposal, gauss.n_units, gauss.n_features, gauss.n_inputs) == ("optimal", 6, 6, 0)
    assert poisson.proposal == "encoder" and poisson.count_mask == (True,) * 6
    assert poisson.encoder_kernels == (5, 1) and not gauss.exact_likelihood
    with pytest.raises(dataclasses.FrozenInstanceError):
        gauss.rank = 3


def test_warm_start_keeps_the_shape_and_takes_the_training_options(data, fitted):
    X = data["gaussian"]
    model = copy.deepcopy(fitted["gaussian"]).set_params(warm_start=True, rank=3)
    with pytest.raises(ValueError, match="rank: 2 -> 3"):
        model.fit(X)
    assert model.config_.rank == 2  # nothing was fitted
    model.set_params(rank=2, n_particles=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X)
    assert model.config_.n_particles == 6


def test_the_configuration_survives_pickle_and_save(tmp_path, data, fitted):
    model = fitted["poisson"]
    path = tmp_path / "model.npz"
    save(model, path)
    for copy_ in (pickle.loads(pickle.dumps(model)), load(path)):
        assert isinstance(copy_.config_, LowRankConfig) and copy_.config_ == model.config_
        copy_.set_params(rank=3, encoder_kernels=(3, 1), activation="tanh")
        _assert_same(_outputs(model, data["poisson"]), _outputs(copy_, data["poisson"]))


def test_files_saved_before_the_configuration_existed_resolve_it_on_load():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = load(Path(__file__).parent / "data" / "low_rank_format1.npz")
    assert isinstance(est.config_, LowRankConfig)
    assert est.config_.rank == est.rank and est.config_.n_features == est.n_features_in_
    X = np.random.default_rng(0).normal(size=(3, 10, est.n_features_in_))
    before = est.transform(X)
    est.set_params(rank=est.rank + 1, activation="tanh")
    np.testing.assert_array_equal(est.transform(X), before)
