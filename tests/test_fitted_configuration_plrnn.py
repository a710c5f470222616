"""PLRNNRegressor freezes its configuration at fit time: ``set_params`` after ``fit`` changes nothing that
``predict``, ``transform``, ``score``, ``sample`` or ``latent_map`` return, until the next fit (issue 26)."""

import copy
import warnings

import numpy as np
import pytest

from sklearn_lrnn import PLRNNRegressor, load, save

# one valid value per hyper-parameter, different from the one the fitted models below use
CHANGED = {
    "architecture": "vanilla",
    "n_latents": 5,
    "n_hidden": 7,
    "readout": "affine",
    "training": "sparse_tf",
    "tf_interval": 3,
    "gtf_alpha": 0.5,
    "gtf_alpha_decay": 0.9,
    "gtf_update_interval": 2,
    "mar_fraction": 0.25,
    "mar_weight": 1.0,
    "init": "random",
    "l2_weight": 0.1,
    "sequence_length": 10,
    "batch_size": 3,
    "batches_per_epoch": 1,
    "max_iter": 1,
    "learning_rate": 1e-2,
    "learning_rate_schedule": "constant",
    "final_learning_rate": 1e-4,
    "n_iter_no_change": 3,
    "tol": 0.1,
    "grad_clip": None,
    "n_init": 2,
    "n_jobs": 2,
    "warm_start": True,
    "latent_noise": 0.0,
    "device": "cpu",
    "random_state": 1,
    "verbose": 1,
    "compute_fixed_points": False,
    "max_cycle_order": 3,
    "compute_lyapunov": True,
    "dynamics_budget": None,
}

_BASE = dict(n_hidden=4, sequence_length=12, batch_size=2, batches_per_epoch=2, max_iter=2, latent_noise=0.1,
             random_state=0)


def _data():
    rng = np.random.default_rng(0)
    t = np.arange(60)
    X = np.stack([np.sin(t / 4), np.cos(t / 6), np.sin(t / 3)], 1) + 0.05 * rng.standard_normal((60, 3))
    U = rng.standard_normal((60, 2))
    S = rng.standard_normal((4, 15, 2))
    return X, U, S, S.cumsum(1)[..., :1]


@pytest.fixture(scope="module")
def fitted():
    X, U, S, Y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reconstruction = PLRNNRegressor(**_BASE).fit(X, u=U)
        supervised = PLRNNRegressor(**_BASE).fit(S, Y)
    return {"reconstruction": (reconstruction, X, None, U), "seq2seq": (supervised, S, Y, None)}


def _outputs(model, X, y, u):
    z = np.linspace(-1, 1, 2 * model.n_latents_).reshape(2, -1)
    pmap = model.latent_map()
    out = {
        "predict": model.predict(X, u=u),
        "transform": model.transform(X, u=u),
        "score": model.score(X, y, u=u),
        "map_step": pmap.step(z),
        "map_jacobian": pmap.jacobian(z[0]),
        "names": model.get_feature_names_out(),
    }
    s = u[:10] if u is not None else X[0, :10]
    out["sample_X"], out["sample_Z"] = model.sample(10, u=s, random_state=0)
    if model.mode_ == "reconstruction":
        out["predict_3"] = model.predict(X, n_steps=3, u=u)
        out["sample_x0_X"], out["sample_x0_Z"] = model.sample(10, x0=X[:2], u=s, random_state=0)
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


def test_the_table_covers_every_hyper_parameter():
    params = PLRNNRegressor().get_params()
    assert set(CHANGED) == set(params)
    for name, value in CHANGED.items():
        assert value != _BASE.get(name, params[name]), name  # each change is a change


@pytest.mark.parametrize("mode", ["reconstruction", "seq2seq"])
def test_set_params_after_fit_changes_no_output(fitted, mode):
    model, X, y, u = fitted[mode]
    before = _outputs(model, X, y, u)
    for name, value in CHANGED.items():
        changed = copy.deepcopy(model).set_params(**{name: value})
        try:
            _assert_same(before, _outputs(changed, X, y, u))
        except AssertionError as exc:
            raise AssertionError(f"set_params({name}={value!r}) after fit changed an output: {exc}") from None


@pytest.mark.parametrize("name, value, attribute, expected", [
    ("architecture", "vanilla", "architecture_", "vanilla"),
    ("n_latents", 5, "n_latents_", 5),
    ("readout", "affine", "readout_", "affine"),
    ("training", "sparse_tf", "training_", "sparse_tf"),
    ("latent_noise", 0.0, "latent_noise_", 0.0),
])
def test_the_next_fit_uses_the_new_value(fitted, name, value, attribute, expected):
    model, X, y, u = fitted["reconstruction"]
    refit = copy.deepcopy(model).set_params(**{name: value})
    assert getattr(refit, attribute) != expected  # frozen until the next fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit.fit(X, u=u)
    assert getattr(refit, attribute) == expected
    if name == "architecture":
        assert hasattr(refit, "W_") and refit.latent_map().dim == 3
    if name == "latent_noise":  # the noise-free sample is the deterministic rollout
        a = refit.sample(10, u=u[:10], random_state=0)[0]
        np.testing.assert_array_equal(a, refit.sample(10, u=u[:10], random_state=1)[0])


def test_the_fitted_configuration_is_saved_and_restored(fitted, tmp_path):
    model, X, y, u = fitted["reconstruction"]
    path = tmp_path / "model.lrnn"
    save(model, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load(path)
    for attribute in ("architecture_", "n_latents_", "readout_", "training_", "latent_noise_", "device_"):
        assert getattr(loaded, attribute) == getattr(model, attribute)
    _assert_same(_outputs(model, X, y, u), _outputs(loaded.set_params(latent_noise=0.0, architecture="linear"), X, y, u))


def test_a_state_saved_before_the_fitted_configuration_still_works(fitted):
    model, X, y, u = fitted["reconstruction"]
    state = model.__getstate__()
    for attribute in ("architecture_", "n_latents_", "readout_", "training_", "latent_noise_"):
        del state[attribute]  # as in files and pickles written before these attributes existed
    old = PLRNNRegressor.__new__(PLRNNRegressor)
    old.__setstate__(state)
    assert (old.architecture_, old.n_latents_, old.readout_, old.training_, old.latent_noise_) == (
        "clipped_shallow", 3, "identity", "gtf", 0.1)
    _assert_same(_outputs(model, X, y, u), _outputs(old, X, y, u))
