"""The SMC proposals: how each particle's next state is drawn and weighted (theory page, "Proposals").

Each proposal is a class in ``PROPOSALS`` (the name the estimator's ``proposal`` parameter takes). One
instance is built per forward pass of :func:`~sklearn_lrnn._engine.smc.run_smc` and owns what does
not depend on the time step (Cholesky factors, Kalman gains, the data terms of every step, the
encoder's output); the time loop then only calls :meth:`Proposal.step`, or hands the whole loop to
the fused C++ window with :meth:`Proposal.run_window`. A new proposal is one more class here (with a
Python ``step``; a fused window is optional: ``fused_window`` returning None keeps the Python loop).

Shapes as in ``smc``: B sequences x K particles x R latents, D observed channels, T steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .observations import observation_step


@dataclass
class PassContext:
    """What every proposal sees of one forward pass: the model, the data and all its random numbers."""

    model: torch.nn.Module
    x: torch.Tensor  # (B, T, D)
    mu0: torch.Tensor  # (B, R) initial mean
    eps: torch.Tensor  # (T, B, K, R) standard normal draws of the whole pass
    currents: torch.Tensor | None  # (B, T, N) input currents, or None
    n_particles: int
    fused: bool  # the fused window will run the time loop (no per-particle tensors for the Python loop)

    @property
    def transition(self):
        return self.model.transition

    @property
    def observation(self):
        return self.model.observation


@dataclass
class _Gaussian:
    """Time-invariant terms of the optimal proposal for one prior covariance.

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


def optimal_terms(L_prior: torch.Tensor, C: torch.Tensor, var: torch.Tensor) -> _Gaussian:
    """The :class:`_Gaussian` terms for prior Cholesky factor ``L_prior``, readout ``C`` and noise ``var``."""
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


class Proposal:
    """One pass's proposal. After construction: ``z`` (B, K, R) and ``logw`` (B, K), the first step's
    particles and log weights; ``step_const`` (B, T) or None, the particle-independent part of each
    step's log weight, added once after the loop."""

    z: torch.Tensor
    logw: torch.Tensor
    step_const: torch.Tensor | None

    @staticmethod
    def fused_window(transition, observation):
        """(window op, readout) for the fused C++ time loop, or (None, None) where there is none."""
        return None, None

    def step(self, t: int, fz: torch.Tensor):
        """Particles (B*K, R) and log weights (B, K) at step ``t`` > 0 from the prior means ``fz`` (B*K, R)."""
        raise NotImplementedError

    def run_window(self, window, readout, z, *, pos, current, mask, ess_threshold, keep_states):
        """The whole time loop in the fused window; returns its (increments, states, log weights, ancestors)."""
        raise NotImplementedError


class OptimalProposal(Proposal):
    """The locally optimal proposal p(z_t | z_{t-1}, x_t), exact for a linear-Gaussian readout."""

    name = "optimal"

    @staticmethod
    def fused_window(transition, observation):
        return (transition.fused_window(), None) if hasattr(transition, "fused_window") else (None, None)

    def __init__(self, ctx: PassContext):
        tr, obs = ctx.transition, ctx.observation
        if not getattr(obs, "linear", False):
            raise ValueError("the optimal proposal needs a linear-Gaussian observation model; use 'bootstrap'.")
        x, mu0, eps = ctx.x, ctx.mu0, ctx.eps
        B, T, _ = x.shape
        K, R = ctx.n_particles, tr.rank
        C, d, var = obs.linear_gaussian(tr)
        first = optimal_terms(tr.init_cov.cholesky(), C, var)
        rest = self.rest = optimal_terms(tr.noise.cholesky(), C, var)
        xd = x - d
        # the data terms of every step at once: at t = 0 of the residual from the prior mean
        k0, _, q0 = first.data_terms(xd[:, 0] - mu0 @ C.T)  # (B, R), (B,)
        kx, cy, q = rest.data_terms(xd[:, 1:])  # (B, T-1, R), (B, T-1, R), (B, T-1)
        # per step, one matmul gives [proposal mean | C^T S^-1 C f - 2 C^T S^-1 (x - d)]: the bias of both
        # halves is precomputed here for all t (noise included)
        self.kx = kx = kx.transpose(0, 1)  # (T-1, B, R)
        self.yG = yG = (-2 * cy).transpose(0, 1)  # (T-1, B, R)
        if not ctx.fused:
            kx_noise = kx.unsqueeze(2) + eps[1:] @ rest.LP.T  # (T-1, B, K, R)
            self.bias = torch.cat([kx_noise, yG.unsqueeze(2).expand(T - 1, B, K, R)], -1).reshape(T - 1, B * K, 2 * R)
        self.proj = torch.cat([rest.IKC.T, rest.GtG], 1)  # (R, 2R)
        self.R, self.B, self.K, self.eps = R, B, K, eps
        # particle-independent part of each step's log weight, added after the loop
        self.step_const = torch.cat([(first.const - 0.5 * q0).unsqueeze(1), rest.const - 0.5 * q], 1)  # (B, T)
        self.z = (mu0 + k0).unsqueeze(1) + eps[0] @ first.LP.T  # mu0 + K (x_0 - d - C mu0) + noise
        self.logw = torch.zeros((B, K), device=x.device, dtype=x.dtype)

    def step(self, t, fz):
        out = torch.addmm(self.bias[t - 1], fz, self.proj)
        return out[:, :self.R], (out[:, self.R:] * fz).sum(-1).mul(-0.5).reshape(self.B, self.K)

    def run_window(self, window, readout, z, *, pos, current, mask, ess_threshold, keep_states):
        # the fused loop adds the noise eps L^T and broadcasts the per-sequence terms itself
        T1, B, K, R = self.eps[1:].shape
        return window(z, torch.cat([self.kx, self.yG], -1), self.eps[1:].reshape(T1, B * K, R), self.rest.LP,
                      self.proj, pos, current=current, mask=mask, ess_threshold=ess_threshold,
                      keep_states=keep_states)


class _ObservationWeighted(Proposal):
    """Shared by the proposals weighted by the observation model's likelihood (any observation model)."""

    @staticmethod
    def fused_window(transition, observation):
        if not hasattr(transition, "fused_general_window"):
            return None, None
        readout = observation.fused_readout(transition) if hasattr(observation, "fused_readout") else None
        return (None, None) if readout is None else (transition.fused_general_window(), readout)

    def _observation_terms(self, ctx: PassContext):
        tr, obs = ctx.transition, ctx.observation
        self.obs_step, self.step_const = observation_step(obs, ctx.x, tr)
        self.obs_cur = None
        if ctx.currents is not None and getattr(obs, "uses_current", False):
            self.obs_cur = ctx.currents.transpose(0, 1).unsqueeze(2)  # (T, B, 1, N)
        self.x, self.B, self.K, self.eps = ctx.x, ctx.x.shape[0], ctx.n_particles, ctx.eps

    def _log_lik(self, t, z):
        return self.obs_step(t, z, None if self.obs_cur is None else self.obs_cur[t])

    def _window(self, window, readout, z, logw, prop, *, pos, current, mask, ess_threshold, keep_states):
        # the observation likelihood runs inside the loop; its data-only part is in step_const
        x = self.x
        xs = x if readout.columns is None else x.index_select(-1, readout.columns)
        T1, B, K, R = self.eps[1:].shape
        return window(z, logw, self.eps[1:].reshape(T1, B * K, R), xs.transpose(0, 1), readout, pos, **prop,
                      current=current, mask=mask, ess_threshold=ess_threshold, keep_states=keep_states)


class BootstrapProposal(_ObservationWeighted):
    """The transition prior p(z_t | z_{t-1}), weighted by the observation likelihood alone."""

    name = "bootstrap"

    def __init__(self, ctx: PassContext):
        tr, eps = ctx.transition, ctx.eps
        T, B, K, R = eps.shape
        L0, self.Lz = tr.init_cov.cholesky(), tr.noise.cholesky()  # once per pass
        self._observation_terms(ctx)
        if not ctx.fused:  # the fused window adds L eps itself
            self.noise = (eps[1:] @ self.Lz.T).reshape(T - 1, B * K, R)
        self.z = ctx.mu0.unsqueeze(1) + eps[0] @ L0.T
        self.logw = self._log_lik(0, self.z)

    def step(self, t, fz):
        z = fz + self.noise[t - 1]
        return z, self._log_lik(t, z.reshape(self.B, self.K, -1))

    def run_window(self, window, readout, z, **kw):
        return self._window(window, readout, z, self.logw, dict(L=self.Lz), **kw)


class EncoderProposal(_ObservationWeighted):
    """The precision-weighted product of the transition prior and an encoder's N(mu^e_t, s^e_t^2).

    The product N(f, diag Sigma) x N(mu_e, var_e) has mean w f + (1 - w) mu_e with w = var_e / (var + var_e)
    and variance var var_e / (var + var_e) (Sigma_0 at t = 0, Sigma_z after); the weights use the exact,
    possibly full-covariance, prior.
    """

    name = "encoder"

    def __init__(self, ctx: PassContext):
        tr, eps, mu0 = ctx.transition, ctx.eps, ctx.mu0
        T, B, K, R = eps.shape
        L0, Lz = tr.init_cov.cholesky(), tr.noise.cholesky()  # once per pass
        self._observation_terms(ctx)
        enc = getattr(ctx.model, "encoder", None)
        if enc is None:
            raise ValueError("proposal='encoder' needs a model with an encoder (StateSpaceModel(..., encoder=...)).")
        mu_e, var_e = enc(ctx.x)  # (B, T, R), once per pass
        prior_var = torch.cat([tr.init_cov.variance().expand(B, 1, R), tr.noise.variance().expand(B, T - 1, R)], 1)
        self.w_f = w_f = var_e / (prior_var + var_e)
        self.q_std = q_std = torch.sqrt(prior_var * w_f)
        self.mu_part = mu_part = (1 - w_f) * mu_e  # (B, T, R)
        if not ctx.fused:  # per particle for the loop; the fused window takes the per-sequence terms
            base = mu_part.transpose(0, 1).unsqueeze(2) + q_std.transpose(0, 1).unsqueeze(2) * eps
            self.base = base.reshape(T, B * K, R)
            self.w_steps = w_f.transpose(0, 1).unsqueeze(2).expand(T, B, K, R).reshape(T, B * K, R)
            self.eps_sq = 0.5 * (eps * eps).sum(-1)  # (T, B, K)
        # log p(z | z_prev) - log q(z) = -|L^-1 (z - f)|^2 / 2 + |eps|^2 / 2 - log det L + sum log q_std:
        # the last two are particle-independent and join step_const
        Linv0, self.Linv = torch.linalg.inv(L0), torch.linalg.inv(Lz)
        logdet = torch.cat([torch.log(torch.diagonal(L0)).sum().expand(1),
                            torch.log(torch.diagonal(Lz)).sum().expand(T - 1)])
        q_const = torch.log(q_std).sum(-1) - logdet  # (B, T)
        self.step_const = q_const if self.step_const is None else self.step_const + q_const
        mu0k = mu0.unsqueeze(1)
        z = w_f[:, 0].unsqueeze(1) * mu0k + (mu_part[:, 0].unsqueeze(1) + q_std[:, 0].unsqueeze(1) * eps[0])
        d = (z - mu0k) @ Linv0.T
        logw_trans = -0.5 * (d * d).sum(-1) + 0.5 * (eps[0] * eps[0]).sum(-1)
        self.z = z
        self.logw = self._log_lik(0, z) + logw_trans

    def step(self, t, fz):
        z = torch.addcmul(self.base[t], self.w_steps[t], fz)
        d = (z - fz) @ self.Linv.T
        return z, self._log_lik(t, z.reshape(self.B, self.K, -1)) + (
            self.eps_sq[t] - 0.5 * (d * d).sum(-1).reshape(self.B, self.K))

    def run_window(self, window, readout, z, **kw):
        # per sequence: the window adds q eps and the weight's |eps|^2 / 2 itself
        prop = dict(mu=self.mu_part[:, 1:].transpose(0, 1), q=self.q_std[:, 1:].transpose(0, 1),
                    w=self.w_f[:, 1:].transpose(0, 1), Linv=self.Linv)
        return self._window(window, readout, z, self.logw, prop, **kw)


PROPOSALS = {cls.name: cls for cls in (OptimalProposal, EncoderProposal, BootstrapProposal)}


def proposal_class(name: str) -> type[Proposal]:
    """The proposal class registered as ``name``."""
    try:
        return PROPOSALS[name]
    except (KeyError, TypeError):
        raise ValueError(f"proposal must be one of {tuple(PROPOSALS)}; got {name!r}.") from None
