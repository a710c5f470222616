"""The fitted PLRNN's methods: its torch module (rebuilt on demand), transform, predict, score, sample, and its
parameters as NumPy attributes and a map for :mod:`sklearn_lrnn.dynamics`.

They use the fitted configuration only (``architecture_``, ``latent_noise_``, ``device_``, ``mode_``, the
module's shape), never the current hyper-parameters: ``set_params`` after ``fit`` changes nothing here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_is_fitted

from .._base import resolve_device, torch_generator
from .._engine.plrnn import get_architecture, module_from_state
from .._engine.plrnn.batches import time_major
from .._engine.plrnn.inference import driven_latents, forecast, free_run, inferred_states
from .._validation import (
    ROUTING_HINT, LatentOutputMixin, check_dense_real, check_fitted_feature_names, check_matching_inputs,
    check_numeric, check_positive_int, check_sequences, fitted_without_inputs, restore,
)
from ._targets import row_weights

__all__ = ["FittedPLRNN"]


def _numpy_map(est):
    """The fitted map as a :mod:`sklearn_lrnn.dynamics` object, by architecture."""
    from ..dynamics import plrnn_map, shallow_plrnn_map
    from ..dynamics._maps import linear_plrnn_map

    maps = {
        "linear": lambda: linear_plrnn_map(est.A_, est.W_, est.h_),
        "vanilla": lambda: plrnn_map(est.A_, est.W_, est.h_),
        "shallow": lambda: shallow_plrnn_map(est.A_, est.W1_, est.W2_, est.h1_, est.h2_, clipped=False),
        "clipped_shallow": lambda: shallow_plrnn_map(est.A_, est.W1_, est.W2_, est.h1_, est.h2_, clipped=True),
    }
    return maps[est.architecture_]()


class FittedPLRNN(LatentOutputMixin):
    """What a fitted :class:`~sklearn_lrnn.plrnn.PLRNNRegressor` does (a mixin of the estimator)."""

    def _set_parameter_attributes(self, state, config):
        f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        M, N = config["n_latents"], config["n_obs"]
        self.A_ = f64(state["A"])
        if not get_architecture(config["architecture"]).hidden:
            self.W_ = f64(state["W"]) * (1 - np.eye(M))
            self.h_ = f64(state["h"])
        else:
            self.W1_, self.W2_ = f64(state["W1"]), f64(state["W2"])
            self.h1_, self.h2_ = f64(state["h1"]), f64(state["h2"])
        self.C_ = f64(state["C"]) if "C" in state else np.zeros((M, 0))
        if config["readout"] == "affine":
            self.B_, self.b_ = f64(state["B"]), f64(state["b"])
        else:
            self.B_, self.b_ = np.eye(N, M), np.zeros(N)

    def _dynamics_map(self, u=None):
        pmap = _numpy_map(self)
        # inputs enter additively (z' = F(z) + C u): a constant input shifts the map's constant part
        return pmap if u is None else replace(pmap, c0=pmap.c0 + self.C_ @ u)

    def _find_cycles(self, pmap, method):
        from ..dynamics import find_cycles

        if self.max_cycle_order < 2:
            return None
        return {k: find_cycles(pmap, k, method="auto" if method == "exact" else "scyfi")
                for k in range(2, self.max_cycle_order + 1)}

    def _store_dynamics(self, fixed_points, cycles):
        self.fixed_points_ = fixed_points
        self.cycles_ = cycles

    def _analyse_dynamics(self):
        super()._analyse_dynamics()
        self.__dict__.pop("lyapunov_exponent_", None)
        if self.compute_lyapunov:
            from ..dynamics import max_lyapunov_exponent

            # start on the data (initial_state_), not at a random state that may lie off the attractor
            self.lyapunov_exponent_ = float(max_lyapunov_exponent(
                self._dynamics_map(), z0=self.initial_state_, n_steps=5000, burn_in=500))

    # ------------------------------------------------------------------ module on demand
    def __getstate__(self):
        state = super().__getstate__().copy()
        state["_module_cache"] = None  # rebuilt from the NumPy state: pickles load without torch/GPU state
        return state

    def _device(self, device=None):
        try:
            return resolve_device(self.device if device is None else device)
        except ValueError:  # fitted on a GPU, used on a machine without one
            return torch.device("cpu")

    def _module(self):
        check_is_fitted(self, "_state")
        dev = self._device(self.device_)
        cache = getattr(self, "_module_cache", None)
        if cache is None or cache[0] != dev:
            self._module_cache = (dev, module_from_state(self._config, self._state, dev))
        return self._module_cache[1]

    def _validate_X(self, X, u=None):
        check_is_fitted(self, "_state")
        check_dense_real(X, "X")
        check_fitted_feature_names(self, X)
        seqs = check_sequences(X, n_features=self.n_features_in_, estimator_name=type(self).__name__)
        useq = None
        if self.mode_ == "reconstruction" and self.n_inputs_:
            if u is None:
                raise ValueError("this model was fitted with inputs u; pass u (same container as X). " + ROUTING_HINT)
            useq = check_matching_inputs(u, seqs, n_inputs=self.n_inputs_)
        elif u is not None:
            raise fitted_without_inputs("supervised models take their inputs as X")
        return seqs, useq

    def _tensors(self, X, u):
        """``(seqs, module, x, s, lengths)``: validated ``X`` and ``u`` as time-major tensors (``s`` None without
        ``u``) on the device of the fitted module."""
        seqs, useq = self._validate_X(X, u)
        module = self._module()
        dev = next(module.parameters()).device
        x, lengths = time_major(seqs.trials, dev)
        s = time_major(useq.trials, dev)[0] if useq is not None else None
        return seqs, module, x, s, lengths

    # ------------------------------------------------------------------ public methods
    def transform(self, X, *, u=None):
        """Latent trajectories.

        Reconstruction: the data-inferred states (observed latents set to the data at every step,
        the others carried by the model). Supervised: the states driven by the inputs ``X``.

        Parameters
        ----------
        X : array-like
            Same container as in ``fit``.
        u : array-like or None
            Inputs (reconstruction models fitted with ``u``).

        Returns
        -------
        Z : same container as X with n_latents columns
            With ``set_output(transform="pandas")``, a 2-D ``X`` (one recording) gives a DataFrame with
            the columns of :meth:`get_feature_names_out` and ``X``'s index.
        """
        seqs, module, x, s, lengths = self._tensors(X, u)
        with torch.no_grad():
            if self.mode_ == "reconstruction":
                Z = inferred_states(module, x, s)
            else:  # x are the inputs
                Z = driven_latents(module, x)
        Z = Z.transpose(0, 1).cpu().numpy().astype(np.float64)
        return restore([Z[i, :n] for i, n in enumerate(lengths)], seqs.layout)

    def fit_transform(self, X, y=None, *, u=None):
        """Fit, then return :meth:`transform` of ``X`` (so that ``u`` reaches ``transform`` in pipelines).

        Parameters
        ----------
        X, y, u : see :meth:`fit`

        Returns
        -------
        Z : same container as X with n_latents columns
        """
        return self.fit(X, y, u=u).transform(X, u=u)

    def predict(self, X, *, n_steps=1, u=None):
        """Predict targets (supervised) or n-step-ahead forecasts (reconstruction).

        Parameters
        ----------
        X : array-like
            Inputs (supervised) or observations (reconstruction), in any accepted container.
        n_steps : int, default=1
            Reconstruction only: row ``t`` of the output is the forecast of ``x_{t + n_steps}`` made
            from the data-inferred state at ``t`` (data up to and including ``x_t``; "origin"
            alignment of :func:`sklearn_lrnn.metrics.prediction_error`). The last ``n_steps`` rows
            forecast beyond the end of ``X``.
        u : array-like or None
            Inputs (reconstruction models fitted with ``u``).

        Returns
        -------
        y_pred : ndarray or list
            Same container as ``X`` (per-step targets or forecasts), or ``(n_trials,)`` /
            ``(n_trials, n_outputs)`` for sequence-to-one models.
        """
        n_steps = check_positive_int(n_steps, "n_steps")
        seqs, module, x, s, lengths = self._tensors(X, u)
        with torch.no_grad():
            if self.mode_ == "reconstruction":
                out = forecast(module, x, s, int(n_steps))
            else:  # x are the inputs
                Y = module.observe(driven_latents(module, x))
                if self.mode_ == "seq2one":
                    last = torch.as_tensor(np.asarray(lengths) - 1, device=Y.device)
                    yT = Y[last, torch.arange(Y.shape[1], device=Y.device)].cpu().numpy().astype(np.float64)
                    return yT[:, 0] if self._y1d else yT
                out = Y
        out = out.transpose(0, 1).cpu().numpy().astype(np.float64)
        per_trial = [out[i, :n] for i, n in enumerate(lengths)]
        if self._y1d:
            per_trial = [p[:, 0] for p in per_trial]
        return restore(per_trial, seqs.layout) if not self._y1d else per_trial[0]

    def score(self, X, y=None, sample_weight=None, *, u=None):
        """R^2 of :meth:`predict` (one-step-ahead forecasts of ``X`` itself for reconstruction).

        Parameters
        ----------
        X : array-like
            Inputs (supervised) or observations (reconstruction).
        y : array-like or None
            Targets (supervised). For reconstruction, None compares the one-step forecasts with
            the next rows of ``X``.
        sample_weight : array-like or None
            Per row of the flattened targets, or per trial (expanded over its time steps); finite,
            non-negative and not all zero.
        u : array-like or None
            Inputs (reconstruction models fitted with ``u``).

        Returns
        -------
        score : float
        """
        pred = self.predict(X, u=u)
        if self.mode_ == "reconstruction" and y is None:
            seqs = check_sequences(X)
            p = check_sequences(pred).trials
            true = np.concatenate([t[1:] for t in seqs.trials])
            pred_f = np.concatenate([q[:-1] for q in p])
            sample_weight = row_weights(sample_weight, [len(t) - 1 for t in seqs.trials])
            return float(r2_score(true, pred_f, sample_weight=sample_weight))
        if y is None:
            raise ValueError("score needs targets y for a supervised model.")
        if self.mode_ == "seq2one" or self._y1d or check_sequences(X).layout == "2d":
            true = check_numeric(y, "y")
            sample_weight = row_weights(sample_weight, [1] * len(true) if true.ndim else [1])
            return float(r2_score(true, pred, sample_weight=sample_weight))
        ys = check_sequences(y, name="y").trials
        ps = check_sequences(pred).trials
        true, pred_f = np.concatenate(ys), np.concatenate(ps)
        sample_weight = row_weights(sample_weight, [len(t) for t in ys])
        return float(r2_score(true, pred_f, sample_weight=sample_weight))

    def sample(self, n_timesteps, *, x0=None, u=None, random_state=None):
        """Generate trajectories by running the map freely.

        Parameters
        ----------
        n_timesteps : int
            Length of each generated trajectory (the first row is the initial state's readout).
        x0 : array-like of shape (n_outputs,) or (n_trajectories, n_outputs), or None
            Initial observation(s), mapped to latents like in training. None: ``initial_state_``.
            Only for reconstruction models.
        u : array-like of shape (n_timesteps, n_inputs) or (n_trajectories, n_timesteps, n_inputs)
            Inputs at each step (models with inputs; for supervised models these are the ``X``
            channels); finite. With several trajectories in ``u`` and one (or no) ``x0``, every
            trajectory starts from the same state.
        random_state : int, RandomState or None
            Seeds the latent noise (``latent_noise > 0``).

        Returns
        -------
        X : ndarray of shape (n_timesteps, n_outputs) or (n_trajectories, n_timesteps, n_outputs)
            3-D where ``x0`` is 2-D or ``u`` is 3-D.
        Z : ndarray of shape (n_timesteps, n_latents) or (n_trajectories, n_timesteps, n_latents)
        """
        module = self._module()
        n_timesteps = check_positive_int(n_timesteps, "n_timesteps")
        dev = next(module.parameters()).device
        g = torch_generator(random_state, dev)  # a bad random_state fails here, not only with latent noise
        single = True
        with torch.no_grad():
            if x0 is None:
                z0 = torch.as_tensor(self.initial_state_, dtype=torch.float32, device=dev)[None]
            else:
                if self.mode_ != "reconstruction":
                    raise ValueError("x0 is only meaningful for reconstruction models (fit with y=None).")
                x0 = check_numeric(x0, "x0")
                single = x0.ndim == 1
                x0 = np.atleast_2d(x0)
                if x0.ndim != 2 or x0.shape[1] != self.n_outputs_:
                    raise ValueError(
                        f"x0 must have shape ({self.n_outputs_},) or (n_trajectories, {self.n_outputs_}); got "
                        f"{np.shape(x0)}."
                    )
                z0 = module.infer_state(torch.as_tensor(x0, dtype=torch.float32, device=dev))
            Bn = z0.shape[0]
            n_in = self.C_.shape[1]
            if n_in:
                if u is None:
                    raise ValueError("this model takes inputs; pass u with shape (n_timesteps, n_inputs).")
                u = check_numeric(u, "u")
                if u.ndim == 3:
                    single = False
                elif u.ndim == 2:
                    u = u[None]
                if u.ndim != 3 or u.shape[1:] != (n_timesteps, n_in):
                    raise ValueError(f"u must have shape ({n_timesteps}, {n_in}) or (n_trajectories, "
                                     f"{n_timesteps}, {n_in}) (n_timesteps={n_timesteps}, n_inputs={n_in}); got "
                                     f"{u.shape}.")
                if Bn > 1 and u.shape[0] not in (1, Bn):
                    raise ValueError(f"u has {u.shape[0]} trajectories but x0 has {Bn}; pass one input sequence "
                                     "per initial state, or a single one for all.")
                if u.shape[0] == 1 and Bn > 1:
                    u = np.repeat(u, Bn, 0)
                if u.shape[0] > 1:
                    single = False
                    z0 = z0.expand(u.shape[0], -1)
                    Bn = u.shape[0]
                s = torch.as_tensor(u[:, 1:], dtype=torch.float32, device=dev).transpose(0, 1)
                base = module.base(s) if n_timesteps > 1 else None
            elif u is not None:
                raise fitted_without_inputs()
            else:
                base = module.base(None, shape=(n_timesteps - 1, Bn))
            Z = free_run(module, z0, base, self.latent_noise_, g)
            Xg = module.observe(Z).transpose(0, 1).cpu().numpy().astype(np.float64)
            Zg = Z.transpose(0, 1).cpu().numpy().astype(np.float64)
        if single:
            return Xg[0], Zg[0]
        return Xg, Zg

    def _n_latent_features_out(self):
        return self._config["n_latents"]

