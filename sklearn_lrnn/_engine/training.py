"""The optimisation loop shared by every model: RAdam, exponential learning-rate decay,
gradient clipping, early stopping, and NaN-safe steps.

Pure torch; the estimators pass a loss closure and a batch sampler.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = ["TrainResult", "fit_module", "TrainingDiverged"]


class TrainingDiverged(FloatingPointError):
    """Raised when the loss stays non-finite after repeated roll-backs with smaller steps."""


@dataclass
class TrainResult:
    loss_curve: list = field(default_factory=list)  # mean training loss per epoch
    validation_curve: list = field(default_factory=list)  # validation loss per epoch (if any)
    n_iter: int = 0  # epochs run
    n_steps: int = 0  # gradient steps run
    converged: bool = False  # early stopping triggered (validation stopped improving)
    n_rollbacks: int = 0
    optimizer_state: Any = None


def _finite_params(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


def fit_module(
    module: torch.nn.Module,
    loss_fn: Callable[[Any], torch.Tensor],
    sample_batch: Callable[[], Any],
    *,
    n_epochs: int,
    batches_per_epoch: int,
    lr: float = 1e-3,
    final_lr: float | None = 1e-6,
    lr_decay_epochs: int | None = None,
    grad_clip: float | None = None,
    validation_fn: Callable[[], float] | None = None,
    n_iter_no_change: int | None = None,
    tol: float = 1e-4,
    after_step: Callable[[int], None] | None = None,
    on_epoch: Callable[[int, float, float | None], None] | None = None,
    optimizer_state: Any = None,
    max_rollbacks: int = 5,
) -> TrainResult:
    """Minimise ``loss_fn(sample_batch())`` over ``module``'s parameters with RAdam.

    Parameters
    ----------
    module : torch.nn.Module
        Trained in place. On early stopping, the parameters of the best validation epoch are restored.
    loss_fn : callable
        ``loss_fn(batch) -> scalar tensor``.
    sample_batch : callable
        Returns the next batch (any object ``loss_fn`` understands).
    n_epochs, batches_per_epoch : int
        Length of training; one epoch is ``batches_per_epoch`` gradient steps.
    lr, final_lr : float
        The learning rate decays exponentially from ``lr`` to ``final_lr`` over ``lr_decay_epochs``
        (default ``n_epochs``) epochs; ``final_lr=None`` keeps it constant.
    grad_clip : float or None
        Clip the global gradient norm to this value.
    validation_fn : callable or None
        Returns a validation loss (lower is better), evaluated after each epoch.
    n_iter_no_change : int or None
        Stop when the validation loss has not improved by ``tol`` for this many epochs.
    after_step : callable or None
        Called with the global step index after each successful optimiser step (e.g. GTF's alpha).
    on_epoch : callable or None
        Called with ``(epoch, train_loss, val_loss)`` after each epoch (progress bars, logging).
    optimizer_state : dict or None
        State of a previous run's optimiser to continue from (``warm_start`` / ``partial_fit``).
    max_rollbacks : int
        How many times a non-finite loss may be met (each time: roll back to the last finite state,
        halve the learning rate, warn) before :class:`TrainingDiverged` is raised.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.RAdam(params, lr=lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
        for group in optimizer.param_groups:
            group["lr"] = lr
    decay_epochs = lr_decay_epochs or n_epochs
    gamma = 1.0 if final_lr is None else math.exp(math.log(final_lr / lr) / max(decay_epochs, 1))

    result = TrainResult()
    good_state = copy.deepcopy(module.state_dict())
    good_opt = copy.deepcopy(optimizer.state_dict())
    best_val, best_state, stale = math.inf, None, 0
    lr_scale = 1.0  # multiplicative penalty after roll-backs
    step = 0
    for epoch in range(n_epochs):
        epoch_loss, n_ok = 0.0, 0
        for _ in range(batches_per_epoch):
            batch = sample_batch()
            optimizer.zero_grad(set_to_none=True)
            try:
                loss = loss_fn(batch)
                bad = not torch.isfinite(loss)
            except torch.linalg.LinAlgError:  # e.g. a covariance that stopped being positive definite
                bad = True
            if not bad:
                loss.backward()
                if grad_clip is not None:
                    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    bad = not torch.isfinite(norm)
                else:
                    bad = any(p.grad is not None and not torch.isfinite(p.grad).all() for p in params)
            if not bad:
                optimizer.step()
                bad = not _finite_params(module)
            if bad:
                result.n_rollbacks += 1
                if result.n_rollbacks > max_rollbacks:
                    module.load_state_dict(good_state)
                    raise TrainingDiverged(
                        f"the training loss became NaN/inf {result.n_rollbacks} times even after rolling "
                        "back and lowering the learning rate; try a smaller learning_rate, grad_clip, "
                        "standardised data, or a smaller init noise."
                    )
                module.load_state_dict(good_state)
                optimizer.load_state_dict(good_opt)
                lr_scale *= 0.5
                for group in optimizer.param_groups:
                    group["lr"] = lr * lr_scale * gamma**epoch
                warnings.warn(
                    f"non-finite loss at epoch {epoch}, step {step}: rolled back to the last finite "
                    f"parameters and halved the learning rate (now {optimizer.param_groups[0]['lr']:.2e}).",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            epoch_loss += float(loss.detach())
            n_ok += 1
            step += 1
            if after_step is not None:
                after_step(step)
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_scale * gamma ** (epoch + 1)
        train_loss = epoch_loss / max(n_ok, 1) if n_ok else float("nan")
        result.loss_curve.append(train_loss)
        result.n_iter = epoch + 1
        result.n_steps = step
        if n_ok:
            good_state = copy.deepcopy(module.state_dict())
            good_opt = copy.deepcopy(optimizer.state_dict())
        val = None
        if validation_fn is not None:
            val = float(validation_fn())
            result.validation_curve.append(val)
            if val < best_val - tol:
                best_val, stale = val, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                stale += 1
        if on_epoch is not None:
            on_epoch(epoch, train_loss, val)
        if n_iter_no_change is not None and validation_fn is not None and stale >= n_iter_no_change:
            result.converged = True
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    result.optimizer_state = optimizer.state_dict()
    return result
