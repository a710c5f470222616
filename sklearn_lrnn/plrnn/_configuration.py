"""What a PLRNN fit resolves from the hyper-parameters and the data: the mode (by the kind of targets), the
module's shape (latents, readout, inputs, MAR units), the teacher-forcing interval and the training settings
handed to the engine's objective."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engine.plrnn import TrainingData, TrainingSettings
from .._validation import Sequences, check_dense_real, check_matching_inputs
from ._targets import check_targets
from ._tf_interval import estimate_tf_interval

__all__ = ["FitData", "resolve_configuration"]


@dataclass
class FitData:
    """What ``_prepare_fit`` hands to the other fit hooks: validated data and the resolved configuration."""

    seq: Sequences  # the validated training data (as in the low-rank LowRankFitData)
    useq: Sequences | None
    mode: str  # a name in OBJECTIVES
    targets: Any
    y1d: bool
    tau: int | None
    config: dict  # the torch module's shape (PLRNN's arguments)
    settings: TrainingSettings
    feature_names: Any

    def training_data(self) -> TrainingData:
        return TrainingData(self.seq.trials, None if self.useq is None else self.useq.trials, self.targets)


def resolve_configuration(est, seqs, y, u, *, feature_names=None) -> FitData:
    """The configuration of a fit of ``est`` (a PLRNNRegressor) to validated ``seqs`` with targets ``y`` and
    inputs ``u``: "auto" options, None latents and the interval resolved, every shape checked."""
    supervised = y is not None
    tau, useq = None, None
    if supervised:
        if u is not None:
            raise ValueError("u is only used for reconstruction (y=None); in supervised fits X are the inputs.")
        mode, targets, y1d = check_targets(y, seqs)
        n_obs, n_inputs = targets[0].shape[-1] if mode == "seq2seq" else targets.shape[1], seqs.n_features
        M = est.n_latents or 16
        readout = "affine" if est.readout == "auto" else est.readout
    else:
        mode, y1d, targets = "reconstruction", False, None
        if est.training == "sparse_tf":
            tau = (estimate_tf_interval(seqs.trials, max_interval=est.sequence_length)
                   if est.tf_interval == "auto" else int(est.tf_interval))
            need = tau + 1
        else:
            need = 2
        short = np.nonzero(seqs.lengths < need)[0]
        if short.size:
            i = short[0]
            what = (f"teacher-forcing interval tf_interval={tau} needs at least {need} steps per trial"
                    if tau else "reconstruction needs at least 2 time steps per trial")
            raise ValueError(
                f"X: trial {i} has {seqs.lengths[i]} time steps but the {what}; pass longer sequences"
                + (" or lower tf_interval." if tau else ".")
            )
        n_obs = seqs.n_features
        if u is not None:
            check_dense_real(u, "u")
            useq = check_matching_inputs(u, seqs)
        n_inputs = 0 if useq is None else useq.n_features
        M = est.n_latents or n_obs
        readout = "identity" if est.readout == "auto" else est.readout
    if readout == "identity" and M < n_obs:
        raise ValueError(
            f"identity readout needs n_latents >= the number of {'targets' if supervised else 'features'} "
            f"({n_obs}); got n_latents={M}. Raise n_latents or use readout='affine'."
        )
    n_mar = int(round(est.mar_fraction * M)) if est.mar_weight > 0 else 0
    config = dict(n_latents=M, n_obs=n_obs, architecture=est.architecture, n_hidden=est.n_hidden,
                  n_inputs=n_inputs, readout=readout, n_mar=n_mar, init=est.init)
    settings = TrainingSettings(
        sequence_length=int(est.sequence_length), batch_size=int(est.batch_size), l2_weight=est.l2_weight,
        mar_weight=est.mar_weight, training=est.training, gtf_alpha=est.gtf_alpha,
        gtf_alpha_decay=est.gtf_alpha_decay, gtf_update_interval=est.gtf_update_interval, tf_interval=tau)
    return FitData(seq=seqs, useq=useq, mode=mode, targets=targets, y1d=y1d, tau=tau, config=config,
                   settings=settings, feature_names=feature_names)
