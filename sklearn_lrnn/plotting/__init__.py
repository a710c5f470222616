"""Plots of fitted models and of real versus generated data (needs matplotlib).

matplotlib is an optional dependency (``pip install 'sklearn_lrnn[plots]'``) and is imported only when a
function is called. Every function takes an optional ``ax`` (a new figure is made when it is None) and
returns what it drew on, and accepts data in the package's three layouts: a 2-D array
``(n_timesteps, n_features)`` (one recording), a 3-D array ``(n_trials, n_timesteps, n_features)`` or a
list of 2-D trials.

Functions
---------
plot_phase_portrait
    Flow ``F(z) - z`` of the deterministic latent map with its fixed points (and optional trajectories).
plot_traces
    Observed and generated traces, one panel per channel.
plot_power_spectra
    Channel-averaged normalised power spectra of observed and generated data, with D_H in the title.
plot_loss_curve
    Training (and validation) loss per epoch.
plot_latents
    Latent trajectories coloured by a per-trial condition.

One module per kind of plot: ``_phase_portrait`` (latent flow and fixed points), ``_signals`` (traces
and spectra of data), ``_training`` (loss curves), ``_latents`` (latent trajectories); ``_common``
holds the matplotlib import and the argument checks they share.
"""

from ._latents import plot_latents
from ._phase_portrait import plot_phase_portrait
from ._signals import plot_power_spectra, plot_traces
from ._training import plot_loss_curve

__all__ = ["plot_phase_portrait", "plot_traces", "plot_power_spectra", "plot_loss_curve", "plot_latents"]
