"""``observation="multimodal"``: Gaussian and Poisson channels in one model, split by a column mask."""

from __future__ import annotations

import math

import torch

from ._base import FusedReadout, ObservationModel, _affine_export, register
from ._counts import Poisson, poisson_log_prob
from ._readouts import AffineReadout
from .gaussian import GaussianAffine

__all__ = ["Multimodal"]


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
