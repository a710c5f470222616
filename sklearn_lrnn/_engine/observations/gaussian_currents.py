"""``observation="gaussian_currents"``: the units' currents m z + b with Gaussian noise (linear-Gaussian)."""

from __future__ import annotations

from ._base import _start_noise, register
from .gaussian import LinearGaussian

__all__ = ["GaussianCurrents"]


@register("gaussian_currents")
class GaussianCurrents(LinearGaussian):
    """One-to-one readout of the units' currents: x_t ~ N(m z_t + b, diag sigma_x^2), one channel per unit.

    Sharing ``m`` between dynamics and readout pins the units' scale, so the noise in unit space
    (``m Sigma_z m^T``) is identifiable from data, unlike with a free affine readout.
    """

    per_unit = True

    def __init__(self, rank: int, n_features: int, *, noise_kind="diag", noise_std=0.1, train_noise=True,
                 generator=None, offset=None):
        super().__init__()
        self._offset_and_noise(n_features, noise_kind, noise_std, train_noise, offset)

    def linear_gaussian(self, transition):
        return transition.m, self.b, self.noise.variance()

    def init_from_data(self, stats, transition):
        transition.mT.copy_(stats.components.T.float())  # the units' left vectors m at the PCA directions
        self.b.copy_(stats.mean.float())
        _start_noise(self.noise, stats.noise_var)

    def mean(self, z, transition, current=None):
        return z @ transition.mT + self.b
