"""Observation models p(x_t | z_t), one object per model behind one protocol (``ObservationModel``).

Each model owns its knowledge: its parameters, how it is built from the estimator's settings
(``build``), which columns hold counts (``count_mask``), how it starts from statistics of the data
(``init_from_data``), its likelihood (``log_prob``, and ``prepare`` for the SMC loop), its mean and
samples, and the fitted NumPy attributes it exports (``export``). ``register(name)`` files a class under
the name the estimator's ``observation=`` parameter takes; the estimator only asks the registry
(``observation_model(name)``), so adding an observation model touches this file (plus its tests).

Models whose likelihood is one readout followed by a Gaussian or Poisson term per channel describe
themselves to the fused SMC window of the encoder and bootstrap proposals by ``fused_readout()``
(a ``FusedReadout``; None keeps the per-step loop, the default for any other model).

Linear-Gaussian models (``linear = True``) also expose ``linear_gaussian()`` -> (C, d, var), so that the
SMC engine can use the optimal proposal and the Kalman filter the exact likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .covariance import Covariance


# --------------------------------------------------------------------------- the protocol
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


# --------------------------------------------------------------------------- linear-Gaussian models
@register("gaussian")
class GaussianAffine(ObservationModel):
    """x_t ~ N(B z_t + b, diag sigma_x^2)."""

    linear = True

    def __init__(self, rank: int, n_features: int, *, noise_kind="diag", noise_std=0.1, train_noise=True,
                 generator=None, offset=None):
        super().__init__()
        self.B = nn.Parameter(torch.randn(n_features, rank, generator=generator) / math.sqrt(rank))
        self.b = nn.Parameter(torch.zeros(n_features) if offset is None else torch.as_tensor(offset).float())
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(rank, n_features, noise_std=noise_std, generator=generator)

    def linear_gaussian(self, transition):
        return self.B, self.b, self.noise.variance()

    def init_from_data(self, stats, transition):
        # the readout at the data's top principal directions, the offset at the mean
        self.B.copy_(stats.components.float())
        self.b.copy_(stats.mean.float())
        _start_noise(self.noise, stats.noise_var)

    def mean(self, z, transition, current=None):
        return z @ self.B.T + self.b

    def log_prob(self, x, z, transition, current=None):
        var = self.noise.variance()
        r = x - self.mean(z, transition)
        return -0.5 * ((r * r) / var).sum(-1) - 0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))

    def sample(self, z, transition, generator=None, current=None):
        mu = self.mean(z, transition)
        return mu + torch.randn(mu.shape, generator=generator, device=mu.device) * self.noise.std()

    def prepare(self, x, transition):
        # the normaliser is particle-independent: split off once per pass (the fused window relies on it)
        var = self.noise.variance()
        inv_var = 1.0 / var
        const = (-0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))).expand(x.shape[:2])

        def step(t, z, current=None):
            r = x[:, t].unsqueeze(1) - self.mean(z, transition)
            return -0.5 * (r * r * inv_var).sum(-1)

        return step, const

    def export(self, transition):
        return _affine_export(*self.linear_gaussian(transition))

    def fused_readout(self, transition):
        C, d, var = self.linear_gaussian(transition)
        return FusedReadout(C.T, d, n_gauss=C.shape[0], inv_var=1.0 / var)


@register("gaussian_currents")
class GaussianCurrents(ObservationModel):
    """One-to-one readout of the units' currents: x_t ~ N(m z_t + b, diag sigma_x^2), one channel per unit.

    Sharing ``m`` between dynamics and readout pins the units' scale, so the noise in unit space
    (``m Sigma_z m^T``) is identifiable from data, unlike with a free affine readout.
    """

    linear = True
    per_unit = True

    def __init__(self, rank: int, n_features: int, *, noise_kind="diag", noise_std=0.1, train_noise=True,
                 generator=None, offset=None):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(n_features) if offset is None else torch.as_tensor(offset).float())
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(rank, n_features, noise_std=noise_std, generator=generator)

    def linear_gaussian(self, transition):
        return transition.m, self.b, self.noise.variance()

    def init_from_data(self, stats, transition):
        transition.mT.copy_(stats.components.T.float())  # the units' left vectors m at the PCA directions
        self.b.copy_(stats.mean.float())
        _start_noise(self.noise, stats.noise_var)

    def mean(self, z, transition, current=None):
        return z @ transition.mT + self.b

    log_prob = GaussianAffine.log_prob
    sample = GaussianAffine.sample
    prepare = GaussianAffine.prepare
    export = GaussianAffine.export
    fused_readout = GaussianAffine.fused_readout


# --------------------------------------------------------------------------- non-linear observation models
# They override ``prepare(x, transition)`` -> (step, const): ``step(t, z, current)`` gives log p(x_t | z)
# up to the particle-independent ``const`` (B, T) (e.g. -log x! for Poisson), so the SMC loop does the
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


class AffineReadout(nn.Module):
    """pre_t = B z_t + b (free readout matrix)."""

    uses_current = False

    def __init__(self, rank: int, n_features: int, generator=None):
        super().__init__()
        self.B = nn.Parameter(torch.randn(n_features, rank, generator=generator) / math.sqrt(rank))
        self.b = nn.Parameter(torch.zeros(n_features))

    def forward(self, z, transition, current=None):
        return z @ self.B.T + self.b

    def init_from_data(self, stats, transition, bias, gain):
        """b at ``bias``, B at the PCA directions scaled per channel by ``gain``."""
        self.b.copy_(bias)
        self.B.copy_(stats.components.float() * gain.unsqueeze(1))

    def export(self, transition):
        return {"observation_matrix_": _numpy(self.B), "observation_offset_": _numpy(self.b)}

    def fused(self, transition, **likelihood):
        return FusedReadout(self.B.T, self.b, **likelihood)


class UnitReadout(nn.Module):
    """One channel per unit: pre_t = gain * s_t + bias with s the currents m z + W_u v or the rates phi(.; h).

    Shares ``m`` (and ``h``) with the dynamics, which pins the units' scale as for ``GaussianCurrents``.
    """

    uses_current = True

    def __init__(self, n_features: int, kind: str):
        super().__init__()
        if kind not in ("currents", "rates"):
            raise ValueError(f"unit readout kind must be 'currents' or 'rates'; got {kind!r}.")
        self.kind = kind
        self.gain = nn.Parameter(torch.ones(n_features))
        self.bias = nn.Parameter(torch.zeros(n_features))

    def forward(self, z, transition, current=None):
        from .low_rank import activate

        s = z @ transition.mT
        if current is not None:
            s = s + current
        if self.kind == "rates":
            s = activate(s, transition.h, transition.activation)
        return s * self.gain + self.bias

    def init_from_data(self, stats, transition, bias, gain):
        """m at the PCA directions, the channels' bias and gain at ``bias`` and ``gain``."""
        transition.mT.copy_(stats.components.T.float())
        self.bias.copy_(bias)
        self.gain.copy_(gain)

    def export(self, transition):
        # the readout of unit currents is m z + bias (times the gain)
        return {"observation_matrix_": _numpy(transition.m), "observation_offset_": _numpy(self.bias),
                "observation_gain_": _numpy(self.gain), "observation_bias_": _numpy(self.bias)}

    def fused(self, transition, **likelihood):
        return FusedReadout(transition.mT, self.bias, gain=self.gain, phi=self.kind == "rates", uses_current=True,
                            **likelihood)


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


@register("gaussian_rates")
class GaussianUnits(ObservationModel):
    """x_t ~ N(gain * s_t + bias, diag sigma_x^2), s the units' rates phi(m z + W_u v; h) (non-linear in z)."""

    per_unit = True
    uses_current = True

    def __init__(self, n_features: int, kind: str = "rates", *, noise_kind="diag", noise_std=0.1, train_noise=True):
        super().__init__()
        self.readout = UnitReadout(n_features, kind)
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(n_features, "rates", noise_std=noise_std)

    def init_from_data(self, stats, transition):
        transition.mT.copy_(stats.components.T.float())
        self.readout.bias.copy_(stats.mean.float())
        _start_noise(self.noise, stats.noise_var)

    def mean(self, z, transition, current=None):
        return self.readout(z, transition, current)

    def log_prob(self, x, z, transition, current=None):
        return _gauss_ll(x, self.mean(z, transition, current), self.noise.variance())

    def prepare(self, x, transition):
        var = self.noise.variance()
        inv_var = 1.0 / var
        const = (-0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))).expand(x.shape[:2])

        def step(t, z, current=None):
            r = x[:, t].unsqueeze(1) - self.readout(z, transition, current)
            return -0.5 * (r * r * inv_var).sum(-1)

        return step, const

    def sample(self, z, transition, generator=None, current=None):
        mu = self.mean(z, transition, current)
        return mu + torch.randn(mu.shape, generator=generator, device=mu.device) * self.noise.std()

    def export(self, transition):
        out = self.readout.export(transition)
        out["observation_noise_var_"] = _numpy(self.noise.variance())
        return out

    def fused_readout(self, transition):
        var = self.noise.variance()
        return self.readout.fused(transition, n_gauss=var.shape[0], inv_var=1.0 / var)


def _gauss_ll(x, mu, var):
    r = x - mu
    return -0.5 * ((r * r) / var).sum(-1) - 0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))


@register("poisson")
class PoissonAffine(Poisson):
    """Spike counts through a free affine readout: counts_t ~ Poisson(g(B z_t + b))."""

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(AffineReadout(rank, n_features, generator=generator), link)


@register("poisson_currents")
class PoissonCurrents(Poisson):
    """One channel per unit: counts_t ~ Poisson(g(gain * (m z_t + W_u v_t) + bias))."""

    per_unit = True
    readout_kind = "currents"

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(UnitReadout(n_features, cls.readout_kind), link)


@register("poisson_rates")
class PoissonRates(PoissonCurrents):
    """One channel per unit: counts_t ~ Poisson(g(gain * phi(m z_t + W_u v_t; h) + bias))."""

    readout_kind = "rates"


@register("multimodal")
class Multimodal(ObservationModel):
    """Gaussian and Poisson channels in one model: a column mask splits x into a Gaussian block
    N(B_g z + b_g, diag sigma^2) and a Poisson block Poisson(g(B_p z + b_p)); log p is the sum of the two."""

    takes_count_columns = True

    def __init__(self, rank: int, n_features: int, poisson_mask, *, link="softplus", noise_kind="diag",
                 noise_std=0.1, train_noise=True, generator=None):
        super().__init__()
        mask = self.count_mask(n_features, poisson_mask)
        self.register_buffer("poisson_idx", torch.nonzero(mask).squeeze(1))
        self.register_buffer("gauss_idx", torch.nonzero(~mask).squeeze(1))
        n_p, n_g = int(mask.sum()), int((~mask).sum())
        self.gaussian = GaussianAffine(rank, n_g, noise_kind=noise_kind, noise_std=noise_std,
                                       train_noise=train_noise, generator=generator)
        self.poisson = Poisson(AffineReadout(rank, n_p, generator=generator), link)
        self.n_features = n_features

    @classmethod
    def build(cls, rank, n_features, *, link="softplus", count_mask=None, noise_std=0.1, generator=None):
        return cls(rank, n_features, count_mask, link=link, noise_std=noise_std, generator=generator)

    @classmethod
    def count_mask(cls, n_features, columns=None):
        mask = torch.as_tensor(columns, dtype=torch.bool) if columns is not None else None
        if mask is None or mask.shape != (n_features,) or mask.all() or not mask.any():
            raise ValueError("observation='multimodal' needs some, but not all, columns in poisson_columns; use "
                             "'poisson' or 'gaussian' for a single modality.")
        return mask

    def init_from_data(self, stats, transition):
        self.gaussian.init_from_data(stats.select(self.gauss_idx), transition)
        self.poisson.init_from_data(stats.select(self.poisson_idx), transition)

    def _split(self, x):
        return x.index_select(-1, self.gauss_idx), x.index_select(-1, self.poisson_idx)

    def _join(self, xg, xp):
        out = xg.new_empty(xg.shape[:-1] + (self.n_features,))
        out[..., self.gauss_idx] = xg
        out[..., self.poisson_idx] = xp
        return out

    def mean(self, z, transition, current=None):
        return self._join(self.gaussian.mean(z, transition), self.poisson.mean(z, transition))

    def log_prob(self, x, z, transition, current=None):
        xg, xp = self._split(x)
        return self.gaussian.log_prob(xg, z, transition) + self.poisson.log_prob(xp, z, transition)

    def prepare(self, x, transition):
        xg, xp = self._split(x)  # split once per forward pass, not per step
        var = self.gaussian.noise.variance()
        inv_var = 1.0 / var
        const = -torch.lgamma(xp + 1).sum(-1) - 0.5 * (var.log().sum() + xg.shape[-1] * math.log(2 * math.pi))
        g, p = self.gaussian, self.poisson

        def step(t, z, current=None):
            r = xg[:, t].unsqueeze(1) - (z @ g.B.T + g.b)
            return -0.5 * (r * r * inv_var).sum(-1) + poisson_log_prob(xp[:, t].unsqueeze(1), p.readout(z, transition),
                                                                      p.link)

        return step, const

    def sample(self, z, transition, generator=None, current=None):
        return self._join(self.gaussian.sample(z, transition, generator), self.poisson.sample(z, transition, generator))

    def fused_readout(self, transition):
        # the Gaussian block first, then the Poisson block (the window's channel order)
        g, p = self.gaussian, self.poisson.readout
        return FusedReadout(torch.cat([g.B, p.B]).T, torch.cat([g.b, p.b]), n_gauss=g.B.shape[0],
                            inv_var=1.0 / g.noise.variance(), link=self.poisson.link,
                            columns=torch.cat([self.gauss_idx, self.poisson_idx]))

    def export(self, transition):
        # one row per channel: the Gaussian block's B_g, b_g, sigma^2 and the Poisson block's B_p, b_p (NaN noise)
        g, p = self.gaussian, self.poisson.readout
        D, R = self.n_features, g.B.shape[1]
        C, d = torch.empty(D, R), torch.empty(D)
        var = torch.full((D,), float("nan"))
        gi, pi = self.gauss_idx.cpu(), self.poisson_idx.cpu()
        C[gi], d[gi], var[gi] = g.B.detach().cpu(), g.b.detach().cpu(), g.noise.variance().detach().cpu()
        C[pi], d[pi] = p.B.detach().cpu(), p.b.detach().cpu()
        return _affine_export(C, d, var)


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


OBSERVATION_NAMES = tuple(OBSERVATION_MODELS)
