"""Observation models p(x_t | z_t).

Linear-Gaussian models expose ``linear_gaussian()`` -> (C, d, var) so that the SMC engine can use the
optimal proposal; every model exposes ``log_prob(x, z)``, ``mean(z)`` and ``sample(z, generator)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .covariance import Covariance


class GaussianAffine(nn.Module):
    """x_t ~ N(B z_t + b, diag sigma_x^2)."""

    linear = True

    def __init__(self, rank: int, n_features: int, *, noise_kind="diag", noise_std=0.1, train_noise=True,
                 generator=None, offset=None):
        super().__init__()
        self.B = nn.Parameter(torch.randn(n_features, rank, generator=generator) / math.sqrt(rank))
        self.b = nn.Parameter(torch.zeros(n_features) if offset is None else torch.as_tensor(offset).float())
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

    def linear_gaussian(self, transition):
        return self.B, self.b, self.noise.variance()

    def mean(self, z, transition):
        return z @ self.B.T + self.b

    def log_prob(self, x, z, transition):
        var = self.noise.variance()
        r = x - self.mean(z, transition)
        return -0.5 * ((r * r) / var).sum(-1) - 0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))

    def sample(self, z, transition, generator=None):
        mu = self.mean(z, transition)
        return mu + torch.randn(mu.shape, generator=generator, device=mu.device) * self.noise.std()


class GaussianCurrents(nn.Module):
    """One-to-one readout of the units' currents: x_t ~ N(m z_t + b, diag sigma_x^2), one channel per unit.

    Sharing ``m`` between dynamics and readout pins the units' scale, so the noise in unit space
    (``m Sigma_z m^T``) is identifiable from data, unlike with a free affine readout.
    """

    linear = True

    def __init__(self, rank: int, n_features: int, *, noise_kind="diag", noise_std=0.1, train_noise=True,
                 generator=None, offset=None):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(n_features) if offset is None else torch.as_tensor(offset).float())
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

    def linear_gaussian(self, transition):
        return transition.m, self.b, self.noise.variance()

    def mean(self, z, transition):
        return z @ transition.mT + self.b

    log_prob = GaussianAffine.log_prob
    sample = GaussianAffine.sample


OBSERVATIONS = {"gaussian": GaussianAffine, "gaussian_currents": GaussianCurrents}


# --------------------------------------------------------------------------- non-linear observation models
# They expose ``prepare(x, transition)`` -> (step, const): ``step(t, z, current)`` gives log p(x_t | z)
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


def inverse_link(rate, link: str):
    """g^-1 of a positive rate (NumPy or torch); used to initialise biases at the data's mean counts."""
    rate = torch.as_tensor(rate, dtype=torch.float32).clamp_min(1e-3)
    return rate.log() if link == "exp" else rate + torch.log(-torch.expm1(-rate))


def poisson_log_prob(x: torch.Tensor, pre: torch.Tensor, link: str) -> torch.Tensor:
    """sum_d x_d log g(pre_d) - g(pre_d), without the -log x! term."""
    if link == "exp":
        pre = pre.clamp(max=_EXP_MAX)
        return (x * pre - pre.exp()).sum(-1)
    rate = torch.nn.functional.softplus(pre)
    return (x * torch.log(rate + 1e-8) - rate).sum(-1)


class AffineReadout(nn.Module):
    """pre_t = B z_t + b (free readout matrix)."""

    uses_current = False

    def __init__(self, rank: int, n_features: int, generator=None):
        super().__init__()
        self.B = nn.Parameter(torch.randn(n_features, rank, generator=generator) / math.sqrt(rank))
        self.b = nn.Parameter(torch.zeros(n_features))

    def forward(self, z, transition, current=None):
        return z @ self.B.T + self.b


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


class Poisson(nn.Module):
    """counts_t ~ Poisson(g(readout(z_t))), g = softplus or exp, channels independent given z_t."""

    linear = False

    def __init__(self, readout: nn.Module, link: str = "softplus"):
        super().__init__()
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}; got {link!r}.")
        self.readout, self.link = readout, link

    @property
    def uses_current(self):
        return self.readout.uses_current

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


class GaussianUnits(nn.Module):
    """x_t ~ N(gain * s_t + bias, diag sigma_x^2), s the units' rates phi(m z + W_u v; h) (non-linear in z)."""

    linear = False
    uses_current = True

    def __init__(self, n_features: int, kind: str = "rates", *, noise_kind="diag", noise_std=0.1, train_noise=True):
        super().__init__()
        self.readout = UnitReadout(n_features, kind)
        self.noise = Covariance(n_features, noise_kind if noise_kind != "full" else "diag", noise_std, train_noise)

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


def _gauss_ll(x, mu, var):
    r = x - mu
    return -0.5 * ((r * r) / var).sum(-1) - 0.5 * (var.log().sum() + x.shape[-1] * math.log(2 * math.pi))


class Multimodal(nn.Module):
    """Gaussian and Poisson channels in one model: a column mask splits x into a Gaussian block
    N(B_g z + b_g, diag sigma^2) and a Poisson block Poisson(g(B_p z + b_p)); log p is the sum of the two."""

    linear = False
    uses_current = False

    def __init__(self, rank: int, n_features: int, poisson_mask, *, link="softplus", noise_kind="diag",
                 noise_std=0.1, train_noise=True, generator=None):
        super().__init__()
        mask = torch.as_tensor(poisson_mask, dtype=torch.bool)
        if mask.shape != (n_features,) or mask.all() or not mask.any():
            raise ValueError("the Poisson column mask must mark some, but not all, of the channels.")
        self.register_buffer("poisson_idx", torch.nonzero(mask).squeeze(1))
        self.register_buffer("gauss_idx", torch.nonzero(~mask).squeeze(1))
        n_p, n_g = int(mask.sum()), int((~mask).sum())
        self.gaussian = GaussianAffine(rank, n_g, noise_kind=noise_kind, noise_std=noise_std,
                                       train_noise=train_noise, generator=generator)
        self.poisson = Poisson(AffineReadout(rank, n_p, generator=generator), link)
        self.n_features = n_features

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


def observation_step(obs: nn.Module, x: torch.Tensor, transition):
    """(step, const) for any observation model: ``step(t, z, current)`` -> log p(x_t | z) - const[:, t]."""
    if hasattr(obs, "prepare"):
        return obs.prepare(x, transition)

    def step(t, z, current=None):
        return obs.log_prob(x[:, t].unsqueeze(1), z, transition)

    return step, None


def build_observation(name: str, rank: int, n_features: int, *, link="softplus", poisson_mask=None,
                      noise_std=0.1, generator=None) -> nn.Module:
    """The observation model called ``name`` (the estimator's ``observation`` parameter)."""
    if name in ("gaussian", "gaussian_currents"):
        return OBSERVATIONS[name](rank, n_features, noise_std=noise_std, generator=generator)
    if name == "gaussian_rates":
        return GaussianUnits(n_features, "rates", noise_std=noise_std)
    if name == "poisson":
        return Poisson(AffineReadout(rank, n_features, generator=generator), link)
    if name in ("poisson_currents", "poisson_rates"):
        return Poisson(UnitReadout(n_features, name.split("_")[1]), link)
    if name == "multimodal":
        return Multimodal(rank, n_features, poisson_mask, link=link, noise_std=noise_std, generator=generator)
    raise ValueError(f"observation must be one of {OBSERVATION_NAMES}; got {name!r}.")


OBSERVATION_NAMES = ("gaussian", "gaussian_currents", "gaussian_rates", "poisson", "poisson_currents",
                     "poisson_rates", "multimodal")
LINEAR_GAUSSIAN = ("gaussian", "gaussian_currents")
POISSON_ALL = ("poisson", "poisson_currents", "poisson_rates")
UNIT_READOUTS = ("gaussian_currents", "gaussian_rates", "poisson_currents", "poisson_rates")
