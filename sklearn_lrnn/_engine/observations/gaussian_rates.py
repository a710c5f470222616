"""``observation="gaussian_rates"``: the units' rates phi(m z + W_u v; h) with Gaussian noise."""

from __future__ import annotations

import math

import torch

from ..covariance import Covariance
from ._base import ObservationModel, _gauss_ll, _numpy, _start_noise, register
from ._readouts import UnitReadout

__all__ = ["GaussianUnits"]


@register("gaussian_rates")
class GaussianUnits(ObservationModel):
    """x_t ~ N(gain * s_t + bias, diag sigma_x^2), s the units' rates phi(m z + W_u v; h) (non-linear in z)."""

    per_unit = True
    uses_current = True

    def __init__(self, n_features: int, kind: str = "rates", *, noise_kind="diag", noise_std=0.1, train_noise=True):
        super().__init__()
        self.readout = UnitReadout(n_features, kind)
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(n_features, "rates", noise_std=noise_std)

    def init_from_data(self, stats, transition):
        transition.mT.copy_(stats.components.T.float())
        self.readout.bias.copy_(stats.mean.float())
        _start_noise(self.noise, stats.noise_var)

    def mean(self, z, transition, current=None):
        return self.readout(z, transition, current)

    def log_prob(self, x, z, transition, current=None):
        return _gauss_ll(x, self.mean(z, transition, current), self.noise.variance())

    def prepare(self, x, transition):
        var = self.noise.variance()
        inv_var = 1.0 / var
        const = (-0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))).expand(x.shape[:2])

        def step(t, z, current=None):
            r = x[:, t].unsqueeze(1) - self.readout(z, transition, current)
            return -0.5 * (r * r * inv_var).sum(-1)

        return step, const

    def sample(self, z, transition, generator=None, current=None):
        mu = self.mean(z, transition, current)
        return mu + torch.randn(mu.shape, generator=generator, device=mu.device) * self.noise.std()

    def export(self, transition):
        out = self.readout.export(transition)
        out["observation_noise_var_"] = _numpy(self.noise.variance())
        return out

    def fused_readout(self, transition):
        var = self.noise.variance()
        return self.readout.fused(transition, n_gauss=var.shape[0], inv_var=1.0 / var)
