"""Data generators (``make_*``) and loaders (``load_*``); nothing is downloaded."""

from ._teachers import dominant_period, make_low_rank_teacher, simulate_teacher

__all__ = ["make_low_rank_teacher", "simulate_teacher", "dominant_period"]
