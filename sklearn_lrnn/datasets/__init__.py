"""Data generators (``make_*``) and loaders of public recordings (``fetch_*``).

The generators are offline. The ``fetch_*`` loaders read prepared files from :func:`get_data_home` and,
when a file is missing (and ``download_if_missing=True``), download it from its public source, check its
SHA-256 and convert it; :func:`bin_running_periods` bins a linear-track recording into trials.
"""

from ._binning import bin_running_periods, running_speed
from ._recordings import (fetch_eeg_resting, fetch_fmri_rois, fetch_linear_track, fetch_m1_reaching,
                          get_data_home)
from ._systems import make_addition_problem, make_lorenz63, make_lorenz96, make_multiplication_problem
from ._sparse import make_sparse_spiking
from ._spiking import make_poisson_teacher, make_ring_teacher, ring_inputs
from ._teachers import dominant_period, make_low_rank_teacher, simulate_teacher

__all__ = ["make_low_rank_teacher", "simulate_teacher", "dominant_period", "make_poisson_teacher",
           "make_ring_teacher", "ring_inputs", "make_sparse_spiking",
           "make_lorenz63", "make_lorenz96", "make_addition_problem", "make_multiplication_problem",
           "get_data_home", "fetch_linear_track", "fetch_m1_reaching", "fetch_fmri_rois", "fetch_eeg_resting",
           "bin_running_periods", "running_speed"]
