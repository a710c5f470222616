"""Observation models p(x_t | z_t).

Linear-Gaussian models expose ``linear_gaussian()`` -> (C, d, var) so that the SMC engine can use the
optimal proposal; every model exposes ``log_prob(x, z)``, ``mean(z)`` and ``sample(z, generator)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .covariance import Covariance


class GaussianAffine(nn.Module):
    """x_t ~ N(B z_t + b, diag sigma_x^2)."""

    linear = True

    def __init__(self, rank: int, n_features: int, *, noise_kind="diag", noise_std=0.1, train_noise=True,
                 generator=None, offset=None):
        super().__init__()
        self.B = nn.Parameter(torch.randn(n_features, rank, generator=generator) / math.sqrt(rank))
        self.b = nn.Parameter(torch.zeros(n_features) if offset is None else torch.as_tensor(offset).float())
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

    def linear_gaussian(self, transition):
        return self.B, self.b, self.noise.variance()

    def mean(self, z, transition):
        return z @ self.B.T + self.b

    def log_prob(self, x, z, transition):
        var = self.noise.variance()
        r = x - self.mean(z, transition)
        return -0.5 * ((r * r) / var).sum(-1) - 0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))

    def sample(self, z, transition, generator=None):
        mu = self.mean(z, transition)
        return mu + torch.randn(mu.shape, generator=generator, device=mu.device) * self.noise.std()


class GaussianCurrents(nn.Module):
    """One-to-one readout of the units' currents: x_t ~ N(m z_t + b, diag sigma_x^2), one channel per unit.

    Sharing ``m`` between dynamics and readout pins the units' scale, so the noise in unit space
    (``m Sigma_z m^T``) is identifiable from data, unlike with a free affine readout.
    """

    linear = True

    def __init__(self, rank: int, n_features: int, *, noise_kind="diag", noise_std=0.1, train_noise=True,
                 generator=None, offset=None):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(n_features) if offset is None else torch.as_tensor(offset).float())
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

    def linear_gaussian(self, transition):
        return transition.m, self.b, self.noise.variance()

    def mean(self, z, transition):
        return z @ transition.mT + self.b

    log_prob = GaussianAffine.log_prob
    sample = GaussianAffine.sample


OBSERVATIONS = {"gaussian": GaussianAffine, "gaussian_currents": GaussianCurrents}
