"""Variational sequential Monte Carlo (FIVO / VSMC bound) for the low-rank state-space model.

Shapes: B sequences x K particles x R latents; D observed channels; T steps.
Everything that does not depend on t (Cholesky factors, Kalman gain, data terms, all random
numbers) is computed once per forward pass. With systematic resampling the whole time loop is then one
fused C++ autograd op: ``fused.make_window`` (``csrc/smc_window.cpp``) for the optimal proposal,
``fused.make_general_window`` (``csrc/smc_window_general.cpp``) for the encoder and bootstrap proposals
with any observation model that describes itself by ``fused_readout()``. Otherwise (multinomial
resampling, no compiler, GPU tensors, the linear activation, other observation models) the Python loop
below does only small batched tensor ops and never syncs with the host (resampling is vectorised over
the batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .proposals import PROPOSALS, PassContext, proposal_class

__all__ = ["PROPOSALS", "RESAMPLING", "SMCResult", "StateSpaceModel", "forecast_observations", "run_smc",
           "simulate"]

RESAMPLING = ("systematic", "multinomial")

# With systematic resampling (every step or ESS-adaptive) the whole time loop runs in one fused C++ op
# (``transition.fused_window()`` for the optimal proposal, ``transition.fused_general_window()`` for the
# encoder and bootstrap proposals) where the kernel is available; False forces the per-step loop below
# (tests and benchmarks compare the two; SKLEARN_LRNN_NO_FUSED=1 makes the kernels unavailable). Both
# consume the same random numbers and agree to rounding.
FUSED_WINDOW = True


class StateSpaceModel(nn.Module):
    """Transition + observation model (+ the proposal's encoder, if any): the unit the optimiser trains."""

    def __init__(self, transition: nn.Module, observation: nn.Module, encoder: nn.Module | None = None):
        super().__init__()
        self.transition = transition
        self.observation = observation
        if encoder is not None:
            self.encoder = encoder


@dataclass
class SMCResult:
    log_evidence: torch.Tensor  # (B,) sum_t log mean_k w_t^k (the VSMC bound per sequence)
    filter_means: torch.Tensor | None = None  # (B, T, R)
    particles: torch.Tensor | None = None  # (T, B, K, R) before resampling at each t
    log_weights: torch.Tensor | None = None  # (T, B, K) normalised
    ancestors: torch.Tensor | None = None  # (T, B, K) indices chosen at the resampling after t


def _resample_indices(logw: torch.Tensor, pos: torch.Tensor | None, method: str, generator) -> torch.Tensor:
    """Ancestor indices (B, K) from log weights (B, K); no gradient flows through them."""
    w = torch.softmax(logw.detach(), dim=-1)
    if method == "multinomial":
        return torch.multinomial(w, w.shape[-1], replacement=True, generator=generator)
    cdf = torch.cumsum(w, dim=-1)
    return torch.searchsorted(cdf, pos).clamp_max_(w.shape[-1] - 1)


def run_smc(
    model: StateSpaceModel,
    x: torch.Tensor,
    *,
    n_particles: int,
    mask: torch.Tensor | None = None,
    u: torch.Tensor | None = None,
    proposal: str = "optimal",
    resampling: str = "systematic",
    ess_threshold: float | None = None,
    generator: torch.Generator | None = None,
    return_filter: bool = False,
    return_history: bool = False,
) -> SMCResult:
    """Run the particle filter on a batch and return the VSMC bound (differentiable).

    Parameters
    ----------
    x : tensor (B, T, D)
        Observations (zeros after a sequence's end where ``mask`` is False).
    mask : bool tensor (B, T) or None
        Valid time steps; padding is only allowed at the end of a sequence.
    u : tensor (B, T, n_inputs) or None
        Exogenous inputs.
    proposal : {"optimal", "encoder", "bootstrap"}
        "optimal" needs a linear-Gaussian observation model; "encoder" needs ``model.encoder``
        (precision-weighted product of the transition prior, with the diagonal of Sigma_z, and the
        encoder's N(mu^e_t, s^e_t^2); the weights use the exact, possibly full-covariance, prior).
    resampling : {"systematic", "multinomial"}
    ess_threshold : float in (0, 1] or None
        None resamples at every step; otherwise resample a sequence only when its effective sample
        size falls below ``ess_threshold * K``.
    """
    tr, obs = model.transition, model.observation
    B, T, D = x.shape
    K, R = n_particles, tr.rank
    dev, dt = x.device, x.dtype
    log_k = math.log(K)
    adaptive = ess_threshold is not None

    currents = None
    if u is not None and tr.n_inputs > 0:
        currents = tr.input_currents(tr.filtered_inputs(u))  # (B, T, N)
    mu0 = tr.initial_mean(None if currents is None else currents[:, 0]).expand(B, R)

    # all randomness of the pass, drawn at once
    eps = torch.randn((T, B, K, R), generator=generator, device=dev, dtype=dt)
    pos = None
    if resampling == "systematic":
        offsets = torch.rand((T, B, 1), generator=generator, device=dev, dtype=dt)
        pos = (torch.arange(K, device=dev, dtype=dt) + offsets) / K
    batch_offsets = (torch.arange(B, device=dev) * K).unsqueeze(1)

    proposal_cls = proposal_class(proposal)
    window = readout = None
    if (FUSED_WINDOW and resampling == "systematic" and dev.type == "cpu" and T > 1
            and (ess_threshold is None or ess_threshold > 0) and getattr(tr, "mT", None) is not None
            and tr.mT.dtype == dt):
        window, readout = proposal_cls.fused_window(tr, obs)  # (None, None) where the kernel is unavailable
    if window is None:
        readout = None
        f = tr.fast_step()
        if currents is not None:
            # (T, B*K, N): the input current of each sequence, repeated for its particles
            # unbind: indexing one (T, P, N) tensor per step would make autograd build a zero-filled
            # (T, P, N) gradient for every step
            cur_steps = currents.transpose(0, 1).repeat_interleave(K, dim=1).unbind(0)
    prop = proposal_cls(PassContext(model, x, mu0, eps, currents, K, fused=window is not None))
    step_const, logw = prop.step_const, prop.logw
    z = prop.z.reshape(B * K, R)

    if window is not None:
        keep = return_filter or return_history
        cur_tb = None if currents is None else currents.transpose(0, 1)
        mask_dt = None if mask is None else mask.to(dt)
        incs, states, lws, anc = prop.run_window(window, readout, z, pos=pos, current=cur_tb, mask=mask_dt,
                                                 ess_threshold=ess_threshold, keep_states=keep)
        result = _finish(incs, step_const, mask, adaptive, log_k)
        if return_filter:
            result.filter_means = (lws.exp().unsqueeze(-1) * states.reshape(T, B, K, R)).sum(2).transpose(0, 1)
        if return_history:
            result.particles = states.reshape(T, B, K, R)
            result.log_weights = lws
            result.ancestors = anc
        return result

    incs = []
    logW = torch.full((B, K), -log_k, device=dev, dtype=dt) if adaptive else None
    if adaptive:  # loop constants of the ESS-adaptive branch
        keep_idx, uniform_logW = torch.arange(K, device=dev).expand(B, K), logW.clone()
    means, hist_z, hist_w, hist_a = [], [], [], []
    for t in range(T):
        if t > 0:
            z, logw = prop.step(t, f(z, None if currents is None else cur_steps[t]))
        if mask is not None:
            logw = logw * mask[:, t].unsqueeze(1).to(dt)
        if adaptive:
            lw = logW + logw
            inc = torch.logsumexp(lw, -1)
            normed = logW = lw - inc.unsqueeze(1)
        else:
            inc = torch.logsumexp(logw, -1)
            normed = logw
        incs.append(inc)
        if return_filter:
            means.append((torch.softmax(normed.detach(), -1).unsqueeze(-1) * z.detach().reshape(B, K, R)).sum(1))
        if return_history:
            hist_z.append(z.detach().reshape(B, K, R))
            hist_w.append(torch.log_softmax(normed.detach(), -1))
        if t == T - 1 and not return_history:
            break
        idx = _resample_indices(normed, None if pos is None else pos[t], resampling, generator)
        if adaptive:
            ess = 1.0 / torch.exp(2 * logW.detach()).sum(-1)
            need = (ess < ess_threshold * K).unsqueeze(1)
            idx = torch.where(need, idx, keep_idx)
            logW = torch.where(need, uniform_logW, logW)
        if return_history:
            hist_a.append(idx)
        z = z.index_select(0, (idx + batch_offsets).reshape(-1))

    result = _finish(torch.stack(incs, 1), step_const, mask, adaptive, log_k)
    if return_filter:
        result.filter_means = torch.stack(means, 1)
    if return_history:
        result.particles = torch.stack(hist_z)
        result.log_weights = torch.stack(hist_w)
        result.ancestors = torch.stack(hist_a)
    return result


def _finish(incs, step_const, mask, adaptive, log_k) -> SMCResult:
    """The VSMC bound from the per-step log sum_k w_t^k (B, T) and the particle-independent terms."""
    if not adaptive:
        incs = incs - log_k
    if step_const is not None:
        incs = incs + (step_const if mask is None else step_const * mask.to(incs.dtype))
    return SMCResult(log_evidence=incs.sum(1))


@torch.no_grad()
def forecast_observations(model: StateSpaceModel, z: torch.Tensor, n_steps: int, u: torch.Tensor | None = None):
    """Expected observations ``n_steps`` ahead of the latents ``z`` (T, R) of one trial, by the noise-free map.

    Row t carries ``z[t]`` to ``t + n_steps`` and reads it out, so the result has ``T - n_steps`` rows; ``u``
    (T, n_inputs) are the trial's inputs, whose currents drive the steps (and a one-to-one readout)."""
    tr, obs = model.transition, model.observation
    T = z.shape[0]
    cur = None
    if u is not None and tr.n_inputs > 0:
        cur = tr.input_currents(tr.filtered_inputs(u.unsqueeze(0)))[0]  # (T, N)
    z = z[: T - n_steps]
    for j in range(1, n_steps + 1):
        z = tr.step(z, None if cur is None else cur[j: T - n_steps + j])
    kw = {"current": cur[n_steps:]} if getattr(obs, "uses_current", False) and cur is not None else {}
    return obs.mean(z, tr, **kw)


@torch.no_grad()
def simulate(
    model: StateSpaceModel,
    n_trials: int,
    n_timesteps: int,
    *,
    z0: torch.Tensor | None = None,
    u: torch.Tensor | None = None,
    noise_scale: float = 1.0,
    burn_in: int = 0,
    generator: torch.Generator | None = None,
):
    """Run the noisy dynamics forward. Returns latents (B, T, R) and observations (B, T, D)."""
    tr, obs = model.transition, model.observation
    dev = tr.m.device
    R = tr.rank
    currents = None
    if u is not None and tr.n_inputs > 0:
        currents = tr.input_currents(tr.filtered_inputs(u))
    if z0 is None:
        mu0 = tr.initial_mean(None if currents is None else currents[:, 0]).expand(n_trials, R)
        z = mu0 + noise_scale * torch.randn((n_trials, R), generator=generator, device=dev) @ tr.init_cov.cholesky().T
    else:
        z = z0.to(dev).expand(n_trials, R).clone()
    L = tr.noise.cholesky() * noise_scale
    zs = []
    total = burn_in + n_timesteps
    for t in range(total):
        if t > 0:
            cur = None
            if currents is not None:
                cur = currents[:, max(t - burn_in, 0)].unsqueeze(1) if t >= burn_in else None
            z = tr.step(z.unsqueeze(1), cur).squeeze(1)
            z = z + torch.randn((n_trials, R), generator=generator, device=dev) @ L.T
        if t >= burn_in:
            zs.append(z)
    Z = torch.stack(zs, 1)
    kw = {}
    if getattr(obs, "uses_current", False) and currents is not None:
        kw["current"] = currents  # one-to-one readouts of the units see the input current too
    X = obs.sample(Z, tr, generator=generator, **kw) if noise_scale > 0 else obs.mean(Z, tr, **kw)
    return Z, X
