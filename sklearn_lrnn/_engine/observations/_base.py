"""The protocol every observation model follows (``ObservationModel``), the statistics they start from
(``DataStats``), how they describe themselves to the fused SMC window (``FusedReadout``), and the registry
from the names of the estimator's ``observation=`` to the classes (``register``, ``observation_model``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..covariance import Covariance

__all__ = ["DataStats", "FusedReadout", "OBSERVATION_MODELS", "ObservationModel", "build_observation",
           "observation_model", "observation_step", "register"]


@dataclass
class DataStats:
    """Statistics of the training data an observation model starts from (tensors, float64 for NumPy data).

    ``mean`` (D,): each channel's mean; ``components`` (D, R): the top principal directions of the
    centred data (zero columns where the data have fewer than R); ``noise_var`` (D,): the starting
    observation-noise variance (the PCA residual, or the user's fixed value); ``latent_std`` (R,): the
    standard deviation of the data's projections on ``components`` (the scale the latents start at; None:
    unknown); ``n_samples``: how many time bins the statistics come from (0: unknown).
    """

    mean: torch.Tensor
    components: torch.Tensor
    noise_var: torch.Tensor
    latent_std: torch.Tensor | None = None
    n_samples: int = 0

    def select(self, idx: torch.Tensor) -> DataStats:
        """The statistics of channels ``idx`` (for models made of blocks of channels)."""
        return DataStats(self.mean[idx], self.components[idx], self.noise_var[idx], self.latent_std, self.n_samples)


@dataclass
class FusedReadout:
    """An observation model as the fused SMC window sees it (``csrc/observation_kernels.h``).

    Per channel d: u_d = z . WT[:, d] (+ the input current where ``uses_current``), s_d = phi(u_d; h) with the
    transition's activation where ``phi`` else u_d, pre_d = gain_d s_d + bias_d (gain None = 1); the first
    ``n_gauss`` channels are Gaussian with inverse variances ``inv_var``, the others Poisson with ``link``.
    ``columns`` (D,) puts the data's columns in this order (None: already are). The window computes
    log p(x_t | z_t) up to the particle-independent ``const`` of the model's ``prepare`` (the Gaussian
    normaliser, -log x!), which run_smc adds once.
    """

    WT: torch.Tensor  # (R, D)
    bias: torch.Tensor  # (D,)
    gain: torch.Tensor | None = None
    phi: bool = False
    uses_current: bool = False
    n_gauss: int = 0
    inv_var: torch.Tensor | None = None
    link: str = "softplus"
    columns: torch.Tensor | None = None


class ObservationModel(nn.Module):
    """The protocol every observation model follows (see the module docstring).

    Class attributes the estimator reads before building a model:

    ``linear``: x = C z + d + Gaussian noise (optimal proposal, exact Kalman likelihood).
    ``per_unit``: one channel per network unit (``n_units`` must equal the number of channels).
    ``uses_current``: the mean depends on the input current W_u v_t, passed as ``current``.
    ``takes_count_columns``: needs the estimator's column mask (``poisson_columns``).
    """

    name = ""  # set by ``register``
    linear = False
    per_unit = False
    uses_current = False
    takes_count_columns = False

    @classmethod
    def build(cls, rank: int, n_features: int, *, link="softplus", count_mask=None, noise_std=0.1,
              generator=None) -> ObservationModel:
        """A fresh model for ``n_features`` channels and latent dimension ``rank``."""
        raise NotImplementedError

    @classmethod
    def count_mask(cls, n_features: int, columns=None) -> torch.Tensor:
        """Boolean (n_features,) mask of the channels that must hold non-negative integer counts.

        ``columns`` is the estimator's mask of count columns (models with ``takes_count_columns``)."""
        return torch.zeros(n_features, dtype=torch.bool)

    def init_from_data(self, stats: DataStats, transition) -> None:
        """Start the parameters (under ``torch.no_grad``) from ``stats``; may set the transition's ``m``."""
        raise NotImplementedError

    def mean(self, z, transition, current=None):
        """E[x | z] (..., D)."""
        raise NotImplementedError

    def log_prob(self, x, z, transition, current=None):
        """log p(x | z), summed over the channels."""
        raise NotImplementedError

    def sample(self, z, transition, generator=None, current=None):
        """x ~ p(x | z)."""
        raise NotImplementedError

    def prepare(self, x, transition):
        """(step, const) for the SMC loop: ``step(t, z, current)`` -> log p(x_t | z) - const[:, t].

        ``const`` (B, T) is the particle-independent part (None: nothing split off), computed once per
        forward pass; models override this to hoist data-only work out of the time loop."""

        def step(t, z, current=None):
            return self.log_prob(x[:, t].unsqueeze(1), z, transition)

        return step, None

    def fused_readout(self, transition) -> FusedReadout | None:
        """This model as the fused SMC window of the encoder and bootstrap proposals sees it, or None (the
        per-step loop runs): models whose likelihood is not one readout plus a Gaussian or Poisson term per
        channel keep None."""
        return None

    def export(self, transition) -> dict:
        """The fitted attributes as NumPy arrays: ``observation_matrix_``, ``observation_offset_``,
        ``observation_noise_var_`` and whatever else the model has (e.g. ``observation_gain_``)."""
        raise NotImplementedError


OBSERVATION_MODELS: dict[str, type[ObservationModel]] = {}


def register(name: str):
    """Class decorator: file an observation model under ``name`` (the estimator's ``observation=``)."""

    def deco(cls):
        if name in OBSERVATION_MODELS:
            raise ValueError(f"an observation model is already registered as {name!r}.")
        cls.name = name
        OBSERVATION_MODELS[name] = cls
        return cls

    return deco


def observation_model(name: str) -> type[ObservationModel]:
    """The class registered as ``name``."""
    try:
        return OBSERVATION_MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"observation must be one of {tuple(OBSERVATION_MODELS)}; got {name!r}.") from None


def _numpy(t: torch.Tensor):
    """A float64 NumPy copy (fitted attributes are stored as NumPy, so pickles load anywhere)."""
    return t.detach().cpu().double().numpy().copy()


def _affine_export(C, d, var) -> dict:
    return {"observation_matrix_": _numpy(C), "observation_offset_": _numpy(d), "observation_noise_var_": _numpy(var)}


def _start_noise(noise: Covariance, var: torch.Tensor):
    """Observation noise at the variances ``var`` (their mean for a scalar covariance)."""
    log_std = 0.5 * var.log() if noise.kind != "scalar" else (0.5 * var.mean().log()).reshape(1)
    noise.log_std.copy_(log_std.float().reshape(noise.log_std.shape))


def observation_step(obs: nn.Module, x: torch.Tensor, transition):
    """(step, const) for any observation model: ``step(t, z, current)`` -> log p(x_t | z) - const[:, t]."""
    if hasattr(obs, "prepare"):
        return obs.prepare(x, transition)

    def step(t, z, current=None):
        return obs.log_prob(x[:, t].unsqueeze(1), z, transition)

    return step, None


def build_observation(name: str, rank: int, n_features: int, *, link="softplus", poisson_mask=None,
                      noise_std=0.1, generator=None) -> ObservationModel:
    """The observation model called ``name`` (the estimator's ``observation`` parameter)."""
    return observation_model(name).build(rank, n_features, link=link, count_mask=poisson_mask, noise_std=noise_std,
                                         generator=generator)



def _gauss_ll(x, mu, var):
    r = x - mu
    return -0.5 * ((r * r) / var).sum(-1) - 0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))
