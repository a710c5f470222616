"""Observation models p(x_t | z_t), one object per model behind one protocol (``ObservationModel``).

Each model owns its knowledge: its parameters, how it is built from the estimator's settings
(``build``), which columns hold counts (``count_mask``), how it starts from statistics of the data
(``init_from_data``), its likelihood (``log_prob``, and ``prepare`` for the SMC loop), its mean and
samples, and the fitted NumPy attributes it exports (``export``). ``register(name)`` files a class under
the name the estimator's ``observation=`` parameter takes; the estimator only asks the registry
(``observation_model(name)``), so adding an observation model is a new module of this package, imported
below (plus its tests).

Models whose likelihood is one readout followed by a Gaussian or Poisson term per channel describe
themselves to the fused SMC window of the encoder and bootstrap proposals by ``fused_readout()``
(a ``FusedReadout``; None keeps the per-step loop, the default for any other model).

Linear-Gaussian models (``linear = True``) also expose ``linear_gaussian()`` -> (C, d, var), so that the
SMC engine can use the optimal proposal and the Kalman filter the exact likelihood.

One model per module: ``gaussian``, ``gaussian_currents``, ``gaussian_rates``, ``poisson``,
``poisson_currents``, ``poisson_rates``, ``multimodal``; the protocol and the registry are ``_base``, the
Poisson likelihood and links the count models share ``_counts``, their readouts ``_readouts``.
"""

from ._base import (
    OBSERVATION_MODELS, DataStats, FusedReadout, ObservationModel, build_observation, observation_model,
    observation_step, register,
)
from ._counts import LINKS, Poisson, inverse_link, link_rate, poisson_log_prob
from ._readouts import AffineReadout, UnitReadout

# the models, in the order of OBSERVATION_NAMES (importing a module registers its model)
from .gaussian import GaussianAffine, LinearGaussian
from .gaussian_currents import GaussianCurrents
from .gaussian_rates import GaussianUnits
from .poisson import PoissonAffine
from .poisson_currents import PoissonCurrents
from .poisson_rates import PoissonRates
from .multimodal import Multimodal

OBSERVATION_NAMES = tuple(OBSERVATION_MODELS)

__all__ = [
    "OBSERVATION_MODELS", "OBSERVATION_NAMES", "LINKS", "DataStats", "FusedReadout", "ObservationModel", "register",
    "observation_model", "observation_step", "build_observation", "link_rate", "inverse_link", "poisson_log_prob",
    "AffineReadout", "UnitReadout", "Poisson", "LinearGaussian", "GaussianAffine", "GaussianCurrents", "GaussianUnits",
    "PoissonAffine", "PoissonCurrents", "PoissonRates", "Multimodal",
]
