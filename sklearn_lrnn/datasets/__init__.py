"""Data generators (``make_*``) and loaders (``load_*``); nothing is downloaded."""

from ._systems import make_addition_problem, make_lorenz63, make_lorenz96, make_multiplication_problem
from ._spiking import make_poisson_teacher, make_ring_teacher, ring_inputs
from ._teachers import dominant_period, make_low_rank_teacher, simulate_teacher

__all__ = ["make_low_rank_teacher", "simulate_teacher", "dominant_period", "make_poisson_teacher",
           "make_ring_teacher", "ring_inputs",
           "make_lorenz63", "make_lorenz96", "make_addition_problem", "make_multiplication_problem"]
