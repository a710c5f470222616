"""Exact likelihood of the linear low-rank model (``activation="linear"``): the Kalman filter.

With ``activation="linear"`` (phi(x; h) = x - h) and a linear-Gaussian readout x = C z + d + eta the
model is a rank-R linear-Gaussian state-space model,

    z_1 ~ N(mu_0 + proj_m(W_u v_1), Sigma_0),   z_t = J z_{t-1} + n (W_u v_t - h) + eps_t,   J = a I + n m,

whose marginal likelihood the Kalman filter gives in closed form. The SMC estimate of the same model
(``run_smc``, even with the optimal proposal) is random for any finite number of particles: its
incremental weights N(x_t; C f(z_{t-1}^k) + d, S) still depend on the particle z_{t-1}^k, so it only
converges to this value as the particle count grows.

The update is written in the information form with only R x R factorisations, whatever the number of
channels D: with P = L L^T the predicted covariance, V = diag(var) and A = C^T V^-1 C,

    M = I + L^T A L,   P_filt = L M^-1 L^T,   mean_filt = mean + P_filt C^T V^-1 r,
    log det S = log det V + log det M,   r^T S^-1 r = r^T V^-1 r - b^T L M^-1 L^T b   (b = C^T V^-1 r)

(Woodbury identity and determinant lemma for S = C P C^T + V); M >= I is well conditioned even when P
is nearly singular. The covariances do not depend on the data: their recursion runs once for the whole
batch (and stops at its steady state), the means are a parallel prefix scan, and the log-likelihood
terms of all steps are computed at once. Everything runs in float64 and is differentiable, so the
same quantity trains the model (the negative log-likelihood per time bin is the loss) and scores it.
"""

from __future__ import annotations

import math

import torch

from .smc import SMCResult, StateSpaceModel

__all__ = ["kalman_filter", "supports_kalman"]


def supports_kalman(model: StateSpaceModel) -> bool:
    """Whether the model is linear-Gaussian: linear dynamics and a linear-Gaussian readout."""
    return getattr(model.transition, "activation", None) == "linear" and getattr(model.observation, "linear", False)


def _steady(new, old):
    """Whether two consecutive covariance terms agree to a few float64 rounding errors."""
    with torch.no_grad():
        return bool((new - old).abs().max() <= 8 * torch.finfo(new.dtype).eps * new.abs().max())


def _affine_scan(F, offsets):
    """y_0 = offsets_0, y_t = y_{t-1} F_t^T + offsets_t for t >= 1 (F: (T, R, R), offsets: (T, B, R)).

    A parallel prefix scan (Hillis-Steele): ceil(log2 T) rounds of batched products instead of T - 1
    dependent steps, so the autograd graph has a few dozen nodes, not one per time step. Element t
    holds the affine map y -> y M_t + O_t from the start to step t; composing it with element t - d
    gives (M_{t-d} M_t, O_{t-d} M_t + O_t). M_0 = 0, so O_t ends as y_t.
    """
    M = torch.cat([torch.zeros_like(F[:1]), F[1:].transpose(1, 2)])
    O = offsets
    d = 1
    while d < len(F):
        O = torch.cat([O[:d], torch.baddbmm(O[d:], O[:-d], M[d:])])
        M = torch.cat([M[:d], M[:-d] @ M[d:]])
        d *= 2
    return O


def kalman_filter(model: StateSpaceModel, x: torch.Tensor, *, mask: torch.Tensor | None = None,
                  u: torch.Tensor | None = None, return_filter: bool = False) -> SMCResult:
    """Exact log-likelihood log p(x_{1:T}) of each sequence (and the filtering means), in float64.

    Parameters
    ----------
    model : StateSpaceModel
        A ``LowRankTransition`` with ``activation="linear"`` and a linear-Gaussian observation model.
    x : tensor (B, T, D)
        Observations (zeros after a sequence's end where ``mask`` is False).
    mask : bool tensor (B, T) or None
        Valid time steps; padding only at the end of a sequence.
    u : tensor (B, T, n_inputs) or None
        Exogenous inputs.
    return_filter : bool, default=False
        Also return the filtering means E[z_t | x_{1:t}] (B, T, R).

    Returns
    -------
    SMCResult
        ``log_evidence`` (B,) in float64 (differentiable); ``filter_means`` if asked.
    """
    if not supports_kalman(model):
        raise ValueError("the Kalman filter needs activation='linear' and a linear-Gaussian observation model.")
    tr, obs = model.transition, model.observation
    f64 = torch.float64
    B, T, D = x.shape
    R = tr.rank
    x = x.to(f64)
    C, d, var = (t.to(f64) for t in obs.linear_gaussian(tr))
    m, n, h = tr.m.to(f64), tr.n.to(f64), tr.h.to(f64)
    eye = torch.eye(R, dtype=f64, device=x.device)
    J = tr.decay.to(f64) * eye + n @ m
    drive = -(n @ h).expand(B, T, R)
    currents = None
    if u is not None and tr.n_inputs > 0:
        currents = tr.input_currents(tr.filtered_inputs(u))  # (B, T, N)
        drive = drive + currents.to(f64) @ n.T
    mu0 = tr.initial_mean(None if currents is None else currents[:, 0]).to(f64).expand(B, R)
    Q = tr.noise.matrix().to(f64)
    CtV = C.T / var  # C^T V^-1
    A = CtV @ C
    # 1. the covariances: data-independent, one R x R recursion for the whole batch; once it has reached
    # its steady state to float64 precision (the Riccati recursion converges geometrically, within a
    # few steps for informative observations), the last step's terms serve for the rest
    cov = tr.init_cov.matrix().to(f64)
    filt_covs, chol_M = [], []
    for t in range(T):
        if t > 0:
            cov = J @ filt_covs[-1] @ J.T + Q
        L = torch.linalg.cholesky(cov)
        Lm = torch.linalg.cholesky(eye + L.T @ A @ L)
        LM = torch.linalg.solve_triangular(Lm, L.T, upper=False)  # Lm^-1 L^T
        filt_covs.append(LM.T @ LM)  # L M^-1 L^T
        chol_M.append(Lm)
        if t >= 2 and _steady(filt_covs[-1], filt_covs[-2]) and _steady(chol_M[-1], chol_M[-2]):
            break
    n_done = len(filt_covs)
    Pf = torch.stack(filt_covs + [filt_covs[-1]] * (T - n_done))  # (T, R, R)
    Lms = torch.stack(chol_M + [chol_M[-1]] * (T - n_done))
    logdet = 2 * torch.log(torch.diagonal(Lms, dim1=-2, dim2=-1)).sum(-1)  # log det M_t, (T,)
    gain = Pf @ CtV  # (T, R, D) Kalman gains
    IKC = eye - gain @ C  # (T, R, R)
    # 2. the means: filt_t = (I - K_t C)(J filt_{t-1} + drive_t) + K_t (x_t - d), a linear recursion
    xd = (x - d).transpose(0, 1)  # (T, B, D)
    prior_shift = torch.cat([mu0.unsqueeze(0), drive[:, 1:].transpose(0, 1)])  # (T, B, R)
    offsets = prior_shift @ IKC.transpose(1, 2) + xd @ gain.transpose(1, 2)  # (T, B, R)
    filt = _affine_scan(IKC @ J, offsets)  # (T, B, R)
    # 3. every step's log-likelihood at once
    pred = torch.cat([mu0.unsqueeze(0), filt[:-1] @ J.T + prior_shift[1:]])  # (T, B, R)
    r = xd - pred @ C.T
    b = r @ CtV.T  # C^T V^-1 r
    quad = (r * r / var).sum(-1) - ((b @ Pf) * b).sum(-1)  # r^T S^-1 r
    const = -0.5 * (D * math.log(2 * math.pi) + torch.log(var).sum())
    ll = (const - 0.5 * (logdet.unsqueeze(1) + quad)).T  # (B, T)
    if mask is not None:
        ll = ll * mask.to(f64)
    result = SMCResult(log_evidence=ll.sum(1))
    if return_filter:
        result.filter_means = filt.transpose(0, 1)
    return result
