"""``observation="poisson"``: spike counts through a free affine readout."""

from __future__ import annotations

from ._base import register
from ._counts import Poisson
from ._readouts import AffineReadout

__all__ = ["PoissonAffine"]


@register("poisson")
class PoissonAffine(Poisson):
    """Spike counts through a free affine readout: counts_t ~ Poisson(g(B z_t + b))."""

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(AffineReadout(rank, n_features, generator=generator), link)
