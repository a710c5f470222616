"""Particle smoothing: with the teacher's own parameters plugged in, the smoothing posterior must be
closer to the true latents than the filtering posterior (it also sees the future)."""

import numpy as np
import pytest
import torch

from sklearn_lrnn import StochasticLowRankRNN
from sklearn_lrnn._engine.low_rank import LowRankTransition
from sklearn_lrnn._engine.observations import GaussianCurrents
from sklearn_lrnn._engine.smc import StateSpaceModel, run_smc
from sklearn_lrnn._engine.smoothing import smooth
from sklearn_lrnn.datasets import make_low_rank_teacher


def _teacher_model(data):
    t = data.teacher
    N = t["left_vectors"].shape[0]
    tr = LowRankTransition(2, N, noise_kind="diag", noise_std=t["noise_std"], init_kind="diag", init_std=2.0,
                           learn_init_mean=False)
    obs = GaussianCurrents(2, N, noise_std=t["obs_noise_std"])
    f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        tr.mT.copy_(f32(t["left_vectors"].T))
        tr.n.copy_(f32(t["right_vectors"]))
        tr.h.copy_(f32(t["bias"]))
        tr.theta.fill_(float(np.log(-np.log(t["decay"]))))
    return StateSpaceModel(tr, obs)


@pytest.mark.parametrize("method", ["conditional", "marginal"])
def test_smoothing_beats_filtering_with_true_parameters(method):
    # noisy observations (sigma_x = 1 per unit), so that the future carries real information
    data = make_low_rank_teacher(n_trials=20, n_timesteps=60, obs_noise_std=1.0, random_state=0)
    model = _teacher_model(data)
    x = torch.as_tensor(data.X, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        res = run_smc(model, x, n_particles=64, return_filter=True, return_history=True, generator=g)
    sm = smooth(model, res.particles, res.log_weights, method=method, generator=g).numpy()
    rmse = lambda Z: np.sqrt(((Z - data.Z) ** 2).sum(-1).mean())  # noqa: E731
    rf, rs = rmse(res.filter_means.numpy()), rmse(sm)
    assert rs < 0.9 * rf, (rf, rs)
    # the last step has no future: smoothing equals filtering there (up to resampling noise)
    last = lambda Z: np.sqrt(((Z[:, -1] - data.Z[:, -1]) ** 2).sum(-1).mean())  # noqa: E731
    assert abs(last(sm) - last(res.filter_means.numpy())) < 0.1


def test_transform_smoothing_through_the_estimator():
    data = make_low_rank_teacher(n_trials=8, n_timesteps=25, n_units=8, random_state=0)
    model = StochasticLowRankRNN(rank=2, max_iter=2, n_particles=4, batch_size=4, random_state=0,
                                 compute_fixed_points=False).fit(data.X)
    Zf = model.transform(data.X)
    for smoother in ("conditional", "marginal"):
        Zs = model.transform(data.X, method="smoothing", smoother=smoother)
        assert Zs.shape == Zf.shape and np.isfinite(Zs).all()
        np.testing.assert_array_equal(Zs, model.transform(data.X, method="smoothing", smoother=smoother))
    Zl = model.transform([data.X[0], data.X[1, :12]], method="smoothing")
    assert [z.shape for z in Zl] == [(25, 2), (12, 2)]
    with pytest.raises(ValueError, match="method"):
        model.transform(data.X, method="smooth")
    with pytest.raises(ValueError, match="smoother"):
        model.transform(data.X, method="smoothing", smoother="fast")
