"""The fitted interface both estimators share: latent_map(u), loss_label, fixed_points_ (issue 26)."""

import warnings

import numpy as np
import pytest
import torch

from sklearn_lrnn import PLRNNRegressor, StochasticLowRankRNN
from sklearn_lrnn.dynamics import FixedPoints, PiecewiseAffineMap, fixed_points


def _quiet(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, **kw)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 40, 4))
    U = rng.standard_normal((6, 40, 2))
    low = _quiet(StochasticLowRankRNN(rank=2, n_units=8, max_iter=2, n_particles=4, random_state=0), X, u=U)
    plr = _quiet(PLRNNRegressor(n_latents=4, sequence_length=20, batches_per_epoch=2, max_iter=2, random_state=0),
                 X, u=U)
    return low, plr


def test_constant_input_map_is_the_step_with_that_input(fitted):
    low, plr = fitted
    u = np.array([0.7, -1.3])
    z = np.random.default_rng(1).standard_normal((5, 2))
    # low-rank: z' = a z + n relu(m z + W u - h), the noise-free step of the fitted torch model under input u
    tr = low._model().transition
    with torch.no_grad():
        current = torch.as_tensor(low.input_weights_ @ u, dtype=torch.float32)
        expected = tr.step(torch.as_tensor(z, dtype=torch.float32), current.expand(5, -1)).double().numpy()
    np.testing.assert_allclose(low.latent_map(u).step(z), expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(low.latent_map(u).step(z), low.latent_map().step(z))
    # PLRNN: inputs enter additively
    zp = np.random.default_rng(2).standard_normal((5, plr.A_.shape[0]))
    np.testing.assert_allclose(plr.latent_map(u).step(zp), plr.latent_map().step(zp) + plr.C_ @ u, atol=1e-12)
    for est in fitted:
        assert isinstance(est.latent_map(u), PiecewiseAffineMap)
        assert isinstance(fixed_points(est.latent_map(u)), FixedPoints)


@pytest.mark.parametrize("which", [0, 1])
def test_latent_map_checks_u(fitted, which):
    est = fitted[which]
    with pytest.raises(ValueError, match="length 2"):
        est.latent_map([1.0, 2.0, 3.0])
    rng = np.random.default_rng(0)
    plain = _quiet(type(est)(**{**est.get_params(), "max_iter": 1}), rng.standard_normal((4, 30, 4)))
    with pytest.raises(ValueError, match="fitted without inputs"):
        plain.latent_map([1.0])


def test_each_estimator_names_its_loss(fitted):
    low, plr = fitted
    assert "ELBO" in low.loss_label and "MSE" in plr.loss_label
    assert "loss_label" not in low.get_params()
