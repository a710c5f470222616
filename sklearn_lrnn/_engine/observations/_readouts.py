"""The readouts of the non-linear models: a free affine map of the latents, or one channel per unit."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._base import FusedReadout, _numpy

__all__ = ["AffineReadout", "UnitReadout"]


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
        from ..low_rank import activate

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
