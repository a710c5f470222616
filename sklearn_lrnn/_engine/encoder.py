"""1-D convolutional encoder for the SMC proposal (theory page, "Proposals", encoder).

The CNN maps a window of observations x (B, T, D) to a Gaussian guess of each latent,
N(mu^e_t, diag s^e_t^2), in one pass over the whole window; the SMC loop combines it with the
transition prior by a precision-weighted product.
"""

from __future__ import annotations

import torch
from torch import nn

PADDINGS = ("causal", "acausal", "centred")


def _pads(kernel: int, padding: str) -> tuple[int, int]:
    """(left, right) zero padding that keeps length T: causal looks back only, acausal ahead only."""
    if padding == "causal":
        return kernel - 1, 0
    if padding == "acausal":
        return 0, kernel - 1
    return kernel // 2, kernel - 1 - kernel // 2


class ConvEncoder(nn.Module):
    """Stack of 1-D convolutions with GELU in between; the last layer outputs (mu, pre-variance) per latent.

    Parameters
    ----------
    n_features, rank : int
        Observed channels D and latents R.
    kernels : sequence of int
        Kernel size of each layer (the last is the output layer), default (21, 11, 1).
    channels : sequence of int
        Hidden channels, one fewer entry than ``kernels``, default (64, 64).
    padding : {"causal", "acausal", "centred"}
        Which steps each output sees. Every layer pads to keep the length, so kernels longer than a
        short window are fine (they just see zeros beyond the window).
    """

    def __init__(self, n_features: int, rank: int, kernels=(21, 11, 1), channels=(64, 64), padding="causal"):
        super().__init__()
        kernels, channels = [int(k) for k in kernels], [int(c) for c in channels]
        if padding not in PADDINGS:
            raise ValueError(f"encoder padding must be one of {PADDINGS}; got {padding!r}.")
        if len(kernels) != len(channels) + 1 or any(k < 1 for k in kernels) or any(c < 1 for c in channels):
            raise ValueError(
                f"encoder_kernels needs one more entry than encoder_channels (the output layer), all positive; got "
                f"kernels={kernels}, channels={channels}."
            )
        self.rank, self.padding = rank, padding
        sizes = [n_features] + channels + [2 * rank]
        self.convs = nn.ModuleList(nn.Conv1d(sizes[i], sizes[i + 1], k) for i, k in enumerate(kernels))
        self.pads = [_pads(k, padding) for k in kernels]
        self.act = nn.GELU()
        # standardisation of the input (set from the training data by the estimator)
        self.register_buffer("in_mean", torch.zeros(n_features))
        self.register_buffer("in_scale", torch.ones(n_features))
        # start uninformative (wide s^e): the proposal begins close to the transition prior
        with torch.no_grad():
            self.convs[-1].weight.mul_(0.1)
            self.convs[-1].bias[rank:].fill_(2.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D) -> mu^e (B, T, R), variance s^e^2 (B, T, R)."""
        h = ((x - self.in_mean) / self.in_scale).transpose(1, 2)
        last = len(self.convs) - 1
        for i, (conv, pad) in enumerate(zip(self.convs, self.pads)):
            h = conv(nn.functional.pad(h, pad))
            if i < last:
                h = self.act(h)
        h = h.transpose(1, 2)
        mu, pre = h[..., : self.rank], h[..., self.rank :]
        return mu, nn.functional.softplus(pre) + 1e-4
