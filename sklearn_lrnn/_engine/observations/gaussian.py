"""``observation="gaussian"``: a free affine readout with Gaussian noise (linear-Gaussian)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..covariance import Covariance
from ._base import FusedReadout, ObservationModel, _affine_export, _start_noise, register

__all__ = ["GaussianAffine", "LinearGaussian"]


class LinearGaussian(ObservationModel):
    """x_t ~ N(C z_t + d, diag sigma_x^2), (C, d, var) = ``linear_gaussian(transition)``: what the
    linear-Gaussian models share (their offset b and noise, likelihood, samples, export, fused form)."""

    linear = True

    def _offset_and_noise(self, n_features, noise_kind, noise_std, train_noise, offset):
        self.b = nn.Parameter(torch.zeros(n_features) if offset is None else torch.as_tensor(offset).float())
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(rank, n_features, noise_std=noise_std, generator=generator)

    def linear_gaussian(self, transition):  # pragma: no cover - abstract
        raise NotImplementedError

    def log_prob(self, x, z, transition, current=None):
        var = self.noise.variance()
        r = x - self.mean(z, transition)
        return -0.5 * ((r * r) / var).sum(-1) - 0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))

    def sample(self, z, transition, generator=None, current=None):
        mu = self.mean(z, transition)
        return mu + torch.randn(mu.shape, generator=generator, device=mu.device) * self.noise.std()

    def prepare(self, x, transition):
        # the normaliser is particle-independent: split off once per pass (the fused window relies on it)
        var = self.noise.variance()
        inv_var = 1.0 / var
        const = (-0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))).expand(x.shape[:2])

        def step(t, z, current=None):
            r = x[:, t].unsqueeze(1) - self.mean(z, transition)
            return -0.5 * (r * r * inv_var).sum(-1)

        return step, const

    def export(self, transition):
        return _affine_export(*self.linear_gaussian(transition))

    def fused_readout(self, transition):
        C, d, var = self.linear_gaussian(transition)
        return FusedReadout(C.T, d, n_gauss=C.shape[0], inv_var=1.0 / var)


@register("gaussian")
class GaussianAffine(LinearGaussian):
    """x_t ~ N(B z_t + b, diag sigma_x^2)."""

    def __init__(self, rank: int, n_features: int, *, noise_kind="diag", noise_std=0.1, train_noise=True,
                 generator=None, offset=None):
        super().__init__()
        self.B = nn.Parameter(torch.randn(n_features, rank, generator=generator) / math.sqrt(rank))
        self._offset_and_noise(n_features, noise_kind, noise_std, train_noise, offset)

    def linear_gaussian(self, transition):
        return self.B, self.b, self.noise.variance()

    def init_from_data(self, stats, transition):
        # the readout at the data's top principal directions, the offset at the mean
        self.B.copy_(stats.components.float())
        self.b.copy_(stats.mean.float())
        _start_noise(self.noise, stats.noise_var)

    def mean(self, z, transition, current=None):
        return z @ self.B.T + self.b
