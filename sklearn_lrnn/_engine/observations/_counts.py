"""The Poisson likelihood the count models share: the links g, g^-1, log p without -log x!, where a
channel's bias and gain start, and ``Poisson``, the unregistered base of the count models."""

from __future__ import annotations

import torch
from torch import nn

from ._base import DataStats, ObservationModel, _numpy

__all__ = ["LINKS", "Poisson", "inverse_link", "link_rate", "poisson_log_prob"]

# The non-linear models override ``prepare(x, transition)`` -> (step, const): ``step(t, z, current)`` gives
# log p(x_t | z) up to the particle-independent ``const`` (B, T) (e.g. -log x! for Poisson), so the SMC loop does the
# data-only work once per forward pass. ``current`` (B, 1, N) is the input current W_u v_t, used by the
# one-to-one readouts of the units (None without inputs).

LINKS = ("softplus", "exp")
_EXP_MAX = 20.0  # exp link: clamp the log rate (e^20 counts per bin is far beyond any data) against overflow


def link_rate(pre: torch.Tensor, link: str) -> torch.Tensor:
    """Rate g(pre) for g in {softplus, exp}."""
    if link == "softplus":
        return torch.nn.functional.softplus(pre)
    return torch.exp(pre.clamp(max=_EXP_MAX))


def inverse_link(rate, link: str, floor: float = 1e-3):
    """g^-1 of a positive rate (NumPy or torch), rates below ``floor`` raised to it; used to initialise
    biases at the data's mean counts."""
    rate = torch.as_tensor(rate, dtype=torch.float64).clamp_min(floor)
    return (rate.log() if link == "exp" else rate + torch.log(-torch.expm1(-rate))).float()


def poisson_log_prob(x: torch.Tensor, pre: torch.Tensor, link: str) -> torch.Tensor:
    """sum_d x_d log g(pre_d) - g(pre_d), without the -log x! term."""
    if link == "exp":
        pre = pre.clamp(max=_EXP_MAX)
        return (x * pre - pre.exp()).sum(-1)
    rate = torch.nn.functional.softplus(pre)
    return (x * torch.log(rate + 1e-8) - rate).sum(-1)


# Largest standard deviation of a channel's starting log-rate modulation (pre-activation units): rates
# that vary about 7-fold (e^2) across one latent standard deviation. See _poisson_start.
_MAX_START_MODULATION = 2.0


def _poisson_start(stats: DataStats, link: str):
    """Bias and gain of each Poisson channel at the start of a fit.

    The bias sits at the channel's mean count and the gain is 1 / g'(bias), so that, to first order, the
    rates move like the data's PCA reconstruction. That first order is only good where the link is
    close to linear over the latents' range. For sparse units (most real recordings: rates below 1 Hz,
    mean counts of 1e-3 per bin) g'(bias) is ~1e-3 and the gain would be ~1e3 (clipped at 100): a latent a
    few standard deviations from its mean would then predict tens of spikes per bin where the data have
    none (with an expanding prior, see ``initialisation.start_contracting``, many more). So the gain is
    capped where the latents' starting spread (``stats.latent_std``) would move the channel's log rate by
    more than ``_MAX_START_MODULATION``; training then grows the modulation the data support.

    Mean counts are floored at half a spike over the data (0.5 / n_samples, at most 1e-3; 1e-3 where the
    size is unknown), so that a unit with no spike gets a very low rate, not -inf.
    """
    floor = min(0.5 / stats.n_samples, 1e-3) if stats.n_samples else 1e-3
    bias = inverse_link(stats.mean, link, floor=floor)
    slope = torch.sigmoid(bias) if link == "softplus" else bias.exp()
    gain = 1.0 / slope.clamp_min(1e-2)
    if stats.latent_std is not None:
        spread = (stats.components.float() ** 2 @ stats.latent_std.float() ** 2).sqrt()  # (D,) |B_d| z-scale
        modulation = gain * spread
        gain = torch.where(modulation > _MAX_START_MODULATION,
                           gain * _MAX_START_MODULATION / modulation.clamp_min(1e-12), gain)
    return bias, gain


class Poisson(ObservationModel):
    """counts_t ~ Poisson(g(readout(z_t))), g = softplus or exp, channels independent given z_t."""

    def __init__(self, readout: nn.Module, link: str = "softplus"):
        super().__init__()
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}; got {link!r}.")
        self.readout, self.link = readout, link

    @property
    def uses_current(self):
        return self.readout.uses_current

    @classmethod
    def count_mask(cls, n_features, columns=None):
        return torch.ones(n_features, dtype=torch.bool)

    def init_from_data(self, stats, transition):
        bias, gain = _poisson_start(stats, self.link)
        self.readout.init_from_data(stats, transition, bias, gain)

    def mean(self, z, transition, current=None):
        return link_rate(self.readout(z, transition, current), self.link)

    def log_prob(self, x, z, transition, current=None):
        pre = self.readout(z, transition, current)
        return poisson_log_prob(x, pre, self.link) - torch.lgamma(x + 1).sum(-1)

    def prepare(self, x, transition):
        const = -torch.lgamma(x + 1).sum(-1)  # (B, T)

        def step(t, z, current=None):
            return poisson_log_prob(x[:, t].unsqueeze(1), self.readout(z, transition, current), self.link)

        return step, const

    def sample(self, z, transition, generator=None, current=None):
        return torch.poisson(self.mean(z, transition, current), generator=generator)

    def fused_readout(self, transition):
        return self.readout.fused(transition, link=self.link)

    def export(self, transition):
        out = self.readout.export(transition)
        out["observation_noise_var_"] = _numpy(torch.full(out["observation_offset_"].shape, float("nan")))  # no noise
        return out
