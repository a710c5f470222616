"""The PLRNN's parameters as a torch module: latent map (by architecture), inputs, readout, initial state.

The maps themselves live in :mod:`.architectures` (the registry), the rollouts in :mod:`.rollouts`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .architectures import get_architecture

__all__ = ["INITS", "PLRNN", "module_from_state"]


def _normalized_positive_definite(M, gen, dtype):
    # Brenner et al. 2022 initialisation: K = R^T R / M + I scaled to spectral radius 1.
    R = torch.randn(M, M, generator=gen, dtype=dtype)
    K = R.T @ R / M + torch.eye(M, dtype=dtype)
    return K / torch.linalg.eigvalsh(K).max()


def _stable_gaussian(M, gen, dtype, radius=0.9):
    # plain random start: N(0, 1/M) entries (spectral radius ~1 by the circular law), scaled down to
    # spectral radius `radius` where larger; no built-in memory, unlike the positive-definite start
    K = torch.randn(M, M, generator=gen, dtype=dtype) / math.sqrt(M)
    rho = float(torch.linalg.eigvals(K.double()).abs().max())
    return K * min(1.0, radius / rho) if rho > 0 else K


# starts of the M x M matrix whose diagonal is A and whose rest is W: name -> function (M, generator, dtype)
INITS = {"positive_definite": _normalized_positive_definite, "random": _stable_gaussian}


def _uniform(shape, bound, gen, dtype):
    return (torch.rand(*shape, generator=gen, dtype=dtype) * 2 - 1) * bound


class PLRNN(nn.Module):
    """Parameters of a (vanilla / shallow / clipped shallow) PLRNN with inputs and readout.

    Parameters
    ----------
    n_latents : int
        M, the latent dimension.
    n_obs : int
        N, number of observed channels (reconstruction) or targets (supervised).
    architecture : str
        A name in :data:`ARCHITECTURES` ("vanilla", "shallow", "clipped_shallow", "linear").
    n_hidden : int
        H, hidden width of the shallow maps (ignored for vanilla and linear).
    n_inputs : int
        K, number of external inputs (0 for none).
    readout : {"identity", "affine"}
        Identity: the first N latents are the observations (needs M >= N).
    n_mar : int
        Number of manifold-attractor-regularised units (the last ``n_mar`` latents), initialised as
        line attractors (A = 1, their W rows = 0, h = 0).
    init : str
        A name in :data:`INITS`. Start of ``A`` and (vanilla) ``W``, taken from one M x M matrix: its diagonal is A, the rest W.
        ``positive_definite``: ``R^T R / M + I`` scaled to spectral radius 1 (Brenner et al. 2022),
        integrator-like from the start; ``random``: N(0, 1/M) entries scaled to spectral radius <= 0.9.
    generator : torch.Generator
        Seeds the initialisation.
    """

    def __init__(self, n_latents, n_obs, *, architecture="clipped_shallow", n_hidden=100, n_inputs=0,
                 readout="identity", n_mar=0, init="positive_definite", generator=None, dtype=torch.float32):
        super().__init__()
        arch = get_architecture(architecture)
        M, N = int(n_latents), int(n_obs)
        if readout == "identity" and M < N:
            raise ValueError(f"identity readout needs n_latents >= n_obs; got {M} < {N}.")
        self.architecture, self.arch = architecture, arch
        self.n_latents, self.n_obs, self.n_inputs, self.readout = M, N, int(n_inputs), readout
        self.n_mar = int(n_mar)
        if init not in INITS:
            raise ValueError(f"init must be one of {tuple(INITS)}; got {init!r}.")
        gen = generator
        AW = INITS[init](M, gen, dtype)
        A = torch.diagonal(AW).clone()
        if not arch.hidden:
            self.n_hidden = M
            W = AW * (1 - torch.eye(M, dtype=dtype))
            h = torch.zeros(M, dtype=dtype)
            self.register_buffer("offdiag", 1 - torch.eye(M, dtype=dtype))
        else:
            H = self.n_hidden = int(n_hidden)
            W1 = _uniform((M, H), 1 / math.sqrt(H), gen, dtype)
            W2 = _uniform((H, M), 1 / math.sqrt(M), gen, dtype)
            h2 = _uniform((H,), 1.0, gen, dtype)
            h = torch.zeros(M, dtype=dtype)
            W = W1
        if self.n_mar:
            reg = slice(M - self.n_mar, M)
            A[reg] = 1.0
            W[reg] = 0.0
            h[reg] = 0.0
        self.A = nn.Parameter(A)
        if not arch.hidden:
            self.W, self.h = nn.Parameter(W), nn.Parameter(h)
        else:
            self.W1, self.W2 = nn.Parameter(W1), nn.Parameter(W2)
            self.h1, self.h2 = nn.Parameter(h), nn.Parameter(h2)
        if self.n_inputs:
            C = _uniform((M, self.n_inputs), 1 / math.sqrt(self.n_inputs), gen, dtype)
            if self.n_mar:  # empty memory: line attractors would otherwise integrate every input from the start
                C[M - self.n_mar:] = 0.0
            self.C = nn.Parameter(C)
        if readout == "affine":
            self.B = nn.Parameter(_uniform((N, M), 1 / math.sqrt(M), gen, dtype))
            self.b = nn.Parameter(torch.zeros(N, dtype=dtype))
        # initial state: learned (supervised) / unobserved latents as a learned map of x_0 (identity)
        self.z0 = nn.Parameter(torch.zeros(M, dtype=dtype))
        if readout == "identity" and M > N:
            self.L = nn.Parameter(torch.zeros(M - N, N, dtype=dtype))

    # -- the map ---------------------------------------------------------------------------------
    def map_terms(self):
        """``(A, W1t, W2t, h2, h1)`` in the template's layout (``W1t``: (H, M); ``W2t``: (M, H))."""
        if not self.arch.hidden:
            return self.A, (self.W * self.offdiag).T, None, None, self.h
        return self.A, self.W1.T, self.W2.T, self.h2, self.h1

    def base(self, s=None, shape=None):
        """``h1 + C s_t`` for time-major inputs ``s`` (T, B, K), or ``h1`` broadcast to ``shape``."""
        h1 = self.map_terms()[4]
        if s is None or not self.n_inputs:
            return h1.expand(*shape, self.n_latents)
        return torch.addmm(h1, s.reshape(-1, self.n_inputs), self.C.T).reshape(*s.shape[:-1], self.n_latents)

    def step(self, z, base):
        """One step of the map for states ``z`` (..., M); ``base`` is h1 (+ C s_t)."""
        A, W1t, W2t, h2, _ = self.map_terms()
        return self.arch.step(z, A, W1t, W2t, h2, base)

    def observe(self, z):
        """Readout: observed part of the latents."""
        if self.readout == "identity":
            return z[..., : self.n_obs]
        return z @ self.B.T + self.b

    def infer_state(self, x):
        """Data-inferred latent state z^ for observations ``x`` (..., N)."""
        if self.readout == "identity":
            if self.n_latents == self.n_obs:
                return x
            return torch.cat([x, x @ self.L.T], dim=-1)
        return (x - self.b) @ torch.linalg.pinv(self.B).T

    def forcing(self, x, alpha):
        """``(keep, P)`` for blending toward data ``x`` (T, B, N) with weight ``alpha``."""
        M, N = self.n_latents, self.n_obs
        if self.readout == "identity":
            keep = torch.ones(M, dtype=x.dtype, device=x.device)
            keep[:N] = 1 - alpha
            P = torch.zeros(*x.shape[:-1], M, dtype=x.dtype, device=x.device)
            P[..., :N] = alpha * x
            return keep, P
        keep = torch.full((M,), 1 - alpha, dtype=x.dtype, device=x.device)
        return keep, alpha * self.infer_state(x).detach()

    def regularization(self, l2=0.0, mar_weight=0.0):
        """Latent L2 on (1 - A), W's and h's, plus the manifold-attractor penalty on the MAR units."""
        vanilla_like = not self.arch.hidden
        A, h1 = self.A, (self.h if vanilla_like else self.h1)
        Wrows = self.W if vanilla_like else self.W1
        loss = A.new_zeros(())
        if l2:
            terms = (1 - A).square().sum() + Wrows.square().sum() + h1.square().sum()
            if not vanilla_like:
                terms = terms + self.W2.square().sum() + self.h2.square().sum()
            loss = loss + l2 * terms
        if mar_weight and self.n_mar:
            reg = slice(self.n_latents - self.n_mar, self.n_latents)
            loss = loss + mar_weight * (
                (A[reg] - 1).square().mean() + Wrows[reg].square().mean() + h1[reg].square().mean()
            )
        return loss




def module_from_state(config, state, device):
    """A PLRNN rebuilt from its configuration and NumPy state, on ``device``, in eval mode and frozen."""
    module = PLRNN(**config, generator=torch.Generator().manual_seed(0))
    module.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    module = module.to(device).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def count_trained_parameters(state, config, untrained=()):
    """Entries of the parameters an objective trains, from a NumPy state: buffers (``offdiag``), the parameters
    it never uses (``untrained``) and the masked diagonal of the vanilla / linear ``W`` do not count."""
    buffers = ("offdiag",)
    n = sum(int(np.asarray(v).size) for k, v in state.items() if k not in buffers and k not in untrained)
    if not get_architecture(config["architecture"]).hidden and "W" in state:
        n -= int(config["n_latents"])  # W's diagonal is masked out of the map (A is the diagonal)
    return n
