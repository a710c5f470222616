"""Metrics of dynamical-systems reconstruction and their scikit-learn scorers.

Definitions: section "Comparing generated data with recordings" of the theory page (``doc/theory.rst``).

Every metric accepts the three data containers of the package: a 2-D array ``(n_timesteps,
n_features)`` (one recording), a 3-D array ``(n_trials, n_timesteps, n_features)`` or a list of 2-D
trials, and raises a ``ValueError`` that says how to fix bad input (NaN, mismatched features, too short).

Divergences of generated from real data
    :func:`state_space_divergence` (D_stsp, binned or Gaussian-mixture KL),
    :func:`power_spectrum_distance` (D_H, Hellinger distance of power spectra), :func:`power_spectra`.
Forecasts
    :func:`prediction_error` (PE(n)), :func:`persistence_forecast` (baseline).
Spike trains
    :func:`mean_rates`, :func:`isi_distribution`, :func:`isi_cv`, :func:`pairwise_correlations`,
    :func:`spike_statistics_distance`.
Scorers for ``GridSearchCV(scoring=...)`` (higher is better)
    :data:`elbo_scorer`, :func:`state_space_scorer`, :func:`power_spectrum_scorer`,
    :func:`prediction_error_scorer`, :func:`spike_statistics_scorer`; :func:`generate_like` is the
    generation protocol they share.
Held-out evaluation of continuous recordings (model versus baselines)
    :func:`held_out_evaluation` (fit on the beginning, score on the rest), :func:`held_out_scorers`,
    :func:`latent_forecast` (k-step forecasts of the low-rank model).
Co-smoothing (Neural Latents Benchmark): held-out neurons predicted from held-in latents
    :func:`bits_per_spike`, :class:`CoSmoothing` (meta-estimator; ``score`` is bits per spike),
    :data:`co_smoothing_scorer`.
"""

from ._metrics._cosmoothing import CoSmoothing, bits_per_spike, co_smoothing_scorer
from ._metrics._divergence import state_space_divergence
from ._metrics._held_out import held_out_evaluation, held_out_scorers, latent_forecast
from ._metrics._prediction import persistence_forecast, prediction_error
from ._metrics._scorers import (
    elbo_scorer,
    generate_like,
    power_spectrum_scorer,
    prediction_error_scorer,
    spike_statistics_scorer,
    state_space_scorer,
)
from ._metrics._spectrum import power_spectra, power_spectrum_distance
from ._metrics._spikes import (
    isi_cv,
    isi_distribution,
    mean_rates,
    pairwise_correlations,
    spike_statistics_distance,
)

__all__ = [
    "state_space_divergence",
    "power_spectrum_distance",
    "power_spectra",
    "prediction_error",
    "persistence_forecast",
    "mean_rates",
    "isi_distribution",
    "isi_cv",
    "pairwise_correlations",
    "spike_statistics_distance",
    "elbo_scorer",
    "state_space_scorer",
    "power_spectrum_scorer",
    "prediction_error_scorer",
    "spike_statistics_scorer",
    "generate_like",
    "held_out_evaluation",
    "held_out_scorers",
    "latent_forecast",
    "bits_per_spike",
    "CoSmoothing",
    "co_smoothing_scorer",
]
