"""Teacher forcing of the reconstruction objective, filed by name in :data:`TEACHER_FORCING`.

* ``"gtf"``: generalized teacher forcing (Hess et al. 2023), every state blended toward the data by
  ``alpha``, fixed or adaptive (:class:`AdaptiveAlpha`, from the Jacobians along the batch's trajectory:
  :func:`gtf_alpha_star`);
* ``"sparse_tf"``: sparse teacher forcing (Brenner et al. 2022), the observed latents replaced by the data
  every ``tau``-th step.
"""

from __future__ import annotations

import torch

from .model import PLRNN

__all__ = ["TEACHER_FORCING", "AdaptiveAlpha", "gtf_alpha_star", "jacobians"]

# GTF forcing under which the stopping rule measures forecasts when the training alpha adapts
MONITOR_ALPHA = 0.1


def jacobians(module: PLRNN, z):
    """Jacobians dF/dz at states ``z`` (n, M) -> (n, M, M)."""
    A, W1t, W2t, h2, _ = module.map_terms()
    return module.arch.jacobians(z, A, W1t, W2t, h2)


def gtf_alpha_star(module: PLRNN, states, max_points=256):
    """alpha* = max(0, 1 - 1/rho), rho = geometric mean of the Jacobians' spectral norms along the
    (teacher-forced) trajectory: (1 - alpha) rho <= 1 keeps the forced Jacobian products bounded
    (Hess et al. 2023, Thm. 1)."""
    with torch.no_grad():
        z = states.reshape(-1, states.shape[-1])
        if z.shape[0] > max_points:
            z = z[torch.linspace(0, z.shape[0] - 1, max_points, device=z.device).long()]
        norms = torch.linalg.matrix_norm(jacobians(module, z), ord=2)
        rho = float(torch.exp(torch.log(norms.clamp_min(1e-12)).mean()))
    return max(0.0, 1.0 - 1.0 / rho)


class AdaptiveAlpha:
    """GTF's adaptive alpha: start at ``alpha0``; every ``interval`` updates recompute alpha*; jump
    up to it at once, otherwise decay by ``decay`` (never below alpha*)."""

    def __init__(self, alpha0=1.0, decay=0.999, interval=5):
        self.alpha, self.decay, self.interval = float(alpha0), float(decay), int(interval)
        self.history = [self.alpha]

    def update(self, alpha_star):
        if alpha_star > self.alpha:
            self.alpha = alpha_star
        else:
            self.alpha = max(alpha_star, self.alpha * self.decay)
        self.history.append(self.alpha)
        return self.alpha


class _GeneralizedTeacherForcing:
    """Every step blended: ``alpha`` fixed (a number) or adaptive (``"adaptive"``)."""

    def __init__(self, settings):
        adaptive = settings.gtf_alpha == "adaptive"
        self.adaptive = AdaptiveAlpha(1.0, settings.gtf_alpha_decay, settings.gtf_update_interval) if adaptive else None
        self.fixed = None if adaptive else float(settings.gtf_alpha)

    def forced(self, length):
        return (True,) * length

    def alpha(self):
        return self.adaptive.alpha if self.adaptive is not None else self.fixed

    def monitor_alpha(self):
        # the adaptive alpha changes the training loss over time, so the stopping rule watches the
        # forecast error under a fixed, weak forcing instead
        return MONITOR_ALPHA if self.adaptive is not None else self.fixed

    def after_step(self, module, states):
        """The per-step update (``states``: a callable giving the last training trajectory), or None."""
        if self.adaptive is None:
            return None
        alpha = self.adaptive

        def update_alpha(step):
            if step % alpha.interval == 0:
                alpha.update(gtf_alpha_star(module, states().detach()))

        return update_alpha

    def history(self):
        return self.adaptive.history if self.adaptive is not None else [self.fixed]


class _SparseTeacherForcing:
    """The data replace the observed latents (alpha = 1) after every ``tau``-th step only."""

    def __init__(self, settings):
        self.tau = int(settings.tf_interval)

    def forced(self, length):
        return tuple((t + 1) % self.tau == 0 for t in range(length))

    def alpha(self):
        return 1.0

    def monitor_alpha(self):
        return 1.0

    def after_step(self, module, states):
        return None

    def history(self):
        return []


TEACHER_FORCING = {"gtf": _GeneralizedTeacherForcing, "sparse_tf": _SparseTeacherForcing}
