"""Particle smoothing from a stored forward filter (theory page, "Posterior latents and generation").

Both smoothers reweight the filter's particles z_t^k (weights w_t^k, before resampling) backwards in
time by the transition density p(z_{t+1} | z_t^k):

* ``"conditional"`` (backward simulation, O(K) per path): draw a final particle from w_T, then for
  t = T-1, ..., 1 draw z_t from weights proportional to w_t^k p(z_{t+1}^sel | z_t^k); the posterior mean
  is the average over the drawn paths.
* ``"marginal"`` (forward-filtering backward-smoothing, O(K^2) per step): exact marginal smoothing
  weights w_{t|T}^k = w_t^k sum_j w_{t+1|T}^j p(z_{t+1}^j | z_t^k) / sum_l w_t^l p(z_{t+1}^j | z_t^l).
"""

from __future__ import annotations

import torch

SMOOTHERS = ("conditional", "marginal")


def _transition_logp(tr, Linv, z_next, z_prev, current):
    """log p(z_next^j | z_prev^k) up to a constant: (B, J, K) from z_next (B, J, R), z_prev (B, K, R)."""
    fz = tr.step(z_prev, current)  # (B, K, R)
    d = (z_next.unsqueeze(2) - fz.unsqueeze(1)) @ Linv.T  # (B, J, K, R)
    return -0.5 * (d * d).sum(-1)


@torch.no_grad()
def smooth(model, particles, log_weights, *, u=None, method="conditional", n_paths=None, generator=None):
    """Smoothing posterior means from a filter run with ``return_history=True``.

    Parameters
    ----------
    model : StateSpaceModel
    particles : tensor (T, B, K, R)
        Filter particles at each step before resampling (``SMCResult.particles``).
    log_weights : tensor (T, B, K)
        Their normalised log weights (``SMCResult.log_weights``).
    u : tensor (B, T, n_inputs) or None
        The inputs the filter saw.
    method : {"conditional", "marginal"}
    n_paths : int or None
        Backward paths of the conditional smoother (default K).
    generator : torch.Generator or None

    Returns
    -------
    means : tensor (B, T, R)
    """
    if method not in SMOOTHERS:
        raise ValueError(f"smoother must be one of {SMOOTHERS}; got {method!r}.")
    tr = model.transition
    T, B, K, R = particles.shape
    currents = None
    if u is not None and tr.n_inputs > 0:
        currents = tr.input_currents(tr.filtered_inputs(u))  # (B, T, N)
    Linv = torch.linalg.inv(tr.noise.cholesky())

    def cur(t):
        return None if currents is None else currents[:, t].unsqueeze(1)

    means = particles.new_empty(B, T, R)
    if method == "marginal":
        logw_s = log_weights[T - 1]
        means[:, T - 1] = (logw_s.exp().unsqueeze(-1) * particles[T - 1]).sum(1)
        for t in range(T - 2, -1, -1):
            lp = _transition_logp(tr, Linv, particles[t + 1], particles[t], cur(t + 1))  # (B, Kn, Kp)
            denom = torch.logsumexp(log_weights[t].unsqueeze(1) + lp, -1)  # (B, Kn)
            logw_s = log_weights[t] + torch.logsumexp((logw_s - denom).unsqueeze(-1) + lp, 1)
            logw_s = logw_s - torch.logsumexp(logw_s, -1, keepdim=True)  # guard against round-off drift
            means[:, t] = (logw_s.exp().unsqueeze(-1) * particles[t]).sum(1)
        return means

    M = int(n_paths or K)
    rows = torch.arange(B, device=particles.device).unsqueeze(1)
    idx = torch.multinomial(log_weights[T - 1].exp(), M, replacement=True, generator=generator)  # (B, M)
    path = particles[T - 1][rows, idx]  # (B, M, R)
    means[:, T - 1] = path.mean(1)
    for t in range(T - 2, -1, -1):
        logits = log_weights[t].unsqueeze(1) + _transition_logp(tr, Linv, path, particles[t], cur(t + 1))  # (B, M, K)
        idx = torch.multinomial(torch.softmax(logits, -1).reshape(B * M, K), 1, generator=generator).reshape(B, M)
        path = particles[t][rows, idx]
        means[:, t] = path.mean(1)
    return means
