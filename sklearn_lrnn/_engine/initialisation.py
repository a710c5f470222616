"""Where a model's parameters start: the low-rank state-space model built from a configuration, started
from statistics of the training data (PCA, innovations, counts) or loaded from a fitted state.

Pure NumPy / torch. The estimator hands over its configuration, its trials and the settings that matter
here; this module builds the torch model and writes the starting values into its parameters (the observation model starts its own readout
from ``DataStats``, see ``observations.ObservationModel.init_from_data``). Starting from the data makes
the optimiser refine instead of search from scratch (several-fold fewer epochs).
"""

from __future__ import annotations

import numpy as np
import torch

from .encoder import ConvEncoder
from .low_rank import LowRankTransition
from .observations import DataStats, observation_model
from .smc import StateSpaceModel

__all__ = ["build_low_rank_model", "start_from_data", "start_contracting"]


def build_low_rank_model(cfg, *, state=None, trials=None, continuous=False, generator=None) -> StateSpaceModel:
    """The low-rank state-space model of configuration ``cfg`` (a ``low_rank.LowRankConfig``, or any object
    with its attributes), on the CPU.

    ``state``: a fitted state dict (NumPy arrays) to load; ``trials``: the training data (list of (T_i, D)
    arrays, one ``continuous`` recording or trials) to start from (:func:`start_from_data`); neither: the
    random initialisation drawn from ``generator``.
    """
    transition = LowRankTransition(
        cfg.rank, cfg.n_units, cfg.n_inputs, activation=cfg.activation, decay=cfg.decay,
        train_decay=cfg.train_decay, noise_kind=cfg.transition_noise, noise_std=float(cfg.noise_std or 0.1),
        train_noise=cfg.train_noise, init_kind=cfg.transition_noise, init_std=1.0,
        train_init_cov=cfg.train_noise, learn_init_mean=cfg.learn_initial_mean,
        input_filter=cfg.input_filter, generator=generator,
    )
    count_mask = np.array(cfg.count_mask, dtype=bool)
    observation = observation_model(cfg.observation).build(
        cfg.rank, cfg.n_features, link=cfg.link, count_mask=count_mask,
        noise_std=cfg.observation_noise_std or 0.1, generator=generator,
    )
    encoder = None
    if cfg.proposal == "encoder":
        # torch's default layer init draws from the global RNG: draw it from our seed instead, so
        # random_state alone fixes the result and the caller's global RNG is left untouched
        seed = int(torch.randint(2**62, (1,), generator=generator)) if generator is not None else 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = ConvEncoder(cfg.n_features, cfg.rank, cfg.encoder_kernels, cfg.encoder_channels,
                                  cfg.encoder_padding)
    model = StateSpaceModel(transition, observation, encoder)
    if state is not None:
        model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    elif trials is not None:
        start_from_data(model, trials, continuous=continuous, count_mask=count_mask, decay=cfg.decay,
                        noise_std=cfg.noise_std, observation_noise_std=cfg.observation_noise_std,
                        learn_initial_mean=cfg.learn_initial_mean)
    return model


def start_from_data(model, trials, *, continuous: bool, count_mask, decay: float, noise_std=None,
                    observation_noise_std=None, learn_initial_mean: bool = True) -> None:
    """Start ``model`` (a ``StateSpaceModel``) from the training data.

    The readout at the data's top principal directions (PCA), the initial state at the statistics of the
    projected first steps, the transition noise at the projected innovations, and the observation noise
    at the PCA residual. ``trials``: list of (T_i, D) arrays (one for a ``continuous`` recording, whose
    initial state is then that of any step); ``count_mask`` (D,) marks the count (Poisson) channels;
    ``noise_std`` / ``observation_noise_std``: the user's fixed values, or None to start from the data.
    """
    stacked = np.concatenate(trials, 0)
    n_bins = len(stacked)
    if len(stacked) > 100_000:
        stacked = stacked[:: len(stacked) // 100_000 + 1]
    mean = stacked.mean(0)
    centred = stacked - mean
    R, D = model.transition.rank, stacked.shape[1]
    pmask = np.asarray(count_mask, dtype=bool)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    V = np.zeros((D, R))
    k = min(R, vt.shape[0])
    V[:, :k] = vt[:k].T
    proj = centred @ V  # (n, R) the data's principal-component scores
    resid = centred - proj @ V.T
    obs_var = np.maximum(resid.var(0), 1e-4 * np.maximum(stacked.var(0), 1e-8))
    if observation_noise_std is not None:
        obs_var = np.full(D, float(observation_noise_std) ** 2)
    # latent coordinates: the projections on V, or for models with counts those projections in units of
    # their spread. Counts of sparse units project with a spread of ~0.05, so the readout would have to
    # grow to ~50 to express the rates' modulation, which at RAdam's ~learning-rate steps per update
    # takes thousands of epochs; latents of unit spread start every scale near where it ends.
    z_scale = np.ones(R)
    if pmask.any():
        z_scale = np.maximum(proj.std(0), 1e-6)
    V_in, V_out = V / z_scale, V * z_scale  # data -> latents, latents -> data
    z_data = proj / z_scale
    firsts = stacked if continuous else np.stack([t[0] for t in trials])
    z_first = (firsts - mean) @ V_in
    init_std = np.maximum(z_first.std(0) if len(z_first) > 1 else np.ones(R), 1e-2)
    # transition noise: innovations of the projected data under the initial decay
    if noise_std is None:
        steps = [(t[1:] - mean) @ V_in - float(decay) * ((t[:-1] - mean) @ V_in)
                 for t in trials if len(t) > 1]
        innov = np.concatenate(steps, 0) if steps else np.ones((1, R))
        innov_var = innov.var(0) if len(innov) > 1 else np.ones(R)
        if pmask.any():
            # innovations of counts are dominated by Poisson noise: start instead from a fraction of
            # the latent variance left after removing the Poisson variance (= mean) of the projection
            proj_var = (z_data ** 2).mean(0) - (V_in[pmask] ** 2).T @ np.maximum(mean[pmask], 0)
            innov_var = np.maximum(0.05 * proj_var, 1e-4 * innov_var)
        noise_std = np.clip(np.sqrt(innov_var), 1e-3, 10)
    else:
        noise_std = np.full(R, float(noise_std))
    tr = model.transition
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731

    with torch.no_grad():
        # the observation model starts itself (readout, offsets, noise; m for readouts of the units)
        model.observation.init_from_data(
            DataStats(torch.as_tensor(mean), torch.as_tensor(V_out), torch.as_tensor(obs_var),
                      latent_std=torch.as_tensor(z_data.std(0)), n_samples=n_bins), tr)
        # untrained input weights would inject large random currents at every input onset, which the
        # first epochs then explain as noise: start them small and let the data grow them
        tr.input_weights.mul_(0.1)
        enc = getattr(model, "encoder", None)
        if enc is not None:
            enc.in_mean.copy_(f32(mean))
            # count channels are scaled by at least one spike: dividing by the standard deviation of a
            # sparse unit (0.02 at 0.4 Hz in 20 ms bins) would make each of its rare spikes an input of
            # ~50 (~1,000 for a unit that is silent in the training data but not elsewhere)
            in_scale = np.maximum(stacked.std(0), 1e-3)
            in_scale[pmask] = np.maximum(in_scale[pmask], 1.0)
            enc.in_scale.copy_(f32(in_scale))
        if learn_initial_mean:
            tr.init_mean.copy_(f32(z_first.mean(0)))
        tr.noise.log_std.copy_(f32(np.log(noise_std))[: tr.noise.log_std.numel()] if tr.noise.kind != "scalar"
                               else f32([np.log(noise_std).mean()]))
        tr.init_cov.log_std.copy_(f32(np.log(np.clip(init_std, 1e-3, 10))).reshape(-1)[: tr.init_cov.log_std.numel()])
        if pmask.any():
            start_contracting(tr)


def start_contracting(tr) -> None:
    """Scale the right vectors n so that the starting dynamics contract: ||n|| ||m|| <= (1 - a) / 2.

    The drawn connectivity is often expanding (for relu, a + ||n D m|| > 1 in some region, so latents
    sampled from the prior grow without bound: 1e17 after 500 steps at rank 4 and 31 units). A Gaussian
    readout forgives it (the optimal proposal sees the data at every step), but a count likelihood does
    not: the encoder starts uninformative and the bootstrap proposal is the prior, so particles follow
    the growing latents, the rates of units that are silent in nearly every bin explode, and the first
    losses reach 1e6 per bin or overflow (``TrainingDiverged``). Every activation here is
    1-Lipschitz, so a + ||n|| ||m|| < 1 makes the prior contract everywhere; training grows n where the
    data need (limit cycles, multistability).
    """
    lipschitz = float(torch.linalg.matrix_norm(tr.n, 2) * torch.linalg.matrix_norm(tr.mT, 2))
    a = float(tr.decay)
    target = 0.5 * (1.0 - a)
    if lipschitz > target:
        tr.n.mul_(target / lipschitz)
