"""Inference of a fitted low-rank model: the posterior latents (Kalman filter, SMC, smoother), the evidence,
the expected observations and generation, all from the fitted state and configuration (``config_``)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._base import resolve_device, torch_generator
from .._engine.initialisation import build_low_rank_model
from .._engine.kalman import kalman_filter
from .._engine.smc import forecast_observations, run_smc, simulate
from .._engine.smoothing import SMOOTHERS, smooth
from .._lifecycle import check_generated
from .._validation import (
    LatentOutputMixin, Sequences, check_nonnegative_float, check_nonnegative_int, check_numeric, check_positive_int,
    check_sequences, check_trial_weights, fitted_without_inputs, restore,
)
from ._config import LowRankConfig
from ._data import batch_tensors, validate_data

__all__ = ["EVAL_SEED", "LowRankInference", "evaluate", "generation_problem"]

EVAL_SEED = 12345  # fixed, so that score() compares models and CV folds on equal terms
EVAL_CHUNK = 512  # trials per evaluation batch (bounds memory on long data sets)


def evaluate(model, cfg: LowRankConfig, seq: Sequences, useq, device, *, filtering: bool, smoother=None):
    """Per-trial log evidence and (optionally) filtering or smoothing means, with the fixed evaluation seed."""
    gen = torch.Generator(device=device).manual_seed(EVAL_SEED)
    K = cfg.eval_particles
    elbos, means = [], []
    for start in range(0, len(seq), EVAL_CHUNK):
        idx = np.arange(start, min(start + EVAL_CHUNK, len(seq)))
        x, mask, u, _ = batch_tensors(seq, useq, idx, device)
        if cfg.exact_likelihood and smoother is None:
            res = kalman_filter(model, x, mask=mask, u=u, return_filter=filtering)
            elbos.append(res.log_evidence.double().cpu().numpy())
            if filtering:
                fm = res.filter_means.double().cpu().numpy()
                means.extend(fm[j, : len(seq.trials[i])] for j, i in enumerate(idx))
            continue
        res = run_smc(model, x, mask=mask, u=u, n_particles=K, proposal=cfg.proposal,
                      resampling=cfg.resampling, ess_threshold=cfg.ess_threshold, generator=gen,
                      return_filter=filtering and smoother is None, return_history=smoother is not None)
        elbos.append(res.log_evidence.double().cpu().numpy())
        if smoother is not None:
            sm = smooth(model, res.particles, res.log_weights, u=u, method=smoother, generator=gen)
            means.extend(sm.double().cpu().numpy()[j, : len(seq.trials[i])] for j, i in enumerate(idx))
        elif filtering:
            fm = res.filter_means.double().cpu().numpy()
            means.extend(fm[j, : len(seq.trials[i])] for j, i in enumerate(idx))
    return np.concatenate(elbos), means


def generation_problem(module, seq, useq, scale, *, window_length):
    """Why the trained ``module`` cannot be a fit (``_lifecycle.check_generated`` of a free run), or None."""
    horizon = window_length if seq.layout == "2d" else int(seq.lengths.max())
    gen = torch.Generator().manual_seed(EVAL_SEED)
    u = None
    if useq is not None:  # a model with inputs is checked on the data's own first trial of inputs
        u = torch.as_tensor(useq.trials[0], dtype=torch.float32).unsqueeze(0)
        horizon = u.shape[1]
    _, X = simulate(module.cpu(), 4 if u is None else 1, horizon if u is not None else max(horizon, 200),
                    u=u, generator=gen)
    return check_generated(X.double().numpy(), horizon, scale)


class LowRankInference(LatentOutputMixin, TransformerMixin):
    """The public inference methods of :class:`StochasticLowRankRNN` (``transform``, ``score``, ``sample``, ...)."""

    def _model(self, device=None):
        """Rebuild the torch model from the fitted NumPy state and the fitted configuration."""
        return build_low_rank_model(self.config_, state=self._state).to(device or torch.device("cpu"))

    def _infer(self, X, u, filtering, smoother=None):
        check_is_fitted(self, "_state")
        seq, useq = validate_data(self, X, u, fitting=False, count_mask=self.config_.count_mask)
        device = resolve_device(self.device)
        with torch.no_grad():
            elbo, means = evaluate(self._model(device), self.config_, seq, useq, device, filtering=filtering,
                                   smoother=smoother)
        return seq, elbo, means

    def transform(self, X, *, u=None, method="filtering", smoother="conditional"):
        """Posterior-mean latents of X.

        Parameters
        ----------
        X : array-like
            Same layouts as in :meth:`fit`.
        u : array-like, optional
            Inputs (required if the model was fitted with inputs).
        method : {"filtering", "smoothing"}
            "filtering": mean over the particles at each step given the data up to that step.
            "smoothing": mean given the whole trial: the forward filter's particles reweighted backwards
            in time by the transition density (see ``smoother``).
        smoother : {"conditional", "marginal"}, default="conditional"
            Smoothing algorithm. "conditional": backward simulation, K paths drawn with weights
            w_t^k p(z_{t+1} | z_t^k) (O(K) per path and step). "marginal": exact marginal weights of
            forward-filtering backward-smoothing (O(K^2) per step; less Monte-Carlo noise).

        Returns
        -------
        Z : latents in X's container, with ``rank`` columns.
            With ``set_output(transform="pandas")``, a 2-D ``X`` (one recording) gives a DataFrame with
            the columns of :meth:`get_feature_names_out` and ``X``'s index.
        """
        if method not in ("filtering", "smoothing"):
            raise ValueError(f"method must be 'filtering' or 'smoothing'; got {method!r}.")
        if smoother not in SMOOTHERS:
            raise ValueError(f"smoother must be one of {SMOOTHERS}; got {smoother!r}.")
        seq, _, means = self._infer(X, u, filtering=True, smoother=smoother if method == "smoothing" else None)
        return restore(means, seq.layout)

    def fit_transform(self, X, y=None, *, u=None, **transform_params):
        """Fit, then return the posterior latents of X (u reaches both steps)."""
        return self.fit(X, u=u).transform(X, u=u, **transform_params)

    def forecast(self, X, n_steps=1, *, u=None):
        """k-step-ahead forecasts: row t of each trial forecasts ``X[t + n_steps]`` from the data up to ``X[t]``.

        The filtering mean E[z_t | x_{1:t}] (``transform``) is carried ``n_steps`` steps by the noise-free
        latent map and read out by the observation mean: a point forecast (for a nonlinear map the mean is
        propagated, not the posterior), exact in expectation for the linear baseline. This is the protocol of
        :func:`~sklearn_lrnn.metrics.prediction_error` (``prediction_error(model.forecast, X, n_steps=k)``).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features), list of 2-D arrays, or (n_timesteps, n_features)
            Data to forecast; every trial longer than ``n_steps``.
        n_steps : int, default=1
            Forecast horizon k >= 1.
        u : array-like or None, default=None
            Inputs of a model fitted with inputs (same container as ``X``).

        Returns
        -------
        forecast : same container as ``X``
            Trial i has ``T_i - n_steps`` rows: the forecasts that have a target.
        """
        check_is_fitted(self, "_state")
        n_steps = check_positive_int(n_steps, "n_steps")
        seq = check_sequences(X, name="X", min_length=n_steps + 1)
        Z = check_sequences(self.transform(X, u=u), name="latents").trials
        useq = None if u is None else check_sequences(u, name="u").trials
        model = self._model()
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        out = [forecast_observations(model, f32(z), n_steps, None if useq is None else f32(useq[i])).double().numpy()
               for i, z in enumerate(Z)]
        return restore(out, seq.layout)

    def score_samples(self, X, *, u=None):
        """ELBO per time bin of each trial (one value for a 2-D recording); higher is better.

        For the linear baseline with a Gaussian readout (see ``activation``) this is the exact
        log-likelihood per time bin (Kalman filter), otherwise the SMC estimate of it (a lower bound in
        expectation)."""
        seq, elbo, _ = self._infer(X, u, filtering=False)
        return elbo / seq.lengths

    def score(self, X, y=None, *, u=None, sample_weight=None):
        """Mean ELBO per time bin over X (weighted by trial length and ``sample_weight``)."""
        seq, elbo, _ = self._infer(X, u, filtering=False)
        weights = seq.lengths.astype(float)
        sample_weight = check_trial_weights(sample_weight, len(seq))
        if sample_weight is not None:
            weights = weights * sample_weight
        return float(np.sum(elbo / seq.lengths * weights) / np.sum(weights))

    def inverse_transform(self, Z):
        """Expected observations E[x | z] for latents Z (any of the containers).

        C z + d for Gaussian readouts, the expected counts g(.) for Poisson columns. One-to-one readouts
        of the units use the recurrent currents only (no input current: ``Z`` carries no inputs).
        """
        check_is_fitted(self, "_state")
        seq = check_sequences(Z, name="Z", n_features=self.config_.rank, estimator_name="the latent space")
        model = self._model()
        with torch.no_grad():
            out = [model.observation.mean(torch.as_tensor(t, dtype=torch.float32), model.transition).double().numpy()
                   for t in seq.trials]
        return restore(out, seq.layout)

    def sample(self, n_trials=1, n_timesteps=100, *, u=None, z0=None, random_state=None, noise_scale=1.0,
               burn_in=0):
        """Generate data from the fitted model.

        Parameters
        ----------
        n_trials, n_timesteps : int
            Size of the output (ignored where ``u`` fixes them).
        u : array-like, optional
            Inputs to condition on (3-D array or list); may be sequences never seen in training.
        z0 : array-like of shape (rank,) or (n_trials, rank), optional
            Initial latent state (finite); default: a sample of the initial-state distribution. With
            ``u``, ``n_trials`` is the number of input trials.
        random_state : int, RandomState or None
        noise_scale : float >= 0, default=1.0
            Multiplies the transition noise (0: deterministic dynamics, expected observations).
        burn_in : int >= 0, default=0
            Steps run and discarded before recording.

        Returns
        -------
        X : ndarray of shape (n_trials, n_timesteps, n_features) (a list if ``u`` is a list)
        Z : ndarray of shape (n_trials, n_timesteps, rank)
        """
        check_is_fitted(self, "_state")
        n_trials = check_positive_int(n_trials, "n_trials")
        n_timesteps = check_positive_int(n_timesteps, "n_timesteps")
        noise_scale = check_nonnegative_float(noise_scale, "noise_scale")
        burn_in = check_nonnegative_int(burn_in, "burn_in")
        gen = torch_generator(random_state)
        model = self._model()
        rank = self.noise_cov_.shape[0]
        if u is not None:
            useq = check_sequences(u, name="u", n_features=self.n_inputs_ or None, estimator_name="the fitted model")
            if self.n_inputs_ == 0:
                raise fitted_without_inputs()
            z0s = _z0(z0, rank, len(useq), "the number of trials of u")
            xs, zs = [], []
            for i, trial in enumerate(useq.trials):
                ut = torch.as_tensor(trial, dtype=torch.float32).unsqueeze(0)
                z0i = None if z0s is None else (z0s if z0s.ndim == 1 else z0s[i : i + 1])
                Z, X = simulate(model, 1, len(trial), z0=z0i, u=ut, noise_scale=noise_scale,
                                burn_in=burn_in, generator=gen)
                xs.append(X[0].double().numpy())
                zs.append(Z[0].double().numpy())
            return restore(xs, useq.layout if useq.layout != "2d" else "list"), restore(zs, useq.layout if useq.layout != "2d" else "list")
        if self.n_inputs_ > 0:
            raise ValueError(f"this model was fitted with {self.n_inputs_} inputs; pass u to sample.")
        Z, X = simulate(model, n_trials, n_timesteps, z0=_z0(z0, rank, n_trials, "n_trials"),
                        noise_scale=noise_scale, burn_in=burn_in, generator=gen)
        return X.double().numpy(), Z.double().numpy()

    def _n_latent_features_out(self):
        return self.noise_cov_.shape[0]


def _z0(z0, rank, n_trials, what):
    """Initial latent state(s): finite, shape (rank,) or (n_trials, rank)."""
    if z0 is None:
        return None
    z0 = check_numeric(z0, "z0")
    if z0.ndim not in (1, 2) or z0.shape[-1] != rank:
        raise ValueError(f"z0 must have shape ({rank},) or (n_trials, {rank}) (rank = {rank}); got shape {z0.shape}.")
    if z0.ndim == 2 and z0.shape[0] != n_trials:
        raise ValueError(f"z0 has {z0.shape[0]} rows but {what} is {n_trials}; pass one initial state per trial, "
                         f"or a single one of shape ({rank},).")
    return torch.as_tensor(z0, dtype=torch.float32)
