"""Rollouts of a fitted PLRNN (no gradients): data-inferred states, input-driven latents, k-step forecasts
and free runs. Tensors are time-major, ``(T, B, features)``."""

from __future__ import annotations

import torch

from .rollouts import rollout_states

__all__ = ["inferred_states", "driven_latents", "forecast", "free_run"]


def inferred_states(module, x, s):
    """Data-inferred states S_t (observed latents replaced by x_t) for time-major x (T, B, N)."""
    T = x.shape[0]
    S0 = module.infer_state(x[0])
    if T == 1:
        return S0[None]
    keep, P = module.forcing(x[1:], 1.0)
    base = module.base(s[1:] if s is not None else None, shape=(T - 1, x.shape[1]))
    Y, Zin = rollout_states(module, S0, base, P, keep, (True,) * (T - 1))
    return torch.cat([Zin, (keep * Y[-1] + P[-1])[None]], 0)


def driven_latents(module, s):
    """Latents driven by the inputs ``s`` (T, B, K) from the learned initial state (supervised models)."""
    Bn = s.shape[1]
    Y, _ = rollout_states(module, module.z0.expand(Bn, -1), module.base(s))
    return Y


def forecast(module, x, s, n):
    """``n``-step-ahead forecasts from the data-inferred state at every step (the last ``n`` beyond the data)."""
    T, Bn, _ = x.shape
    cur = inferred_states(module, x, s)  # (T, B, M)
    base_all = module.base(s) if s is not None else module.base(None, shape=(T, Bn))
    for k in range(1, n + 1):
        # the k-th step from the state at t uses the input at t + k (the last one past the end)
        idx = torch.clamp(torch.arange(T, device=x.device) + k, max=T - 1)
        cur = module.step(cur, base_all[idx])
    return module.observe(cur)


def free_run(module, z0, base, noise=0.0, generator=None):
    """States ``(len(base) + 1, B, M)`` of the map run freely from ``z0`` (B, M) with ``base`` (T, B, M) = h1 + C s_t,
    plus Gaussian latent noise of standard deviation ``noise`` (drawn from ``generator``)."""
    Z = z0[None]
    if base is None or base.shape[0] == 0:
        return Z
    base = base.contiguous().clone()
    if noise > 0:
        base += noise * torch.randn(base.shape, generator=generator, device=base.device)
    Y, _ = rollout_states(module, z0, base)
    return torch.cat([Z, Y], 0)
