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

from .observations import observation_step

PROPOSALS = ("optimal", "encoder", "bootstrap")
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


@dataclass
class _Gaussian:
    """Time-invariant terms of the optimal proposal for one prior covariance (theory page, "Proposals").

    S = C Sigma C^T + diag(var) is the predictive covariance of an observation. With D >= 4 R only R x R
    matrices are factorised (information form; S^-1 and log det S by the Woodbury identity and the
    determinant lemma), otherwise S itself (covariance form, Joseph update).
    """

    IKC: torch.Tensor  # (R, R) I - K C
    K: torch.Tensor  # (R, D)
    LP: torch.Tensor  # (R, R) Cholesky of the proposal covariance
    GtG: torch.Tensor  # (R, R) C^T S^-1 C
    const: torch.Tensor  # scalar -D/2 log 2 pi - log det S / 2
    C: torch.Tensor  # (D, R)
    var: torch.Tensor  # (D,)
    Ls: torch.Tensor | None = None  # covariance form: (D, D) lower Cholesky of S
    G: torch.Tensor | None = None  # covariance form: (D, R) Ls^-1 C
    P: torch.Tensor | None = None  # information form: (R, R) (Sigma^-1 + C^T diag(var)^-1 C)^-1
    A: torch.Tensor | None = None  # information form: (R, R) C^T diag(var)^-1 C

    def data_terms(self, e: torch.Tensor):
        """For residuals e (..., D): K e, C^T S^-1 e (both (..., R)) and e^T S^-1 e (...)."""
        if self.Ls is not None:
            D = e.shape[-1]
            y = torch.linalg.solve_triangular(self.Ls, e.reshape(-1, D).T, upper=False).T.reshape(e.shape)
            return e @ self.K.T, y @ self.G, (y * y).sum(-1)
        # S^-1 = V^-1 - V^-1 C P C^T V^-1 with V = diag(var): one (..., D) x (D, R) product
        u = (e / self.var) @ self.C  # C^T V^-1 e
        ke = u @ self.P.T  # K e = P C^T V^-1 e
        return ke, u - ke @ self.A, (e * e / self.var).sum(-1) - (u * ke).sum(-1)


def _optimal_terms(L_prior: torch.Tensor, C: torch.Tensor, var: torch.Tensor) -> _Gaussian:
    R, D = C.shape[1], C.shape[0]
    eye = torch.eye(R, dtype=C.dtype, device=C.device)
    extra = {}
    if D < 4 * R:
        # covariance form with Joseph update (stable when the observation is low-dimensional)
        Sigma = L_prior @ L_prior.T
        CS = C @ Sigma  # (D, R)
        Ls = torch.linalg.cholesky(CS @ C.T + torch.diag(var))
        K = torch.cholesky_solve(CS, Ls).T
        IKC = eye - K @ C
        P = IKC @ Sigma @ IKC.T + (K * var) @ K.T
        G = torch.linalg.solve_triangular(Ls, C, upper=False)
        GtG = G.T @ G
        logdet_half = torch.log(torch.diagonal(Ls)).sum()
        extra = dict(Ls=Ls, G=G)
    else:
        # information form: only R x R inverses
        CtV = C.T / var
        A = CtV @ C
        prec = torch.cholesky_inverse(L_prior) + A
        Lprec = torch.linalg.cholesky(prec)
        P = torch.cholesky_inverse(Lprec)
        K = P @ CtV
        KC = P @ A
        IKC = eye - KC
        GtG = A - A @ KC  # C^T S^-1 C by Woodbury
        # log det S = log det diag(var) + log det Sigma + log det prec (determinant lemma)
        logdet_half = 0.5 * torch.log(var).sum() + torch.log(torch.diagonal(L_prior)).sum() + torch.log(
            torch.diagonal(Lprec)).sum()
        extra = dict(P=P, A=A)
    P = 0.5 * (P + P.T) + 1e-7 * eye
    const = -0.5 * D * math.log(2 * math.pi) - logdet_half
    return _Gaussian(IKC, K, torch.linalg.cholesky(P), GtG, const, C, var, **extra)


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

    window = readout = None
    if (FUSED_WINDOW and resampling == "systematic" and dev.type == "cpu" and T > 1
            and (ess_threshold is None or ess_threshold > 0) and getattr(tr, "mT", None) is not None
            and tr.mT.dtype == dt):
        # None where the kernel is unavailable
        if proposal == "optimal" and hasattr(tr, "fused_window"):
            window = tr.fused_window()
        elif proposal in ("bootstrap", "encoder") and hasattr(tr, "fused_general_window"):
            readout = obs.fused_readout(tr) if hasattr(obs, "fused_readout") else None
            window = None if readout is None else tr.fused_general_window()
    if window is None:
        readout = None
        f = tr.fast_step()
        if currents is not None:
            # (T, B*K, N): the input current of each sequence, repeated for its particles
            # unbind: indexing one (T, P, N) tensor per step would make autograd build a zero-filled
            # (T, P, N) gradient for every step
            cur_steps = currents.transpose(0, 1).repeat_interleave(K, dim=1).unbind(0)
    if proposal == "optimal":
        if not getattr(obs, "linear", False):
            raise ValueError("the optimal proposal needs a linear-Gaussian observation model; use 'bootstrap'.")
        C, d, var = obs.linear_gaussian(tr)
        first = _optimal_terms(tr.init_cov.cholesky(), C, var)
        rest = _optimal_terms(tr.noise.cholesky(), C, var)
        xd = x - d
        # the data terms of every step at once: at t = 0 of the residual from the prior mean
        k0, _, q0 = first.data_terms(xd[:, 0] - mu0 @ C.T)  # (B, R), (B,)
        kx, cy, q = rest.data_terms(xd[:, 1:])  # (B, T-1, R), (B, T-1, R), (B, T-1)
        # per step, one matmul gives [proposal mean | C^T S^-1 C f - 2 C^T S^-1 (x - d)]: the bias of both
        # halves is precomputed here for all t (noise included)
        kx = kx.transpose(0, 1)  # (T-1, B, R)
        yG = (-2 * cy).transpose(0, 1)  # (T-1, B, R)
        if window is None:
            kx_noise = kx.unsqueeze(2) + eps[1:] @ rest.LP.T  # (T-1, B, K, R)
            bias = torch.cat([kx_noise, yG.unsqueeze(2).expand(T - 1, B, K, R)], -1).reshape(T - 1, B * K, 2 * R)
        proj = torch.cat([rest.IKC.T, rest.GtG], 1)  # (R, 2R)
        # particle-independent part of each step's log weight, added after the loop
        step_const = torch.cat([(first.const - 0.5 * q0).unsqueeze(1), rest.const - 0.5 * q], 1)  # (B, T)
        z = (mu0 + k0).unsqueeze(1) + eps[0] @ first.LP.T  # mu0 + K (x_0 - d - C mu0) + noise
        logw = torch.zeros((B, K), device=dev, dtype=dt)
    elif proposal in ("bootstrap", "encoder"):
        L0, Lz = tr.init_cov.cholesky(), tr.noise.cholesky()  # once per pass
        obs_step, step_const = observation_step(obs, x, tr)
        obs_cur = None
        if currents is not None and getattr(obs, "uses_current", False):
            obs_cur = currents.transpose(0, 1).unsqueeze(2)  # (T, B, 1, N)
        if proposal == "bootstrap":
            if window is None:  # the fused window adds L eps itself
                noise = (eps[1:] @ Lz.T).reshape(T - 1, B * K, R)
            z = mu0.unsqueeze(1) + eps[0] @ L0.T
        else:
            enc = getattr(model, "encoder", None)
            if enc is None:
                raise ValueError("proposal='encoder' needs a model with an encoder (StateSpaceModel(..., encoder=...)).")
            mu_e, var_e = enc(x)  # (B, T, R), once per pass
            # precision-weighted product N(f, diag Sigma) x N(mu_e, var_e): mean w f + (1 - w) mu_e with
            # w = var_e / (var + var_e), variance var var_e / (var + var_e); Sigma_0 at t = 0, Sigma_z after
            prior_var = torch.cat([tr.init_cov.variance().expand(B, 1, R), tr.noise.variance().expand(B, T - 1, R)], 1)
            w_f = var_e / (prior_var + var_e)
            q_std = torch.sqrt(prior_var * w_f)
            mu_part = (1 - w_f) * mu_e  # (B, T, R)
            if window is None:  # per particle for the loop; the fused window takes the per-sequence terms
                base = mu_part.transpose(0, 1).unsqueeze(2) + q_std.transpose(0, 1).unsqueeze(2) * eps
                base = base.reshape(T, B * K, R)
                w_steps = w_f.transpose(0, 1).unsqueeze(2).expand(T, B, K, R).reshape(T, B * K, R)
                eps_sq = 0.5 * (eps * eps).sum(-1)  # (T, B, K)
            # log p(z | z_prev) - log q(z) = -|L^-1 (z - f)|^2 / 2 + |eps|^2 / 2 - log det L + sum log q_std:
            # the last two are particle-independent and join step_const
            Linv0, Linv = torch.linalg.inv(L0), torch.linalg.inv(Lz)
            logdet = torch.cat([torch.log(torch.diagonal(L0)).sum().expand(1),
                                torch.log(torch.diagonal(Lz)).sum().expand(T - 1)])
            q_const = torch.log(q_std).sum(-1) - logdet  # (B, T)
            step_const = q_const if step_const is None else step_const + q_const
            mu0k = mu0.unsqueeze(1)
            z = w_f[:, 0].unsqueeze(1) * mu0k + (mu_part[:, 0].unsqueeze(1) + q_std[:, 0].unsqueeze(1) * eps[0])
            d = (z - mu0k) @ Linv0.T
            logw_trans = -0.5 * (d * d).sum(-1) + 0.5 * (eps[0] * eps[0]).sum(-1)
        logw = obs_step(0, z, None if obs_cur is None else obs_cur[0])
        if proposal == "encoder":
            logw = logw + logw_trans
    else:
        raise ValueError(f"proposal must be one of {PROPOSALS}; got {proposal!r}.")
    z = z.reshape(B * K, R)

    if window is not None:
        keep = return_filter or return_history
        cur_tb = None if currents is None else currents.transpose(0, 1)
        mask_dt = None if mask is None else mask.to(dt)
        if proposal == "optimal":
            # the fused loop adds the noise eps L^T and broadcasts the per-sequence terms itself
            incs, states, lws, anc = window(
                z, torch.cat([kx, yG], -1), eps[1:].reshape(T - 1, B * K, R), rest.LP, proj, pos,
                current=cur_tb, mask=mask_dt, ess_threshold=ess_threshold, keep_states=keep)
        else:
            # the observation likelihood runs inside the loop; its data-only part is in step_const
            xs = x if readout.columns is None else x.index_select(-1, readout.columns)
            if proposal == "bootstrap":
                prop = dict(L=Lz)
            else:  # per sequence: the window adds q eps and the weight's |eps|^2 / 2 itself
                prop = dict(mu=mu_part[:, 1:].transpose(0, 1), q=q_std[:, 1:].transpose(0, 1),
                            w=w_f[:, 1:].transpose(0, 1), Linv=Linv)
            incs, states, lws, anc = window(
                z, logw, eps[1:].reshape(T - 1, B * K, R), xs.transpose(0, 1), readout, pos, **prop,
                current=cur_tb, mask=mask_dt, ess_threshold=ess_threshold, keep_states=keep)
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
            fz = f(z, None if currents is None else cur_steps[t])
            if proposal == "optimal":
                out = torch.addmm(bias[t - 1], fz, proj)
                z = out[:, :R]
                logw = (out[:, R:] * fz).sum(-1).mul(-0.5).reshape(B, K)
            elif proposal == "encoder":
                z = torch.addcmul(base[t], w_steps[t], fz)
                d = (z - fz) @ Linv.T
                logw = obs_step(t, z.reshape(B, K, R), None if obs_cur is None else obs_cur[t]) + (
                    eps_sq[t] - 0.5 * (d * d).sum(-1).reshape(B, K))
            else:
                z = fz + noise[t - 1]
                logw = obs_step(t, z.reshape(B, K, R), None if obs_cur is None else obs_cur[t])
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
