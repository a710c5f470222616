"""The stochastic low-rank RNN as a state-space model (theory page, "Stochastic low-rank RNN").

    z_t = a z_{t-1} + n phi(m z_{t-1} + W_u v_t ; h) + eps_t,   eps_t ~ N(0, Sigma_z)
    z_1 ~ N(mu_0 + proj_m(W_u v_1), Sigma_0)

``m`` is stored as (N, R) ("left vectors"), ``n`` as (R, N) ("right vectors").

With ``activation="linear"`` (phi(x; h) = x - h) the map is affine,
z_t = (a I + n m) z_{t-1} + n (W_u v_t - h) + eps_t: a rank-R linear-Gaussian state-space model, the
baseline against which the nonlinear activations are compared. The fused C++ kernels do not cover it
(``fused.ACTIVATION_CODES``), so it always runs the torch path, with the affine map contracted to one
R x R matrix (:func:`sklearn_lrnn._engine.fused.reference_step`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .covariance import Covariance

ACTIVATIONS = ("relu", "clipped_relu", "tanh", "linear")


def activate(x: torch.Tensor, h: torch.Tensor, kind: str) -> torch.Tensor:
    """phi(x; h): relu max(0, x - h); clipped relu max(0, x + h) - max(0, x); tanh(x - h); linear x - h."""
    if kind == "relu":
        return torch.relu(x - h)
    if kind == "clipped_relu":
        return torch.relu(x + h) - torch.relu(x)
    if kind == "tanh":
        return torch.tanh(x - h)
    if kind == "linear":
        return x - h
    raise ValueError(f"activation must be one of {ACTIVATIONS}; got {kind!r}.")


class LowRankTransition(nn.Module):
    """Latent dynamics of a rank-R network of N units with K external inputs."""

    def __init__(
        self,
        rank: int,
        n_units: int,
        n_inputs: int = 0,
        *,
        activation: str = "relu",
        decay: float = 0.9,
        train_decay: bool = True,
        noise_kind: str = "full",
        noise_std: float = 0.1,
        train_noise: bool = True,
        init_kind: str = "full",
        init_std: float = 1.0,
        train_init_cov: bool = True,
        learn_init_mean: bool = True,
        input_filter: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")
        R, N = rank, n_units
        self.rank, self.n_units, self.n_inputs, self.activation = R, N, n_inputs, activation
        self.input_filter = input_filter

        def uniform(shape, bound):
            return (torch.rand(shape, generator=generator) * 2 - 1) * bound

        # both stored (R, N): with this layout every matmul of the forward and backward pass hits the
        # fast BLAS path for skinny matrices (3-7x faster than an (N, R) operand, measured)
        self.mT = nn.Parameter(uniform((N, R), 1 / math.sqrt(R)).T.contiguous())
        self.n = nn.Parameter(uniform((R, N), 1 / math.sqrt(N)))
        self.h = nn.Parameter(uniform((N,), 1 / math.sqrt(N)))
        # a = exp(-exp(theta)) keeps the decay in (0, 1)
        self.theta = nn.Parameter(torch.tensor(math.log(-math.log(decay))), requires_grad=train_decay)
        self.input_weights = nn.Parameter(uniform((N, n_inputs), 1 / math.sqrt(max(n_inputs, 1))))
        self.init_mean = nn.Parameter(torch.zeros(R), requires_grad=learn_init_mean)
        self.noise = Covariance(R, noise_kind, noise_std, train_noise)
        self.init_cov = Covariance(R, init_kind, init_std, train_init_cov)

    @property
    def m(self) -> torch.Tensor:
        """Left vectors (N, R)."""
        return self.mT.T

    @property
    def decay(self) -> torch.Tensor:
        return torch.exp(-torch.exp(self.theta))

    def filtered_inputs(self, u: torch.Tensor) -> torch.Tensor:
        """v_t = u_t, or the low-pass v_t = a v_{t-1} + (1 - a) u_{t-1} (v_1 = 0). u: (B, T, K)."""
        if not self.input_filter:
            return u
        a = self.decay
        v = [torch.zeros_like(u[:, 0])]
        for t in range(1, u.shape[1]):
            v.append(a * v[-1] + (1 - a) * u[:, t - 1])
        return torch.stack(v, 1)

    def input_currents(self, v: torch.Tensor) -> torch.Tensor:
        """W_u v_t for all steps at once: (B, T, K) -> (B, T, N)."""
        return v @ self.input_weights.T

    def initial_mean(self, current0: torch.Tensor | None) -> torch.Tensor:
        """mu_0 + proj_m(W_u v_1): the input's projection onto span(m), in latent coordinates. (B, R)."""
        if current0 is None:
            return self.init_mean.unsqueeze(0)
        proj = torch.linalg.lstsq(self.m, current0.T).solution.T  # (B, R)
        return self.init_mean + proj

    def step(self, z: torch.Tensor, current: torch.Tensor | None = None) -> torch.Tensor:
        """Mean of the next state, f(z) = a z + n phi(m z + c; h).

        z: (..., R) particles; current: broadcastable to (..., N) input current, or None.
        """
        x = z @ self.mT
        if current is not None:
            x = x + current
        return self.decay * z + activate(x, self.h, self.activation) @ self.n.T

    def fast_step(self):
        """A closure computing f(z) for z of shape (P, R) with few kernels.

        Time-invariant terms are prepared once here, per forward pass; the clipped relu is written
        as relu(x + h) - relu(x) because relu's backward is far cheaper than that of a clamp with
        tensor bounds (measured: 0.26 vs 0.68 ms at 100 x 512).
        """
        from .fused import make_step, reference_step  # fused C++ kernel (one pass over units, ~5x faster)

        fused = make_step(self.mT, self.n, self.h, self.decay, self.activation)
        if fused is not None:
            return fused
        return reference_step(self.mT, self.n, self.h, self.decay, self.activation)

    def fused_window(self):
        """The fused SMC time loop for these dynamics (``fused.make_window``), or None where unavailable
        (always None for the linear activation, which the kernels do not cover: no build is attempted)."""
        from .fused import make_window

        return make_window(self.mT, self.n, self.h, self.decay, self.activation)

    def fused_general_window(self):
        """The fused SMC time loop of the encoder and bootstrap proposals (``fused.make_general_window``),
        or None where unavailable (as ``fused_window``)."""
        from .fused import make_general_window

        return make_general_window(self.mT, self.n, self.h, self.decay, self.activation)
