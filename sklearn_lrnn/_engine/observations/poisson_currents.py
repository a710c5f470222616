"""``observation="poisson_currents"``: spike counts of one channel per unit, from the units' currents."""

from __future__ import annotations

from ._base import register
from ._counts import Poisson
from ._readouts import UnitReadout

__all__ = ["PoissonCurrents"]


@register("poisson_currents")
class PoissonCurrents(Poisson):
    """One channel per unit: counts_t ~ Poisson(g(gain * (m z_t + W_u v_t) + bias))."""

    per_unit = True
    readout_kind = "currents"

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(UnitReadout(n_features, cls.readout_kind), link)
