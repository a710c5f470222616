"""``observation="poisson_rates"``: spike counts of one channel per unit, from the units' rates."""

from __future__ import annotations

from ._base import register
from .poisson_currents import PoissonCurrents

__all__ = ["PoissonRates"]


@register("poisson_rates")
class PoissonRates(PoissonCurrents):
    """One channel per unit: counts_t ~ Poisson(g(gain * phi(m z_t + W_u v_t; h) + bias))."""

    readout_kind = "rates"
