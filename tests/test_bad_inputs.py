"""The bad-input matrix: every public method of both estimators, the metrics, datasets and plotting
functions, called with the bad arguments a demanding user finds (NaN, complex, strings, a dict, values
beyond float32, wrong shapes, impossible counts...). Each case expects a clear error whose message
names the argument, or the correct output; the ids say which case broke.

Fits are tiny (a few epochs, few particles, no fixed-point search): one fitted estimator of each
kind per module.
"""

from __future__ import annotations

import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from sklearn_lrnn import PLRNNRegressor, StochasticLowRankRNN
from sklearn_lrnn import datasets as ds
from sklearn_lrnn import metrics as mt

N_TRIALS, T, D, RANK, N_IN = 6, 12, 3, 2, 1

LR_KW = dict(rank=RANK, max_iter=2, n_particles=3, eval_particles=3, batch_size=3, window_length=5,
             compute_fixed_points=False, device="cpu", random_state=0)
PL_KW = dict(n_latents=D, max_iter=2, sequence_length=5, batch_size=4, batches_per_epoch=2,
             compute_fixed_points=False, device="cpu", random_state=0)


def _quiet_fit(est, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args, **kw)


@pytest.fixture(scope="module")
def ctx():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_TRIALS, T, D))
    U = rng.standard_normal((N_TRIALS, T, N_IN))
    return SimpleNamespace(
        X=X, U=U, rng=rng,
        lr=_quiet_fit(StochasticLowRankRNN(**LR_KW), X),
        lr_u=_quiet_fit(StochasticLowRankRNN(**LR_KW), X, u=U),
        pl=_quiet_fit(PLRNNRegressor(**PL_KW), X),
        pl_u=_quiet_fit(PLRNNRegressor(**PL_KW), X, u=U),
        pl_sup=_quiet_fit(PLRNNRegressor(**PL_KW), X, X[..., :2]),
    )


# ------------------------------------------------------------------------------------------ the cases
def _with(X, index, value):
    X = np.array(X, dtype=object if isinstance(value, str) else complex if isinstance(value, complex) else float)
    X[index] = value
    return X


# bad values of an array argument: name -> (maker(valid array, argument name), exception, message regex)
BAD_ARRAYS = {
    "nan": (lambda a, n: _with(a, (0,) * a.ndim, np.nan), ValueError, r"{n}.* NaN"),
    "inf": (lambda a, n: _with(a, (0,) * a.ndim, np.inf), ValueError, r"{n}.* NaN or infinite"),
    "complex": (lambda a, n: a + 1j, ValueError, r"Complex data not supported: {n}"),
    "strings": (lambda a, n: a.astype(str), ValueError, r"{n}(\[0\])? contains strings"),
    "numeric-strings-list": (lambda a, n: np.full(a.shape, "1.0").tolist(), ValueError,
                             r"{n}(\[0\])? contains strings"),
    "object-with-a-string": (lambda a, n: _with(a, (0,) * a.ndim, "1.0"), ValueError, r"{n}.* contains strings"),
    "dict": (lambda a, n: {"a": a}, TypeError, r"{n} must be array-like.*dict"),
    "string": (lambda a, n: "data.csv", TypeError, r"{n} must be array-like"),
    "set": (lambda a, n: {1.0, 2.0}, TypeError, r"{n} must be array-like.*set"),
    "float32-overflow": (lambda a, n: _with(a, (0,) * a.ndim, 1e39), ValueError, r"{n} contains values too large "
                         r"for float32"),
}
# bad shapes of a sequence argument (X, u, Z)
BAD_SEQUENCE_SHAPES = {
    "1-D": (lambda a, n: a.ravel(), ValueError, r"({n} must be a 3-D array.*|array for {n}, got a )1-D"),
    "4-D": (lambda a, n: a[None], ValueError, r"{n} must be a 3-D array.*4-D"),
    "None": (lambda a, n: None, ValueError, r"{n} is None"),
    "empty-list": (lambda a, n: [], ValueError, r"{n} is an empty list"),
    "no-features": (lambda a, n: a[..., :0], ValueError, r"{n} has 0 feature|0 feature\(s\).*{n} needs"),
    "ragged-features": (lambda a, n: [a[0], a[1][:, :1]], ValueError, r"trials of {n} must have the same number "
                        r"of features"),
}


def _array_cases(prefix, call, valid, name, table):
    """One case per bad value: ``call(ctx, bad)`` must raise ``exc`` with a message naming ``name``."""
    out = []
    for case, (make, exc, msg) in table.items():
        out.append(pytest.param(
            call, (lambda make=make, valid=valid, name=name: make(valid(), name)), exc,
            msg.format(n=re.escape(name)), id=f"{prefix}-{name}-{case}"))
    return out


def _X(n_trials=N_TRIALS, t=T, d=D):
    return np.random.default_rng(1).standard_normal((n_trials, t, d))


def _U():
    return np.random.default_rng(2).standard_normal((N_TRIALS, T, N_IN))


# methods taking X, per estimator kind: (call(ctx, X), needs a fitted model)
LR_X_METHODS = {
    "fit": lambda c, X: clone(c.lr).fit(X),
    "partial_fit": lambda c, X: clone(c.lr).partial_fit(X),
    "fit_transform": lambda c, X: clone(c.lr).fit_transform(X),
    "transform": lambda c, X: c.lr.transform(X),
    "transform-smoothing": lambda c, X: c.lr.transform(X, method="smoothing"),
    "score": lambda c, X: c.lr.score(X),
    "score_samples": lambda c, X: c.lr.score_samples(X),
    "inverse_transform": lambda c, Z: c.lr.inverse_transform(Z),
}
PL_X_METHODS = {
    "fit": lambda c, X: clone(c.pl).fit(X),
    "partial_fit": lambda c, X: clone(c.pl).partial_fit(X),
    "fit-supervised": lambda c, X: clone(c.pl).fit(X, np.zeros(N_TRIALS)),
    "fit_transform": lambda c, X: clone(c.pl).fit_transform(X),
    "transform": lambda c, X: c.pl.transform(X),
    "predict": lambda c, X: c.pl.predict(X),
    "predict-5-steps": lambda c, X: c.pl.predict(X, n_steps=5),
    "score": lambda c, X: c.pl.score(X),
}

X_CASES = []
for est_name, methods in (("StochasticLowRankRNN", LR_X_METHODS), ("PLRNNRegressor", PL_X_METHODS)):
    for meth, call in methods.items():
        arg = "Z" if meth == "inverse_transform" else "X"
        valid = (lambda: _X(d=RANK)) if arg == "Z" else _X
        X_CASES += _array_cases(f"{est_name}.{meth}", call, valid, arg, {**BAD_ARRAYS, **BAD_SEQUENCE_SHAPES})

# inputs u (models fitted with inputs)
U_METHODS = {
    "StochasticLowRankRNN.fit": lambda c, u: clone(c.lr).fit(_X(), u=u),
    "StochasticLowRankRNN.transform": lambda c, u: c.lr_u.transform(_X(), u=u),
    "StochasticLowRankRNN.score": lambda c, u: c.lr_u.score(_X(), u=u),
    "StochasticLowRankRNN.sample": lambda c, u: c.lr_u.sample(u=u),
    "PLRNNRegressor.fit": lambda c, u: clone(c.pl).fit(_X(), u=u),
    "PLRNNRegressor.transform": lambda c, u: c.pl_u.transform(_X(), u=u),
    "PLRNNRegressor.predict": lambda c, u: c.pl_u.predict(_X(), u=u),
    "PLRNNRegressor.sample": lambda c, u: c.pl_u.sample(T, u=u),
}
U_BAD = {k: BAD_ARRAYS[k] for k in ("nan", "inf", "complex", "strings", "dict", "float32-overflow")}
for meth, call in U_METHODS.items():
    U_CASES = _array_cases(meth, call, _U, "u", U_BAD)
    X_CASES += U_CASES


def _raises(exc, msg):
    def check(result_or_error):
        assert isinstance(result_or_error, exc), f"expected {exc.__name__}, got {result_or_error!r}"
        assert re.search(msg, str(result_or_error), re.S), f"message {str(result_or_error)[:300]!r} !~ {msg!r}"
    return check


def _run(call, c):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call(c)
    except Exception as err:  # noqa: BLE001 - the matrix inspects every error
        return err


@pytest.mark.parametrize("call, make_bad, exc, msg", X_CASES)
def test_bad_array_argument(ctx, call, make_bad, exc, msg):
    out = _run(lambda c: call(c, make_bad()), ctx)
    _raises(exc, msg)(out)


def test_wrong_number_of_features_named(ctx):
    for call in (*list(LR_X_METHODS.values())[3:7], *list(PL_X_METHODS.values())[4:]):
        _raises(ValueError, r"X has 2 features, but \w+ is expecting 3 features")(_run(lambda c: call(c, _X(d=2)), ctx))


# ------------------------------------------------------------------------------ scalar / other arguments
def _ok(check):
    """A case whose call must succeed; ``check(result, ctx)`` asserts the output is right."""
    return check


def E(exc, msg):
    return (exc, msg)


def _lr_sample_shapes(out, c, n_trials, n_timesteps):
    Xg, Zg = out
    assert Xg.shape == (n_trials, n_timesteps, D) and Zg.shape == (n_trials, n_timesteps, RANK)
    assert np.all(np.isfinite(Xg)) and np.all(np.isfinite(Zg))


def _finite_float(out, c):
    assert isinstance(out, float) and np.isfinite(out)


SCALAR_CASES = {
    # StochasticLowRankRNN.sample
    "lr.sample-burn_in-negative": (lambda c: c.lr.sample(2, 10, burn_in=-1), E(ValueError, r"burn_in must be >= 0")),
    "lr.sample-burn_in-float": (lambda c: c.lr.sample(2, 10, burn_in=2.5), E(ValueError, r"burn_in must be >= 0")),
    "lr.sample-burn_in-bool": (lambda c: c.lr.sample(2, 10, burn_in=True), E(ValueError, r"burn_in")),
    "lr.sample-burn_in-string": (lambda c: c.lr.sample(2, 10, burn_in="3"), E(ValueError, r"burn_in")),
    "lr.sample-burn_in-3-ok": (lambda c: c.lr.sample(2, 10, burn_in=3),
                               _ok(lambda out, c: _lr_sample_shapes(out, c, 2, 10))),
    "lr.sample-burn_in-numpy-int-ok": (lambda c: c.lr.sample(2, 10, burn_in=np.int64(3)),
                                       _ok(lambda out, c: _lr_sample_shapes(out, c, 2, 10))),
    "lr.sample-n_trials-0": (lambda c: c.lr.sample(0, 10), E(ValueError, r"n_trials must be >= 1")),
    "lr.sample-n_trials-float": (lambda c: c.lr.sample(2.0, 10), E(ValueError, r"n_trials must be >= 1")),
    "lr.sample-n_trials-bool": (lambda c: c.lr.sample(True, 10), E(ValueError, r"n_trials")),
    "lr.sample-n_trials-string": (lambda c: c.lr.sample("2", 10), E(ValueError, r"n_trials")),
    "lr.sample-n_timesteps-0": (lambda c: c.lr.sample(2, 0), E(ValueError, r"n_timesteps must be >= 1")),
    "lr.sample-n_timesteps-negative": (lambda c: c.lr.sample(2, -5), E(ValueError, r"n_timesteps")),
    "lr.sample-n_timesteps-float": (lambda c: c.lr.sample(2, 10.5), E(ValueError, r"n_timesteps")),
    "lr.sample-z0-wrong-n_trials": (lambda c: c.lr.sample(2, 10, z0=np.zeros((3, RANK))),
                                    E(ValueError, r"z0 has 3 rows but n_trials is 2")),
    "lr.sample-z0-wrong-rank": (lambda c: c.lr.sample(2, 10, z0=np.zeros(RANK + 1)), E(ValueError, r"z0 must have shape")),
    "lr.sample-z0-3-D": (lambda c: c.lr.sample(2, 10, z0=np.zeros((2, 1, RANK))), E(ValueError, r"z0 must have shape")),
    "lr.sample-z0-nan": (lambda c: c.lr.sample(2, 10, z0=[np.nan, 0.0]), E(ValueError, r"z0 contains NaN")),
    "lr.sample-z0-inf": (lambda c: c.lr.sample(2, 10, z0=[np.inf, 0.0]), E(ValueError, r"z0 contains NaN or infinite")),
    "lr.sample-z0-complex": (lambda c: c.lr.sample(2, 10, z0=[1j, 0.0]), E(ValueError, r"Complex data not supported: z0")),
    "lr.sample-z0-strings": (lambda c: c.lr.sample(2, 10, z0=["0", "1"]), E(ValueError, r"z0 contains strings")),
    "lr.sample-z0-dict": (lambda c: c.lr.sample(2, 10, z0={"a": 0}), E(TypeError, r"z0 must be array-like")),
    "lr.sample-z0-per-trial-ok": (lambda c: c.lr.sample(2, 10, z0=np.ones((2, RANK)), noise_scale=0.0),
                                  _ok(lambda out, c: np.testing.assert_allclose(out[1][:, 0], 1.0, rtol=1e-6))),
    "lr.sample-z0-shared-ok": (lambda c: c.lr.sample(3, 10, z0=np.ones(RANK), noise_scale=0.0),
                               _ok(lambda out, c: np.testing.assert_allclose(out[1][0], out[1][2]))),
    "lr.sample-noise_scale-nan": (lambda c: c.lr.sample(2, 10, noise_scale=np.nan),
                                  E(ValueError, r"noise_scale must be a finite number >= 0")),
    "lr.sample-noise_scale-inf": (lambda c: c.lr.sample(2, 10, noise_scale=np.inf), E(ValueError, r"noise_scale")),
    "lr.sample-noise_scale-negative": (lambda c: c.lr.sample(2, 10, noise_scale=-1.0),
                                       E(ValueError, r"noise_scale must be a finite number >= 0")),
    "lr.sample-noise_scale-string": (lambda c: c.lr.sample(2, 10, noise_scale="1"),
                                     E(TypeError, r"noise_scale must be a real number")),
    "lr.sample-noise_scale-complex": (lambda c: c.lr.sample(2, 10, noise_scale=1j), E(TypeError, r"noise_scale")),
    "lr.sample-noise_scale-bool": (lambda c: c.lr.sample(2, 10, noise_scale=True), E(TypeError, r"noise_scale")),
    "lr.sample-noise_scale-0-deterministic": (
        lambda c: (c.lr.sample(2, 10, z0=np.ones(RANK), noise_scale=0.0, random_state=0),
                   c.lr.sample(2, 10, z0=np.ones(RANK), noise_scale=0.0, random_state=1)),
        _ok(lambda out, c: np.testing.assert_allclose(out[0][1], out[1][1]))),
    "lr.sample-random_state-string": (lambda c: c.lr.sample(2, 10, random_state="x"), E(ValueError, r"random_state")),
    "lr.sample-u-without-inputs": (lambda c: c.lr.sample(u=_U()), E(ValueError, r"without inputs; do not pass u")),
    "lr.sample-no-u-with-inputs": (lambda c: c.lr_u.sample(2, 10), E(ValueError, r"pass u to sample")),
    "lr.sample-u-wrong-width": (lambda c: c.lr_u.sample(u=np.zeros((2, 5, 3))), E(ValueError, r"u has 3 features")),
    "lr.sample-u-z0-per-trial-ok": (lambda c: c.lr_u.sample(u=_U()[:2], z0=np.zeros((2, RANK))),
                                    _ok(lambda out, c: _lr_sample_shapes(out, c, 2, T))),
    "lr.sample-u-z0-wrong-trials": (lambda c: c.lr_u.sample(u=_U()[:2], z0=np.zeros((3, RANK))),
                                    E(ValueError, r"z0 has 3 rows but the number of trials of u is 2")),
    # StochasticLowRankRNN.transform / fit
    "lr.transform-method-bad": (lambda c: c.lr.transform(_X(), method="viterbi"), E(ValueError, r"method must be")),
    "lr.transform-smoother-bad": (lambda c: c.lr.transform(_X(), method="smoothing", smoother="x"),
                                  E(ValueError, r"smoother must be")),
    "lr.fit-one-time-step-trials": (lambda c: clone(c.lr).fit(_X(t=1)), E(ValueError, r"X: every trial has a single "
                                                                             r"time step.*at least 2 time steps")),
    "lr.fit-one-time-step-list": (lambda c: clone(c.lr).fit([np.zeros((1, D))] * 4), E(ValueError, r"single time step")),
    "lr.partial_fit-one-time-step": (lambda c: clone(c.lr).partial_fit(_X(t=1)), E(ValueError, r"single time step")),
    "lr.fit-recording-shorter-than-window": (lambda c: clone(c.lr).fit(_X()[0, :3]), E(ValueError, r"window_length")),
    "lr.fit-u-wrong-trials": (lambda c: clone(c.lr).fit(_X(), u=_U()[:2]), E(ValueError, r"u has 2 trials but X has 6")),
    "lr.fit-u-wrong-length": (lambda c: clone(c.lr).fit(_X(), u=_U()[:, :5]), E(ValueError, r"u and X differ in length")),
    "lr.transform-u-missing": (lambda c: c.lr_u.transform(_X()), E(ValueError, r"pass u=.*enable_metadata_routing")),
    "lr.score-u-missing": (lambda c: c.lr_u.score(_X()), E(ValueError, r"pass u=.*set_score_request\(u=True\)")),
    "lr.transform-u-not-fitted-with-inputs": (lambda c: c.lr.transform(_X(), u=_U()), E(ValueError, r"do not pass u")),
    # score(sample_weight)
    "lr.score-sample_weight-wrong-length": (lambda c: c.lr.score(_X(), sample_weight=np.ones(4)),
                                            E(ValueError, r"sample_weight must have one value per trial \(6\)")),
    "lr.score-sample_weight-some-zeros-ok": (lambda c: c.lr.score(_X(), sample_weight=[0, 1, 1, 1, 1, 1]),
                                             _ok(_finite_float)),
    "lr.score-sample_weight-one-trial-equals-score_samples": (
        lambda c: (c.lr.score(_X(), sample_weight=[0, 0, 1, 0, 0, 0]), c.lr.score_samples(_X())[2]),
        _ok(lambda out, c: np.testing.assert_allclose(out[0], out[1]))),
    "lr.score-sample_weight-scalar-ok": (lambda c: (c.lr.score(_X(), sample_weight=2.0), c.lr.score(_X())),
                                         _ok(lambda out, c: np.testing.assert_allclose(out[0], out[1]))),
    # PLRNNRegressor.sample
    "pl.sample-n_timesteps-0": (lambda c: c.pl.sample(0), E(ValueError, r"n_timesteps must be >= 1")),
    "pl.sample-n_timesteps-float": (lambda c: c.pl.sample(5.0), E(ValueError, r"n_timesteps")),
    "pl.sample-n_timesteps-bool": (lambda c: c.pl.sample(True), E(ValueError, r"n_timesteps")),
    "pl.sample-x0-nan": (lambda c: c.pl.sample(5, x0=[np.nan, 0, 0]), E(ValueError, r"x0 contains NaN")),
    "pl.sample-x0-complex": (lambda c: c.pl.sample(5, x0=[1j, 0, 0]), E(ValueError, r"Complex data not supported: x0")),
    "pl.sample-x0-strings": (lambda c: c.pl.sample(5, x0=["1", "0", "0"]), E(ValueError, r"x0 contains strings")),
    "pl.sample-x0-dict": (lambda c: c.pl.sample(5, x0={"a": 1}), E(TypeError, r"x0 must be array-like")),
    "pl.sample-x0-wrong-width": (lambda c: c.pl.sample(5, x0=[0.0, 0.0]), E(ValueError, r"x0 must have shape \(3,\)")),
    "pl.sample-x0-float32-overflow": (lambda c: c.pl.sample(5, x0=[1e39, 0, 0]), E(ValueError, r"x0 .*float32")),
    "pl.sample-x0-supervised": (lambda c: c.pl_sup.sample(5, x0=[0.0, 0.0], u=_X()[0, :5]),
                                E(ValueError, r"x0 is only meaningful")),
    "pl.sample-x0-2-D-ok": (lambda c: c.pl.sample(5, x0=_X()[:4, 0]),
                            _ok(lambda out, c: (out[0].shape == (4, 5, D)) or pytest.fail(str(out[0].shape)))),
    "pl.sample-random_state-string": (lambda c: c.pl.sample(5, random_state="x"), E(ValueError, r"random_state")),
    "pl.sample-u-without-inputs": (lambda c: c.pl.sample(5, u=np.zeros((5, 1))), E(ValueError, r"do not pass u")),
    "pl.sample-u-missing": (lambda c: c.pl_u.sample(5), E(ValueError, r"pass u with shape")),
    "pl.sample-u-wrong-length": (lambda c: c.pl_u.sample(5, u=np.zeros((4, N_IN))), E(ValueError, r"u must have shape "
                                                                                       r"\(5, 1\)")),
    "pl.sample-u-1-D": (lambda c: c.pl_u.sample(5, u=np.zeros(5)), E(ValueError, r"u must have shape")),
    "pl.sample-u-2-D-ok": (lambda c: c.pl_u.sample(T, u=_U()[0]),
                           _ok(lambda out, c: (out[0].shape == (T, D)) or pytest.fail(str(out[0].shape)))),
    "pl.sample-u-3-D-trajectories-ok": (lambda c: c.pl_u.sample(T, u=_U()),  # the docstring's promise
                                        _ok(lambda out, c: (out[0].shape == (N_TRIALS, T, D) and
                                                            np.all(np.isfinite(out[0]))) or pytest.fail(str(out[0].shape)))),
    "pl.sample-u-3-D-one-trajectory-ok": (lambda c: c.pl_u.sample(T, u=_U()[:1]),
                                          _ok(lambda out, c: (out[0].shape == (1, T, D)) or pytest.fail(str(out[0].shape)))),
    "pl.sample-u-list-of-trajectories-ok": (lambda c: c.pl_u.sample(T, u=list(_U()[:2])),
                                            _ok(lambda out, c: (out[0].shape == (2, T, D)) or pytest.fail(str(out[0].shape)))),
    "pl.sample-u-x0-mismatch": (lambda c: c.pl_u.sample(T, x0=_X()[:2, 0], u=_U()[:3]),
                                E(ValueError, r"u has 3 trajectories but x0 has 2")),
    "pl.sample-supervised-u-3-D-ok": (lambda c: c.pl_sup.sample(T, u=_X()),
                                      _ok(lambda out, c: (out[0].shape == (N_TRIALS, T, 2)) or pytest.fail(str(out[0].shape)))),
    # PLRNNRegressor.predict / score / fit
    "pl.predict-n_steps-0": (lambda c: c.pl.predict(_X(), n_steps=0), E(ValueError, r"n_steps must be >= 1")),
    "pl.predict-n_steps-float": (lambda c: c.pl.predict(_X(), n_steps=1.5), E(ValueError, r"n_steps")),
    "pl.predict-n_steps-bool": (lambda c: c.pl.predict(_X(), n_steps=True), E(ValueError, r"n_steps")),
    "pl.predict-u-missing": (lambda c: c.pl_u.predict(_X()), E(ValueError, r"pass u .*enable_metadata_routing")),
    "pl.score-u-missing": (lambda c: c.pl_u.score(_X()), E(ValueError, r"set_score_request\(u=True\)")),
    "pl.fit-one-time-step": (lambda c: clone(c.pl).fit(_X(t=1)), E(ValueError, r"at least 2 time steps")),
    "pl.fit-y-nan": (lambda c: clone(c.pl).fit(_X(), np.full(N_TRIALS, np.nan)), E(ValueError, r"y contains NaN")),
    "pl.fit-y-strings": (lambda c: clone(c.pl).fit(_X(), ["1"] * N_TRIALS), E(ValueError, r"y contains strings")),
    "pl.fit-y-complex": (lambda c: clone(c.pl).fit(_X(), np.ones(N_TRIALS) * 1j), E(ValueError, r"Complex.*y")),
    "pl.fit-y-dict": (lambda c: clone(c.pl).fit(_X(), {"y": 1}), E(TypeError, r"y must be array-like")),
    "pl.fit-y-wrong-trials": (lambda c: clone(c.pl).fit(_X(), np.zeros(4)), E(ValueError, r"y has 4 rows but X has 6")),
    "pl.fit-u-supervised": (lambda c: clone(c.pl).fit(_X(), np.zeros(N_TRIALS), u=_U()),
                            E(ValueError, r"u is only used for reconstruction")),
    "pl.score-sample_weight-wrong-length": (lambda c: c.pl.score(_X(), sample_weight=np.ones(4)),
                                            E(ValueError, r"sample_weight must have one value per trial \(6\) or per "
                                                          r"row of the flattened targets \(66\)")),
    "pl.score-sample_weight-per-trial-ok": (lambda c: c.pl.score(_X(), sample_weight=[1, 2, 1, 1, 1, 1]),
                                            _ok(_finite_float)),
    "pl.score-sample_weight-per-row-ok": (lambda c: (c.pl.score(_X(), sample_weight=np.ones(N_TRIALS * (T - 1))),
                                                     c.pl.score(_X())),
                                          _ok(lambda out, c: np.testing.assert_allclose(out[0], out[1]))),
    "pl.score-supervised-sample_weight-zeros": (lambda c: c.pl_sup.score(_X(), _X()[..., :2],
                                                                         sample_weight=np.zeros(N_TRIALS)),
                                                E(ValueError, r"sample_weight is all zeros")),
    "pl.score-supervised-y-nan": (lambda c: c.pl_sup.score(_X(), np.full((N_TRIALS, T, 2), np.nan)),
                                  E(ValueError, r"y contains NaN")),
}

# score(sample_weight=...): the same bad weights for both estimators, never a NaN score
BAD_WEIGHTS = {
    "zeros": (lambda: np.zeros(N_TRIALS), ValueError, r"sample_weight is all zeros"),
    "negative": (lambda: -np.ones(N_TRIALS), ValueError, r"sample_weight must be non-negative"),
    "nan": (lambda: np.full(N_TRIALS, np.nan), ValueError, r"sample_weight contains NaN"),
    "inf": (lambda: np.full(N_TRIALS, np.inf), ValueError, r"sample_weight contains NaN or infinite"),
    "strings": (lambda: ["1"] * N_TRIALS, ValueError, r"sample_weight contains strings"),
    "complex": (lambda: np.ones(N_TRIALS) * 1j, ValueError, r"Complex data not supported: sample_weight"),
    "dict": (lambda: {"a": 1}, TypeError, r"sample_weight must be array-like"),
}
for _est in ("lr", "pl"):
    for _case, (_w, _exc, _msg) in BAD_WEIGHTS.items():
        SCALAR_CASES[f"{_est}.score-sample_weight-{_case}"] = (
            lambda c, est=_est, w=_w: getattr(c, est).score(_X(), sample_weight=w()), E(_exc, _msg))


@pytest.mark.parametrize("call, expect", [pytest.param(*v, id=k) for k, v in SCALAR_CASES.items()])
def test_argument(ctx, call, expect):
    out = _run(call, ctx)
    if isinstance(expect, tuple):
        _raises(*expect)(out)
    else:
        assert not isinstance(out, Exception), f"unexpected {type(out).__name__}: {out}"
        expect(out, ctx)


# ------------------------------------------------------------------------------ read-only input
@pytest.mark.parametrize("make", [
    pytest.param(lambda: StochasticLowRankRNN(**LR_KW), id="StochasticLowRankRNN"),
    pytest.param(lambda: PLRNNRegressor(**PL_KW), id="PLRNNRegressor"),
])
def test_read_only_input_no_torch_warning(make, monkeypatch):
    """torch warns (once per process) when it wraps a non-writable array: no read-only array may reach it."""
    import torch

    seen = []
    for fn in ("as_tensor", "from_numpy"):
        orig = getattr(torch, fn)

        def spy(data, *args, _orig=orig, **kwargs):
            if isinstance(data, np.ndarray) and not data.flags.writeable:
                seen.append(data.shape)
            return _orig(data, *args, **kwargs)

        monkeypatch.setattr(torch, fn, spy)
    X, U = _X(), _U()
    X.setflags(write=False)
    U.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(X, u=U)
        est.transform(X, u=U)
        est.score(X, u=U)
    assert not seen, f"read-only arrays of shapes {seen} reached torch"


# ------------------------------------------------------------------------------ routing
def _search(est):
    return GridSearchCV(est, {"max_iter": [1, 2]}, cv=KFold(2))


@pytest.mark.parametrize("make", [
    pytest.param(lambda: StochasticLowRankRNN(**LR_KW), id="StochasticLowRankRNN"),
    pytest.param(lambda: PLRNNRegressor(**PL_KW), id="PLRNNRegressor"),
])
@pytest.mark.parametrize("runner", [
    pytest.param(lambda est, X, U: _search(est).fit(X, u=U), id="GridSearchCV"),
    pytest.param(lambda est, X, U: cross_validate(est, X, cv=KFold(2), params={"u": U}), id="cross_validate"),
])
def test_inputs_without_routing_are_loud(make, runner):
    """u reaches fit but never score without routing: the search fails and says how to enable routing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"enable_metadata_routing=True.*set_fit_request\(u=True\)"
                                             r"\.set_score_request\(u=True\)") as info:
            runner(make(), _X(), _U())
    assert "NaN" in str(info.value)


@pytest.mark.parametrize("make", [
    pytest.param(lambda: StochasticLowRankRNN(**LR_KW), id="StochasticLowRankRNN"),
    pytest.param(lambda: PLRNNRegressor(**PL_KW), id="PLRNNRegressor"),
])
def test_inputs_with_routing_give_finite_scores(make):
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().set_fit_request(u=True).set_score_request(u=True)
        search = _search(est).fit(_X(), u=_U())
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_search_without_inputs_unaffected():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = _search(StochasticLowRankRNN(**LR_KW)).fit(_X())
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_error_score_raise_gives_our_error():
    with warnings.catch_warnings(), pytest.raises(ValueError, match="metadata routing disabled"):
        warnings.simplefilter("ignore")
        GridSearchCV(PLRNNRegressor(**PL_KW), {"max_iter": [1]}, cv=KFold(2), error_score="raise").fit(_X(), u=_U())


# ------------------------------------------------------------------------------ feature names and set_output
ESTIMATORS = [
    pytest.param(lambda: StochasticLowRankRNN(**LR_KW), "stochasticlowrankrnn", RANK, id="StochasticLowRankRNN"),
    pytest.param(lambda: PLRNNRegressor(**PL_KW), "plrnnregressor", D, id="PLRNNRegressor"),
]


@pytest.fixture(scope="module")
def frame():
    pd = pytest.importorskip("pandas")
    values = np.random.default_rng(3).standard_normal((60, D))
    return pd.DataFrame(values, columns=["a", "b", "c"], index=pd.RangeIndex(100, 160))


@pytest.mark.parametrize("make, prefix, n_out", ESTIMATORS)
def test_feature_names(frame, make, prefix, n_out):
    est = _quiet_fit(make(), frame)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c"])
    names = est.get_feature_names_out()
    assert list(names) == [f"{prefix}_latent{i}" for i in range(n_out)]
    with pytest.raises(ValueError, match="feature names should match"):
        est.transform(frame.rename(columns={"a": "z"}))
    with pytest.raises(ValueError, match="feature names should match"):
        est.score(frame[["b", "a", "c"]])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.transform(frame.to_numpy())
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        est.get_feature_names_out(["x", "y", "z"])
    _quiet_fit(est, frame.to_numpy())  # refit without names: the attribute goes
    assert not hasattr(est, "feature_names_in_")
    assert list(est.get_feature_names_out(["x0", "x1", "x2"])) == list(names)


@pytest.mark.parametrize("make, prefix, n_out", ESTIMATORS)
def test_set_output_pandas(frame, make, prefix, n_out):
    pd = pytest.importorskip("pandas")
    est = _quiet_fit(make(), frame).set_output(transform="pandas")
    Z = est.transform(frame)
    assert isinstance(Z, pd.DataFrame) and list(Z.columns) == list(est.get_feature_names_out())
    assert Z.index.equals(frame.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert isinstance(est.fit_transform(frame), pd.DataFrame)
        Z3 = est.transform(_X(d=D))  # 3-D: a DataFrame cannot hold it; the array comes back
    assert isinstance(Z3, np.ndarray) and Z3.shape == (N_TRIALS, T, n_out)
    with sklearn.config_context(transform_output="pandas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert isinstance(make().fit(frame).transform(frame), pd.DataFrame)  # the global setting


@pytest.mark.parametrize("check_name", [
    "check_dataframe_column_names_consistency", "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas", "check_set_output_transform",
    "check_set_output_transform_pandas", "check_global_output_transform_pandas",
    "check_get_feature_names_out_error",
])
@pytest.mark.parametrize("make, prefix, n_out", ESTIMATORS)
def test_sklearn_feature_name_checks(check_name, make, prefix, n_out):
    """scikit-learn's own checks of feature names and set_output (not run by check_estimator in 1.9)."""
    pytest.importorskip("pandas")
    from sklearn.utils import estimator_checks

    est = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(estimator_checks, check_name)(type(est).__name__, est)


# ------------------------------------------------------------------------------ metrics
def _Xm():
    return np.random.default_rng(4).standard_normal((3, 40, 2))


def _counts():
    return np.random.default_rng(5).poisson(1.0, (3, 40, 2)).astype(float)


METRIC_CASES = {
    "state_space_divergence-n_bins-0": (lambda: mt.state_space_divergence(_Xm(), _Xm(), method="bins", n_bins=0),
                                        E(ValueError, r"n_bins must be >= 1")),
    "state_space_divergence-n_bins-float": (lambda: mt.state_space_divergence(_Xm(), _Xm(), method="bins",
                                                                              n_bins=2.5), E(ValueError, r"n_bins")),
    "state_space_divergence-smoothing-0": (lambda: mt.state_space_divergence(_Xm(), _Xm(), method="bins",
                                                                             smoothing=0), E(ValueError, r"smoothing")),
    "state_space_divergence-sigma2-negative": (lambda: mt.state_space_divergence(_Xm(), _Xm(), sigma2=-1.0),
                                               E(ValueError, r"sigma2 must be a finite number > 0")),
    "state_space_divergence-sigma2-nan": (lambda: mt.state_space_divergence(_Xm(), _Xm(), sigma2=np.nan),
                                          E(ValueError, r"sigma2")),
    "state_space_divergence-sigma2-string": (lambda: mt.state_space_divergence(_Xm(), _Xm(), sigma2="1"),
                                             E(TypeError, r"sigma2 must be a real number")),
    "state_space_divergence-n_samples-0": (lambda: mt.state_space_divergence(_Xm(), _Xm(), n_samples=0),
                                           E(ValueError, r"n_samples")),
    "state_space_divergence-max_timesteps-0": (lambda: mt.state_space_divergence(_Xm(), _Xm(), max_timesteps=0),
                                               E(ValueError, r"max_timesteps")),
    "state_space_divergence-chunk_size-float": (lambda: mt.state_space_divergence(_Xm(), _Xm(), chunk_size=1.5),
                                                E(ValueError, r"chunk_size")),
    "state_space_divergence-method-bad": (lambda: mt.state_space_divergence(_Xm(), _Xm(), method="kde"),
                                          E(ValueError, r"method must be")),
    "state_space_divergence-feature-mismatch": (lambda: mt.state_space_divergence(_Xm(), _Xm()[..., :1]),
                                                E(ValueError, r"X_true has 2 features but X_gen has 1")),
    "state_space_divergence-ok": (lambda: mt.state_space_divergence(_Xm(), _Xm(), random_state=0),
                                  _ok(lambda out, c: np.isfinite(out) or pytest.fail(str(out)))),
    "power_spectrum_distance-smoothing_sigma-negative": (
        lambda: mt.power_spectrum_distance(_Xm(), _Xm(), smoothing_sigma=-1), E(ValueError, r"smoothing_sigma")),
    "power_spectrum_distance-smoothing_sigma-nan": (
        lambda: mt.power_spectrum_distance(_Xm(), _Xm(), smoothing_sigma=np.nan), E(ValueError, r"smoothing_sigma")),
    "power_spectrum_distance-smoothing_sigma-string": (
        lambda: mt.power_spectrum_distance(_Xm(), _Xm(), smoothing_sigma="20"), E(TypeError, r"smoothing_sigma")),
    "power_spectrum_distance-segment_length-2": (
        lambda: mt.power_spectrum_distance(_Xm(), _Xm(), segment_length=2), E(ValueError, r"segment_length")),
    "power_spectrum_distance-segment_length-float": (
        lambda: mt.power_spectrum_distance(_Xm(), _Xm(), segment_length=10.5), E(ValueError, r"segment_length")),
    "power_spectra-segment_length-too-long": (lambda: mt.power_spectra(_Xm(), segment_length=100),
                                              E(ValueError, r"segment_length=100")),
    "power_spectra-smoothing_sigma-negative": (lambda: mt.power_spectra(_Xm(), smoothing_sigma=-3),
                                               E(ValueError, r"smoothing_sigma")),
    "prediction_error-n_steps-0": (lambda: mt.prediction_error(mt.persistence_forecast, _Xm(), n_steps=0),
                                   E(ValueError, r"n_steps must be >= 1")),
    "prediction_error-n_steps-float": (lambda: mt.prediction_error(mt.persistence_forecast, _Xm(), n_steps=2.5),
                                       E(ValueError, r"n_steps")),
    "prediction_error-n_steps-string": (lambda: mt.prediction_error(mt.persistence_forecast, _Xm(), n_steps="3"),
                                        E(ValueError, r"n_steps")),
    "prediction_error-alignment-bad": (lambda: mt.prediction_error(mt.persistence_forecast, _Xm(), alignment="x"),
                                       E(ValueError, r"alignment")),
    "persistence_forecast-n_steps-0": (lambda: mt.persistence_forecast(_Xm(), n_steps=0), E(ValueError, r"n_steps")),
    "mean_rates-dt-0": (lambda: mt.mean_rates(_counts(), dt=0), E(ValueError, r"dt must be a finite number > 0")),
    "mean_rates-dt-nan": (lambda: mt.mean_rates(_counts(), dt=np.nan), E(ValueError, r"dt")),
    "mean_rates-dt-string": (lambda: mt.mean_rates(_counts(), dt="0.01"), E(TypeError, r"dt must be a real number")),
    "mean_rates-dt-bool": (lambda: mt.mean_rates(_counts(), dt=True), E(TypeError, r"dt")),
    "mean_rates-negative-counts": (lambda: mt.mean_rates(-_counts() - 1), E(ValueError, r"counts contains negative")),
    "isi_cv-non-integer-counts": (lambda: mt.isi_cv(_counts() + 0.5), E(ValueError, r"counts contains non-integer")),
    "isi_distribution-dt-negative": (lambda: mt.isi_distribution(_counts(), dt=-1), E(ValueError, r"dt")),
    "pairwise_correlations-one-bin": (lambda: mt.pairwise_correlations(np.ones((1, 2))), E(ValueError, r"2 time bins")),
    "spike_statistics_distance-unit-mismatch": (lambda: mt.spike_statistics_distance(_counts(), _counts()[..., :1]),
                                                E(ValueError, r"counts_true has 2 units but counts_gen has 1")),
    "spike_statistics_distance-dt-0": (lambda: mt.spike_statistics_distance(_counts(), _counts(), dt=0),
                                       E(ValueError, r"dt")),
    "prediction_error_scorer-n_steps-0": (lambda: mt.prediction_error_scorer(n_steps=0), E(ValueError, r"n_steps")),
    "prediction_error_scorer-alignment-bad": (lambda: mt.prediction_error_scorer(alignment="x"),
                                              E(ValueError, r"alignment")),
    "state_space_scorer-method-bad": (lambda: mt.state_space_scorer(method="kde"), E(ValueError, r"method")),
    "state_space_scorer-burn_in-negative": (lambda: mt.state_space_scorer(burn_in=-1), E(ValueError, r"burn_in")),
    "state_space_scorer-n_trials-0": (lambda: mt.state_space_scorer(n_trials=0), E(ValueError, r"n_trials")),
    "power_spectrum_scorer-smoothing_sigma-negative": (lambda: mt.power_spectrum_scorer(smoothing_sigma=-1),
                                                       E(ValueError, r"smoothing_sigma")),
    "power_spectrum_scorer-n_timesteps-float": (lambda: mt.power_spectrum_scorer(n_timesteps=10.5),
                                                E(ValueError, r"n_timesteps")),
    "spike_statistics_scorer-dt-0": (lambda: mt.spike_statistics_scorer(dt=0), E(ValueError, r"dt")),
    "spike_statistics_scorer-statistic-bad": (lambda: mt.spike_statistics_scorer(statistic="x"),
                                              E(ValueError, r"statistic")),
    "state_space_scorer-sample_kwargs-list": (lambda: mt.state_space_scorer(sample_kwargs=[1]),
                                              E(TypeError, r"sample_kwargs")),
    "state_space_scorer-postprocess-not-callable": (lambda: mt.state_space_scorer(postprocess=3),
                                                    E(TypeError, r"postprocess")),
    "generate_like-no-sample": (lambda: mt.generate_like(object(), _Xm()), E(TypeError, r"estimator must be a fitted "
                                                                                       r"model with a sample")),
}
for _name, _fn in (("state_space_divergence", lambda a: mt.state_space_divergence(a, _Xm(), random_state=0)),
                   ("power_spectrum_distance", lambda a: mt.power_spectrum_distance(a, _Xm())),
                   ("power_spectra", lambda a: mt.power_spectra(a)),
                   ("prediction_error", lambda a: mt.prediction_error(mt.persistence_forecast, a, n_steps=2)),
                   ("mean_rates", lambda a: mt.mean_rates(a))):
    arg = "counts" if _name == "mean_rates" else ("X" if _name in ("power_spectra", "prediction_error") else "X_true")
    for _case in ("nan", "complex", "strings", "dict", "float32-overflow"):
        _make, _exc, _msg = BAD_ARRAYS[_case]
        METRIC_CASES[f"{_name}-{arg}-{_case}"] = (
            (lambda fn=_fn, make=_make, valid=(_counts if arg == "counts" else _Xm), a=arg: fn(make(valid(), a))),
            E(_exc, _msg.format(n=re.escape(arg))))


# ------------------------------------------------------------------------------ datasets
DATASET_CASES = {
    "make_lorenz63-n_samples-0": (lambda: ds.make_lorenz63(0), E(ValueError, r"n_samples")),
    "make_lorenz63-n_samples-float": (lambda: ds.make_lorenz63(10.5), E(ValueError, r"n_samples")),
    "make_lorenz63-noise-negative": (lambda: ds.make_lorenz63(10, noise=-1), E(ValueError, r"noise")),
    "make_lorenz63-noise-string": (lambda: ds.make_lorenz63(10, noise="0.1"), E(TypeError, r"noise must be a real")),
    "make_lorenz63-dt-0": (lambda: ds.make_lorenz63(10, dt=0), E(ValueError, r"dt must be a finite number > 0")),
    "make_lorenz63-sigma-nan": (lambda: ds.make_lorenz63(10, sigma=np.nan), E(ValueError, r"sigma must be a finite")),
    "make_lorenz63-rho-string": (lambda: ds.make_lorenz63(10, rho="28"), E(TypeError, r"rho")),
    "make_lorenz63-burn_in-negative": (lambda: ds.make_lorenz63(10, burn_in=-1), E(ValueError, r"burn_in")),
    "make_lorenz96-forcing-nan": (lambda: ds.make_lorenz96(10, forcing=np.nan), E(ValueError, r"forcing")),
    "make_lorenz96-n_dims-3": (lambda: ds.make_lorenz96(10, n_dims=3), E(ValueError, r"n_dims")),
    "make_addition_problem-marker_positions-bad": (lambda: ds.make_addition_problem(5, 20, marker_positions="x"),
                                                   E(ValueError, r"marker_positions")),
    "make_multiplication_problem-n_timesteps-float": (lambda: ds.make_multiplication_problem(5, 20.0),
                                                      E(ValueError, r"n_timesteps")),
    "make_low_rank_teacher-n_trials-float": (lambda: ds.make_low_rank_teacher(2.5, 10), E(ValueError, r"n_trials")),
    "make_low_rank_teacher-n_units-3": (lambda: ds.make_low_rank_teacher(2, 10, n_units=3),
                                        E(ValueError, r"n_units must be >= 4")),
    "make_low_rank_teacher-noise_std-negative": (lambda: ds.make_low_rank_teacher(2, 10, noise_std=-0.1),
                                                 E(ValueError, r"noise_std")),
    "make_low_rank_teacher-obs_noise_std-nan": (lambda: ds.make_low_rank_teacher(2, 10, obs_noise_std=np.nan),
                                                E(ValueError, r"obs_noise_std")),
    "make_poisson_teacher-gain-nan": (lambda: ds.make_poisson_teacher(2, 10, gain=np.nan), E(ValueError, r"gain")),
    "make_poisson_teacher-offset_spread-negative": (lambda: ds.make_poisson_teacher(2, 10, offset_spread=-1),
                                                    E(ValueError, r"offset_spread")),
    "make_poisson_teacher-n_timesteps-0": (lambda: ds.make_poisson_teacher(2, 0), E(ValueError, r"n_timesteps")),
    "make_ring_teacher-n_units-8": (lambda: ds.make_ring_teacher(2, 10, n_units=8), E(ValueError, r"n_units must be "
                                                                                              r">= 16")),
    "make_ring_teacher-input_onset-negative": (lambda: ds.make_ring_teacher(2, 10, input_onset=-1),
                                               E(ValueError, r"input_onset")),
    "make_ring_teacher-n_targets-0": (lambda: ds.make_ring_teacher(2, 10, n_targets=0), E(ValueError, r"n_targets")),
    "ring_inputs-target_angles-nan": (lambda: ds.ring_inputs([np.nan], 10), E(ValueError, r"target_angles contains NaN")),
    "ring_inputs-target_angles-strings": (lambda: ds.ring_inputs(["0.5"], 10),
                                          E(ValueError, r"target_angles contains strings")),
    "ring_inputs-n_timesteps-0": (lambda: ds.ring_inputs([0.0], 0), E(ValueError, r"n_timesteps")),
    "ring_inputs-duration-float": (lambda: ds.ring_inputs([0.0], 10, duration=2.5), E(ValueError, r"duration")),
    "simulate_teacher-teacher-incomplete": (lambda: ds.simulate_teacher({"decay": 0.9}, 2, 10, noise_std=0.1,
                                                                        obs_noise_std=0.1),
                                            E(ValueError, r"teacher lacks")),
    "simulate_teacher-z0-wrong-shape": (
        lambda: ds.simulate_teacher(ds.make_low_rank_teacher(1, 2, random_state=0).teacher, 2, 10, noise_std=0.1,
                                    obs_noise_std=0.1, z0=np.zeros((3, 2))), E(ValueError, r"z0 must have shape")),
    "simulate_teacher-noise_std-negative": (
        lambda: ds.simulate_teacher(ds.make_low_rank_teacher(1, 2, random_state=0).teacher, 2, 10, noise_std=-1,
                                    obs_noise_std=0.1), E(ValueError, r"noise_std")),
    "dominant_period-too-short": (lambda: ds.dominant_period([1.0, 2.0]), E(ValueError, r"signal must be 1-D")),
    "dominant_period-nan": (lambda: ds.dominant_period([np.nan] * 10), E(ValueError, r"signal contains NaN")),
    "dominant_period-ok": (lambda: ds.dominant_period(np.sin(2 * np.pi * np.arange(400) / 20)),
                           _ok(lambda out, c: abs(out - 20) < 0.5 or pytest.fail(str(out)))),
}


@pytest.mark.parametrize("call, expect", [pytest.param(*v, id=k) for k, v in {**METRIC_CASES,
                                                                              **DATASET_CASES}.items()])
def test_function_argument(call, expect):
    out = _run(lambda c: call(), None)
    if isinstance(expect, tuple):
        _raises(*expect)(out)
    else:
        assert not isinstance(out, Exception), f"unexpected {type(out).__name__}: {out}"
        expect(out, None)


# ------------------------------------------------------------------------------ plotting
def _plot_cases():
    from sklearn_lrnn import plotting as pt

    return {
        "plot_phase_portrait-dims-strings": (lambda c: pt.plot_phase_portrait(c.lr, dims=("0", "1")),
                                             E(ValueError, r"dims must be a pair of integer")),
        "plot_phase_portrait-dims-floats": (lambda c: pt.plot_phase_portrait(c.lr, dims=(0.5, 1)),
                                            E(ValueError, r"dims")),
        "plot_phase_portrait-dims-bool": (lambda c: pt.plot_phase_portrait(c.lr, dims=(False, True)),
                                          E(ValueError, r"dims")),
        "plot_phase_portrait-u-nan": (lambda c: pt.plot_phase_portrait(c.lr_u, u=[np.nan]), E(ValueError, r"u contains NaN")),
        "plot_phase_portrait-u-complex": (lambda c: pt.plot_phase_portrait(c.lr_u, u=[1j]),
                                          E(ValueError, r"Complex data not supported: u")),
        "plot_phase_portrait-limits-strings": (lambda c: pt.plot_phase_portrait(c.lr, limits=["a", "b"]),
                                               E(ValueError, r"limits contains strings")),
        "plot_phase_portrait-limits-nan": (lambda c: pt.plot_phase_portrait(c.lr, limits=[np.nan, 1]),
                                           E(ValueError, r"limits must be finite")),
        "plot_phase_portrait-n_grid-bool": (lambda c: pt.plot_phase_portrait(c.lr, n_grid=True), E(ValueError, r"n_grid")),
        "plot_phase_portrait-trajectories-dict": (lambda c: pt.plot_phase_portrait(c.lr, trajectories={"a": 1}),
                                                  E(TypeError, r"trajectories must be array-like")),
        "plot_traces-dt-0": (lambda c: pt.plot_traces(_X(), dt=0), E(ValueError, r"dt must be a finite number > 0")),
        "plot_traces-X_true-strings": (lambda c: pt.plot_traces(_X().astype(str)), E(ValueError, r"X_true contains strings")),
        "plot_traces-X_true-dict": (lambda c: pt.plot_traces({"a": 1}), E(TypeError, r"X_true must be array-like")),
        "plot_traces-dt-string": (lambda c: pt.plot_traces(_X(), dt="0.1"), E(TypeError, r"dt must be a real number")),
        "plot_traces-dt-inf": (lambda c: pt.plot_traces(_X(), dt=np.inf), E(ValueError, r"dt")),
        "plot_traces-trial-bool": (lambda c: pt.plot_traces(_X(), trial=True), E(ValueError, r"trial")),
        "plot_power_spectra-fs-negative": (lambda c: pt.plot_power_spectra(_Xm(), fs=-1), E(ValueError, r"fs")),
        "plot_power_spectra-X_gen-complex": (lambda c: pt.plot_power_spectra(_Xm(), _Xm() + 1j),
                                             E(ValueError, r"Complex data not supported: X_gen")),
        "plot_latents-alpha-2": (lambda c: pt.plot_latents(_X(d=2), alpha=2), E(ValueError, r"alpha")),
        "plot_latents-Z-dict": (lambda c: pt.plot_latents({"a": 1}), E(TypeError, r"Z must be array-like")),
    }


PLOT_IDS = [k for k in ("plot_phase_portrait-dims-strings", "plot_phase_portrait-dims-floats",
                        "plot_phase_portrait-dims-bool", "plot_phase_portrait-u-nan", "plot_phase_portrait-u-complex",
                        "plot_phase_portrait-limits-strings", "plot_phase_portrait-limits-nan",
                        "plot_phase_portrait-n_grid-bool", "plot_phase_portrait-trajectories-dict",
                        "plot_traces-dt-0", "plot_traces-X_true-strings", "plot_traces-X_true-dict", "plot_traces-dt-string",
                        "plot_traces-dt-inf", "plot_traces-trial-bool", "plot_power_spectra-fs-negative",
                        "plot_power_spectra-X_gen-complex", "plot_latents-alpha-2", "plot_latents-Z-dict")]


@pytest.mark.parametrize("case", PLOT_IDS)
def test_plotting_argument(ctx, case):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    call, expect = _plot_cases()[case]
    try:
        _raises(*expect)(_run(call, ctx))
    finally:
        plt.close("all")


def test_matrix_size():
    """The matrix covers the cases of the issue (434 probed there); count them so a shrink shows."""
    n = (len(X_CASES) + len(SCALAR_CASES) + len(METRIC_CASES) + len(DATASET_CASES) + len(PLOT_IDS))
    assert n >= 300, n
