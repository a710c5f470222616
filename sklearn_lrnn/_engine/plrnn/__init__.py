"""Piecewise-linear RNNs (PLRNN family): maps, teacher-forced rollouts, training objectives, inference.

The three maps (theory page, "Piecewise-linear RNNs") and their linear baseline, written as one template so
that a single rollout serves all of them::

    z_t = A * z_{t-1} + phi(z_{t-1} W2^T) W1^T + base_t          base_t = h1 + C s_t

* vanilla:          W2 = I, phi(u) = relu(u),                   W1 = W (off-diagonal), h1 = h
* shallow:          phi(u) = relu(u + h2)
* clipped shallow:  phi(u) = relu(u + h2) - relu(u)             (bounded: |phi| <= |h2|)
* linear:           W2 = I, phi(u) = u,                         W1 = W (off-diagonal), h1 = h
                    (the baseline without nonlinearity: z_t = (diag(A) + W) z_{t-1} + h + C s_t)

Modules, bottom up: :mod:`.architectures` (the maps, by name: :data:`ARCHITECTURES`), :mod:`.model` (the torch
module and its starts, :data:`INITS`), :mod:`.rollouts` (the fused teacher-forced rollout, C++ or Python),
:mod:`.forcing` (GTF and sparse teacher forcing, :data:`TEACHER_FORCING`), :mod:`.batches` (padding and
windows), :mod:`.objectives` (what a fit minimises, by mode: :data:`OBJECTIVES`) and :mod:`.inference` (the
rollouts of a fitted model).
"""

from .architectures import ARCHITECTURES, Architecture, get_architecture, register_architecture
from .forcing import TEACHER_FORCING, AdaptiveAlpha, gtf_alpha_star, jacobians
from .model import INITS, PLRNN, count_trained_parameters, module_from_state
from .objectives import OBJECTIVES, Objective, TrainingData, TrainingSettings
from .rollouts import reference_rollout, rollout, rollout_states

__all__ = [
    "ARCHITECTURES", "Architecture", "get_architecture", "register_architecture", "INITS", "PLRNN",
    "module_from_state", "count_trained_parameters", "rollout", "reference_rollout", "rollout_states",
    "jacobians", "gtf_alpha_star", "AdaptiveAlpha", "TEACHER_FORCING", "OBJECTIVES", "Objective",
    "TrainingData", "TrainingSettings",
]
