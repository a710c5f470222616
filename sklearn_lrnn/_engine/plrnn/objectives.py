"""What a PLRNN fit minimises, one objective per mode, filed by name in :data:`OBJECTIVES`.

* ``"reconstruction"``: forecast the data themselves on random windows, under the teacher forcing of
  :data:`.forcing.TEACHER_FORCING` (GTF or sparse TF);
* ``"seq2seq"``: targets at every step of input windows, the model run freely from its learned ``z0``;
* ``"seq2one"``: one target per trial, read out after each whole trial's last step.

Each builds an :class:`Objective` (loss, batches, the loss the stopping rule watches on a fixed set of
batches, the per-step hook) for the optimisation loop of :mod:`sklearn_lrnn._engine.training`, from the
module, the data and the estimator's :class:`TrainingSettings`: the estimator configures, the engine trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .batches import trial_sampler, window_sampler
from .forcing import TEACHER_FORCING
from .rollouts import rollout

__all__ = ["OBJECTIVES", "Objective", "TrainingSettings", "TrainingData"]


@dataclass(frozen=True)
class TrainingSettings:
    """The estimator's hyper-parameters that shape the objective (resolved: ``tf_interval`` is a number)."""

    sequence_length: int
    batch_size: int
    l2_weight: float
    mar_weight: float
    training: str = "gtf"  # a name in TEACHER_FORCING (reconstruction only)
    gtf_alpha: Any = "adaptive"
    gtf_alpha_decay: float = 0.999
    gtf_update_interval: int = 5
    tf_interval: int | None = None


@dataclass
class TrainingData:
    """Validated trials: ``trials`` (observations or inputs), ``inputs`` (reconstruction inputs, or None),
    ``targets`` (per-step target trials, or an array with one row per trial, or None)."""

    trials: list
    inputs: list | None = None
    targets: Any = None

    @property
    def shortest(self) -> int:
        return int(min(len(t) for t in self.trials))


@dataclass
class Objective:
    loss_fn: Callable[[Any], torch.Tensor]
    sample_batch: Callable[[], Any]
    monitor_fn: Callable[[], float]
    after_step: Callable[[int], None] | None = None
    extras: Callable[[], dict] | None = None


OBJECTIVES: dict[str, Callable] = {}


def register_objective(name, *, untrained=()):
    """File an objective builder under a mode name; ``untrained``: the module's parameters it never uses
    (not counted in ``n_parameters_``)."""

    def deco(fn):
        fn.untrained = tuple(untrained)
        OBJECTIVES[name] = fn
        return fn

    return deco


def _supervised(module, settings, fit_error, sample_batch, monitor_batch):
    """The regression error (plus the regularisation), monitored on fixed batches."""

    def loss_fn(batch):
        return fit_error(batch) + module.regularization(settings.l2_weight, settings.mar_weight)

    def monitor_fn():
        with torch.no_grad():
            return float(fit_error(monitor_batch))

    return Objective(loss_fn, sample_batch, monitor_fn, extras=lambda: {"alpha_history": np.asarray([], dtype=float)})


@register_objective("reconstruction", untrained=("z0",))  # the state comes from the data
def reconstruction(module, data: TrainingData, settings: TrainingSettings, gen, monitor_gen, device):
    n_obs, n_inputs = module.n_obs, module.n_inputs
    feats = data.trials if data.inputs is None else [np.hstack([x, s]) for x, s in zip(data.trials, data.inputs)]
    L = int(min(settings.sequence_length, data.shortest - 1))
    dt = torch.float32
    sample_batch = window_sampler(feats, L + 1, settings.batch_size, gen, device, dt)
    monitor_batch = window_sampler(feats, L + 1, 4 * settings.batch_size, monitor_gen, device, dt)()
    forcing = TEACHER_FORCING[settings.training](settings)
    forced = forcing.forced(L)
    cache = {}

    def forecast_loss(batch, a):
        x = batch[..., :n_obs]
        s = batch[1:, :, n_obs:] if n_inputs else None
        keep, P = module.forcing(x[1:], a)
        Y = rollout(module, module.infer_state(x[0]), module.base(s, shape=(L, x.shape[1])), P, keep, forced)
        cache["Y"] = Y
        return (module.observe(Y) - x[1:]).square().mean()

    def loss_fn(batch):
        return forecast_loss(batch, forcing.alpha()) + module.regularization(settings.l2_weight, settings.mar_weight)

    ref_alpha = forcing.monitor_alpha()

    def monitor_fn():
        with torch.no_grad():
            return float(forecast_loss(monitor_batch, ref_alpha))

    return Objective(loss_fn, sample_batch, monitor_fn, after_step=forcing.after_step(module, lambda: cache["Y"]),
                     extras=lambda: {"alpha_history": np.asarray(forcing.history(), dtype=float)})


@register_objective("seq2seq", untrained=("L",))  # runs from the learned z0, never infers a state
def seq2seq(module, data: TrainingData, settings: TrainingSettings, gen, monitor_gen, device):
    M, n_inputs = module.n_latents, module.n_inputs
    feats = [np.hstack([s, t]) for s, t in zip(data.trials, data.targets)]
    L = int(min(settings.sequence_length, data.shortest))
    sample_batch = window_sampler(feats, L, settings.batch_size, gen, device, torch.float32)
    monitor_batch = window_sampler(feats, L, 4 * settings.batch_size, monitor_gen, device, torch.float32)()

    def fit_error(batch):
        s, yt = batch[..., :n_inputs], batch[..., n_inputs:]
        Y = rollout(module, module.z0.expand(s.shape[1], M), module.base(s))
        return (module.observe(Y) - yt).square().mean()

    return _supervised(module, settings, fit_error, sample_batch, monitor_batch)


@register_objective("seq2one", untrained=("L",))
def seq2one(module, data: TrainingData, settings: TrainingSettings, gen, monitor_gen, device):
    M = module.n_latents
    draw = trial_sampler(data.trials, data.targets, device, torch.float32)

    def sample_batch():
        return draw(gen, settings.batch_size)

    monitor_batch = draw(monitor_gen, 4 * settings.batch_size)

    def fit_error(batch):
        s, yt, last = batch
        Bn = s.shape[1]
        Y = rollout(module, module.z0.expand(Bn, M), module.base(s))
        zT = Y[last, torch.arange(Bn, device=device)]
        return (module.observe(zT) - yt).square().mean()

    return _supervised(module, settings, fit_error, sample_batch, monitor_batch)
