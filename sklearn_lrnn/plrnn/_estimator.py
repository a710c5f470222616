"""``PLRNNRegressor``: the estimator's parameters and the configuration its fit resolves and hands to the engine.

The engine trains (:mod:`sklearn_lrnn._engine.plrnn`: the maps, the fused teacher-forced rollout and the
training objectives; :func:`sklearn_lrnn._engine.training.fit_module`: RAdam, learning-rate decay, NaN
roll-back); the fitted model's methods are in :mod:`._fitted`.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils import TransformerTags
from sklearn.utils._param_validation import Interval, StrOptions

from .._base import torch_generator
from .._engine.plrnn import (
    ARCHITECTURES, INITS, OBJECTIVES, PLRNN, TEACHER_FORCING, count_trained_parameters, rollout_states,
)
from .._lifecycle import FitProblem, RecurrentEstimator, check_generated, late_fluctuation
from .._validation import (
    check_dense_real, check_fitted_feature_names, check_inputs_routed, check_sequences, input_feature_names,
    set_feature_names,
)
from ._configuration import resolve_configuration
from ._fitted import FittedPLRNN

__all__ = ["PLRNNRegressor"]


class PLRNNRegressor(FittedPLRNN, RegressorMixin, RecurrentEstimator):
    """Piecewise-linear recurrent neural network (vanilla, shallow or clipped shallow PLRNN).

    ``z_t = A z_{t-1} + W relu(z_{t-1}) + C s_t + h`` (vanilla) or
    ``z_t = A z_{t-1} + W1 phi(W2 z_{t-1} + h2) + h1 + C s_t`` with ``phi = relu`` (shallow) or the
    bounded ``relu(W2 z + h2) - relu(W2 z)`` (clipped shallow); ``A`` diagonal, ``W`` off-diagonal.
    ``architecture="linear"`` is the baseline without the nonlinearity, ``z_t = A z_{t-1} + W z_{t-1}
    + C s_t + h``, trained the same way (user guide, "Does my data need nonlinear dynamics?").

    Two uses:

    * ``fit(X)``: dynamical-systems reconstruction. The model learns to forecast ``X`` itself,
      trained by backpropagation through time on windows with generalized teacher forcing (GTF,
      Hess et al. 2023) or sparse teacher forcing (Brenner et al. 2022). ``sample`` then generates
      new trajectories freely; ``predict(X, n_steps=k)`` gives k-step-ahead forecasts.
    * ``fit(X, y)``: supervised sequence regression. ``X`` are input sequences ``s_t``; ``y`` are
      target sequences (same container as ``X``) or one target vector per trial (sequence-to-one,
      read out after the last step). Manifold-attractor regularisation (``mar_weight > 0``,
      Schmidt et al. 2021) gives long memory (the addition problem).

    Parameters
    ----------
    architecture : {"vanilla", "shallow", "clipped_shallow", "linear"}, default="clipped_shallow"
        The latent map. ``"linear"``: the vanilla map without the relu, ``z_t = (A + W) z_{t-1} + h
        + C s_t``, a linear latent model to compare the nonlinear ones with on the same data (same
        training, readout and metrics). It has one fixed point, the solution of ``(I - A - W) z = h``
        (none isolated where ``A + W`` has an eigenvalue 1), no isolated cycles, and cannot be chaotic:
        on data with a limit cycle, several attractors or chaos it must do worse.
    n_latents : int or None, default=None
        Latent dimension M. None: the number of observed channels (reconstruction), 16 (supervised).
    n_hidden : int, default=100
        Hidden width H of the shallow maps (ignored by the vanilla and linear maps).
    readout : {"auto", "identity", "affine"}, default="auto"
        ``identity``: the first N latents are the observations (needs ``n_latents >= N``);
        ``affine``: ``x = B z + b``. ``auto``: identity for reconstruction, affine for supervised.
    training : {"gtf", "sparse_tf"}, default="gtf"
        Teacher forcing for reconstruction (supervised fits run the model freely from a learned
        initial state).
    tf_interval : int or "auto", default=16
        Sparse teacher forcing: the observed latents are replaced by the data every ``tf_interval``
        steps. ``"auto"``: :func:`estimate_tf_interval` (mutual information / autocorrelation).
    gtf_alpha : "adaptive" or float in [0, 1], default="adaptive"
        GTF forcing strength ``z~ = (1 - alpha) z + alpha z^``. ``"adaptive"``: start at 1, every
        ``gtf_update_interval`` gradient steps recompute ``alpha* = max(0, 1 - 1/rho)`` from the
        Jacobians along the batch's trajectory; jump up to it at once, else decay by ``gtf_alpha_decay``.
    gtf_alpha_decay : float, default=0.999
        Decay factor of the adaptive alpha per update.
    gtf_update_interval : int, default=5
        Gradient steps between alpha updates.
    mar_fraction : float, default=0.5
        Fraction of latents under manifold-attractor regularisation (the last ones), when
        ``mar_weight > 0``.
    mar_weight : float, default=0.0
        ``tau_A = tau_W`` of the MAR penalty ``tau_A mean (A_ii - 1)^2 + tau_W (mean W_ij^2 +
        mean h_i^2)`` over the regularised units, which start as line attractors (A = 1, W rows = 0,
        h = 0). Schmidt et al. use 5 with ``n_latents=40``. 0 disables MAR.
    init : {"positive_definite", "random"}, default="positive_definite"
        Start of ``A`` and (vanilla, linear) ``W``, the diagonal and off-diagonal of one M x M matrix.
        ``"positive_definite"``: ``R^T R / M + I`` scaled to spectral radius 1 (Brenner et al. 2022),
        which starts every latent near a slow, integrator-like mode; ``"random"``: Gaussian
        N(0, 1/M) entries scaled to spectral radius <= 0.9, the plain start of Schmidt et al. 2021's
        benchmarks, with no built-in memory. MAR units start as line attractors either way.
    l2_weight : float, default=1e-5
        L2 penalty on ``1 - A``, the weights and the biases.
    sequence_length : int, default=200
        Training window length (capped by the shortest trial).
    batch_size : int, default=16
        Windows (or trials) per gradient step.
    batches_per_epoch : int, default=50
        Gradient steps per epoch.
    max_iter : int, default=1000
        Cap on the number of epochs; training normally ends earlier, by the stopping rule of
        ``learning_rate_schedule`` (``max_iter`` does not change how fast the rate decays).
    learning_rate : float, default=1e-3
        Initial RAdam learning rate.
    learning_rate_schedule : {"plateau", "exponential", "constant"}, default="plateau"
        "plateau": constant until the monitored loss has not improved by a fraction ``tol`` for
        ``n_iter_no_change`` epochs, then divided by 10, down to ``final_learning_rate`` (default
        ``learning_rate / 100``); the next plateau ends training. The monitored loss is the error on
        a fixed set of training windows (for adaptive GTF under a fixed forcing alpha = 0.1, since the
        training loss changes with alpha). "exponential": the published schedule, geometric decay to
        ``final_learning_rate`` (default ``learning_rate / 1000``) over ``max_iter`` epochs.
        "constant": stops at the first plateau.
    final_learning_rate : float or None, default=None
        Smallest learning rate of "plateau", last one of "exponential".
    n_iter_no_change : int, default=20
        Patience of the stopping rule, in epochs.
    tol : float, default=1e-4
        Smallest relative decrease of the monitored loss that counts as an improvement. (Measured on
        a Halvorsen attractor: tol 1e-3 with patience 10 stopped after 124 epochs with D_stsp 2.8
        against a data floor of 0.43 (seed 0); tol 1e-4 with patience 20 after 140-190 epochs with
        0.06-0.07 (seeds 0-2).)
    grad_clip : float or None, default=10.0
        Gradient-norm clipping.
    n_init : int, default=1
        Number of initialisations; the restart with the lowest monitored loss is kept.
    n_jobs : int or None, default=None
        Restarts in parallel through joblib (a ``dask`` backend spreads them over a cluster).
    warm_start : bool, default=False
        Continue from the previous fit (same data kind and model shape) instead of re-initialising.
    latent_noise : float, default=0.0
        Standard deviation of Gaussian latent noise added by :meth:`sample`.
    device : str, default="auto"
        Torch device; "auto" uses CUDA when present.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, batches and sampling; identical results on CPU for identical data.
    verbose : int, default=0
        0 silent, 1 progress bar, 2 one line per epoch.
    compute_fixed_points : bool, default=True
        Compute ``fixed_points_`` and ``cycles_`` at the end of fit (needs ``sklearn_lrnn.dynamics``).
    max_cycle_order : int, default=2
        Largest cycle order searched for ``cycles_``.
    compute_lyapunov : bool, default=False
        Compute ``lyapunov_exponent_`` at the end of fit.
    dynamics_budget : float or None, default=5.0
        Seconds the exact fixed-point search may take (estimated before it starts: 2^M cells for the
        vanilla PLRNN); past it the SCYFI heuristic runs instead, with a warning. None: always exact.

    Attributes
    ----------
    A_ : ndarray of shape (n_latents,)
        Diagonal auto-regression weights.
    W_ : ndarray of shape (n_latents, n_latents)
        Off-diagonal coupling (vanilla, linear).
    h_ : ndarray of shape (n_latents,)
        Bias (vanilla, linear).
    W1_, W2_ : ndarray of shape (n_latents, n_hidden), (n_hidden, n_latents)
        Shallow / clipped shallow weights.
    h1_, h2_ : ndarray of shape (n_latents,), (n_hidden,)
        Shallow / clipped shallow biases.
    C_ : ndarray of shape (n_latents, n_inputs)
        Input weights (zero columns without inputs).
    B_, b_ : ndarray of shape (n_outputs, n_latents), (n_outputs,)
        Readout (for identity readout, the selection matrix ``[I 0]`` and zeros).
    initial_state_ : ndarray of shape (n_latents,)
        Default start of :meth:`sample`: the data-inferred state at the first training sample.
    fixed_points_ : object or None
        Fixed points of the autonomous map (from ``sklearn_lrnn.dynamics``).
    cycles_ : dict or None
        Cycles by order (2 .. ``max_cycle_order``).
    lyapunov_exponent_ : float
        Maximum Lyapunov exponent (only with ``compute_lyapunov=True``).
    architecture_ : str
        Latent map of the fitted model (``architecture`` at fit time).
    n_latents_ : int
        Latent dimension M of the fitted model (``n_latents`` resolved: None became the number of
        observed channels or 16).
    readout_ : {"identity", "affine"}
        Readout of the fitted model (``readout="auto"`` resolved).
    training_ : {"gtf", "sparse_tf"} or None
        Teacher forcing the reconstruction was trained with (None for supervised fits).
    tf_interval_ : int or None
        Teacher-forcing interval used (sparse_tf; ``tf_interval="auto"`` resolved), else None.
    latent_noise_ : float
        Latent noise :meth:`sample` adds (``latent_noise`` at fit time).
    device_ : str
        Torch device of the fit, on which the fitted model runs (CPU where it is not available).
    alpha_history_ : ndarray
        GTF forcing strength after each update.
    loss_curve_ : ndarray of shape (``n_iter_``,)
        Mean training loss per epoch.
    learning_rate_curve_ : ndarray of shape (``n_iter_``,)
        Learning rate of each epoch.
    n_iter_ : int
        Epochs run.
    converged_ : bool
        Whether the stopping rule ended training (False comes with a ``ConvergenceWarning``).
    best_epoch_ : int
        Epoch whose parameters were kept (lowest monitored loss).
    restart_losses_ : ndarray of shape (n_init,)
        Monitored loss of each restart (NaN for one that diverged).
    n_parameters_ : int
        Number of trainable parameters: the entries the optimiser fits (latent map, less the masked
        diagonal of ``W``; input weights; readout; and the learned initial state of supervised fits or,
        for reconstruction with an identity readout and more latents than channels, the map from
        ``x_0`` to the unobserved latents). Buffers and parameters the fit never uses are not counted.
    n_features_in_ : int
        Observed channels (reconstruction) or input channels (supervised).
    n_outputs_ : int
        Output channels (= ``n_features_in_`` for reconstruction).
    mode_ : {"reconstruction", "seq2seq", "seq2one"}
        What ``fit`` learned.

    Notes
    -----
    Everything ``fit`` resolves from the hyper-parameters (the attributes above that end in ``_``) is
    frozen at fit time: :meth:`predict`, :meth:`transform`, :meth:`score`, :meth:`sample` and
    :meth:`latent_map` use the fitted configuration, so ``set_params`` after ``fit`` changes nothing
    until the next ``fit`` (or ``partial_fit``).

    Examples
    --------
    >>> from sklearn_lrnn.plrnn import PLRNNRegressor
    >>> from sklearn_lrnn.datasets._systems import make_lorenz63
    >>> X = make_lorenz63(2000, noise=0.05, random_state=0)
    >>> model = PLRNNRegressor(n_hidden=20, sequence_length=50, batches_per_epoch=5, max_iter=2,
    ...                        random_state=0).fit(X)
    >>> X_gen, Z_gen = model.sample(100, x0=X[0])
    >>> X_gen.shape, model.predict(X, n_steps=5).shape
    ((100, 3), (2000, 3))
    """

    def __init__(
        self,
        *,
        architecture="clipped_shallow",
        n_latents=None,
        n_hidden=100,
        readout="auto",
        training="gtf",
        tf_interval=16,
        gtf_alpha="adaptive",
        gtf_alpha_decay=0.999,
        gtf_update_interval=5,
        mar_fraction=0.5,
        mar_weight=0.0,
        init="positive_definite",
        l2_weight=1e-5,
        sequence_length=200,
        batch_size=16,
        batches_per_epoch=50,
        max_iter=1000,
        learning_rate=1e-3,
        learning_rate_schedule="plateau",
        final_learning_rate=None,
        n_iter_no_change=20,
        tol=1e-4,
        grad_clip=10.0,
        n_init=1,
        n_jobs=None,
        warm_start=False,
        latent_noise=0.0,
        device="auto",
        random_state=None,
        verbose=0,
        compute_fixed_points=True,
        max_cycle_order=2,
        compute_lyapunov=False,
        dynamics_budget=5.0,
    ):
        self.architecture = architecture
        self.n_latents = n_latents
        self.n_hidden = n_hidden
        self.readout = readout
        self.training = training
        self.tf_interval = tf_interval
        self.gtf_alpha = gtf_alpha
        self.gtf_alpha_decay = gtf_alpha_decay
        self.gtf_update_interval = gtf_update_interval
        self.mar_fraction = mar_fraction
        self.mar_weight = mar_weight
        self.init = init
        self.l2_weight = l2_weight
        self.sequence_length = sequence_length
        self.batch_size = batch_size
        self.batches_per_epoch = batches_per_epoch
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.final_learning_rate = final_learning_rate
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.grad_clip = grad_clip
        self.n_init = n_init
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.latent_noise = latent_noise
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.compute_fixed_points = compute_fixed_points
        self.max_cycle_order = max_cycle_order
        self.compute_lyapunov = compute_lyapunov
        self.dynamics_budget = dynamics_budget

    # ------------------------------------------------------------------ validation
    loss_label = "training loss (MSE + penalties)"
    _parameter_constraints = {
        **RecurrentEstimator._parameter_constraints,
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "n_latents": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_hidden": [Interval(numbers.Integral, 1, None, closed="left")],
        "readout": [StrOptions({"auto", "identity", "affine"})],
        "training": [StrOptions(set(TEACHER_FORCING))],
        "tf_interval": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "gtf_alpha": [Interval(numbers.Real, 0, 1, closed="both"), StrOptions({"adaptive"})],
        "gtf_alpha_decay": [Interval(numbers.Real, 0, 1, closed="both")],
        "gtf_update_interval": [Interval(numbers.Integral, 1, None, closed="left")],
        "mar_fraction": [Interval(numbers.Real, 0, 1, closed="both")],
        "mar_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "init": [StrOptions(set(INITS))],
        "l2_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "sequence_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "batches_per_epoch": [Interval(numbers.Integral, 1, None, closed="left")],
        "latent_noise": [Interval(numbers.Real, 0, None, closed="left")],
        "max_cycle_order": [Interval(numbers.Integral, 1, None, closed="left")],
        "compute_lyapunov": ["boolean"],
    }
    _relative_tol = True  # the loss is a mean squared error: improvements count relative to it

    def _check_param_combinations(self):
        for name in ("gtf_alpha", "tf_interval"):
            if isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a number or a string option, not a bool; got "
                                 f"{getattr(self, name)!r}.")
        if self.final_learning_rate is not None and self.final_learning_rate > self.learning_rate:
            raise ValueError(f"final_learning_rate={self.final_learning_rate} must not exceed "
                             f"learning_rate={self.learning_rate}.")

    # ------------------------------------------------------------------ fit lifecycle hooks
    def fit(self, X, y=None, *, u=None):
        """Fit the PLRNN.

        Training runs until the monitored loss stops improving (see ``learning_rate_schedule``), at
        most ``max_iter`` epochs, from ``n_init`` initialisations; the best restart is kept.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), (n_trials, n_timesteps, n_features) or list
            Observations to reconstruct (``y=None``) or input sequences (supervised).
        y : array-like or None
            None: dynamical-systems reconstruction of ``X``. Otherwise targets: sequences shaped like
            ``X`` (per-step, also ``(n_timesteps,)`` / ``(n_timesteps, n_outputs)`` for 2-D ``X``), or
            ``(n_trials,)`` / ``(n_trials, n_outputs)`` for one target per trial.
        u : array-like or None
            Exogenous inputs for reconstruction, same container as ``X`` with ``n_inputs`` columns.

        Returns
        -------
        self : PLRNNRegressor

        Raises
        ------
        sklearn_lrnn.exceptions.TrainingDiverged
            When no restart produced a model with a finite loss that generates finite data.
        """
        return super().fit(X, y, u=u)

    def partial_fit(self, X, y=None, *, u=None):
        """Continue training for one epoch at ``learning_rate`` (initialising on the first call)."""
        return super().partial_fit(X, y, u=u)

    def _prepare_fit(self, X, y, u, *, reuse):
        check_inputs_routed(self, u)
        check_dense_real(X, "X")
        if reuse:
            check_fitted_feature_names(self, X)
        seqs = check_sequences(X, min_length=1, estimator_name=type(self).__name__,
                               n_features=self.n_features_in_ if reuse else None)
        data = resolve_configuration(self, seqs, y, u, feature_names=input_feature_names(X))
        config, mode = data.config, data.mode
        if reuse and (config != self._config or mode != self.mode_):
            raise ValueError("warm_start / partial_fit need data of the same kind and parameters that keep the "
                             f"model's shape; the fitted model is {self._config} ({self.mode_}), the new fit "
                             f"would be {config} ({mode}).")
        return data

    def _build_problem(self, data, generator, device, *, reuse):
        module = PLRNN(**data.config, generator=generator).to(device)
        if reuse:
            module.load_state_dict({k: torch.as_tensor(v) for k, v in self._state.items()})
        gen = torch_generator(int(torch.randint(2**31 - 1, (1,), generator=generator)), device)
        # a fixed set of batches for the stopping rule: a stationary, deterministic monitored loss
        monitor_gen = torch_generator(int(torch.randint(2**31 - 1, (1,), generator=generator)), device)
        objective = OBJECTIVES[data.mode](module, data.training_data(), data.settings, gen, monitor_gen, device)
        return FitProblem(module, objective.loss_fn, objective.sample_batch, self.batches_per_epoch,
                          monitor_fn=objective.monitor_fn, selection_fn=objective.monitor_fn,
                          after_step=objective.after_step, extras=objective.extras)

    def _generation_problem(self, module, data):
        if data.mode != "reconstruction":
            return None
        seqs = data.seq
        horizon = int(min(self.sequence_length, seqs.lengths.min() - 1))
        x0 = torch.as_tensor(seqs.trials[0][:1], dtype=torch.float32, device=next(module.parameters()).device)
        if data.config["n_inputs"]:  # free generation needs inputs; the data's own are the natural ones
            s = torch.as_tensor(data.useq.trials[0][1:], dtype=torch.float32, device=x0.device)[:, None]
            base = module.base(s)
        else:
            base = module.base(None, shape=(max(horizon, 1000), 1))
        Y, _ = rollout_states(module, module.infer_state(x0), base.contiguous())
        X = module.observe(Y).transpose(0, 1).cpu().double().numpy()
        scale = float(max(np.abs(np.concatenate(seqs.trials, 0)).max(), 1e-12))
        # the free run is noise-free: coming to rest while the data keep moving is a failed reconstruction
        return check_generated(X, horizon, scale, data_fluctuation=late_fluctuation(seqs.trials, horizon))

    def _export_fit(self, restart, data, *, reuse):
        config, mode, seqs = data.config, data.mode, data.seq
        state = restart.state
        self._config = config
        self._state = state
        self._module_cache = None
        self.mode_ = mode
        self._y1d = data.y1d
        self.n_features_in_ = seqs.n_features
        if not reuse:
            set_feature_names(self, data.feature_names)
        self.n_outputs_ = config["n_obs"]
        self.n_inputs_ = config["n_inputs"]
        self.tf_interval_ = data.tau
        prev = list(self.alpha_history_) if reuse and hasattr(self, "alpha_history_") else []
        self.alpha_history_ = np.asarray(prev + list(restart.extras["alpha_history"]), dtype=float)
        self.n_parameters_ = count_trained_parameters(state, config, OBJECTIVES[mode].untrained)
        self.device_ = str(self._device())
        self._set_fitted_configuration(config, mode)
        self._set_parameter_attributes(state, config)
        module = self._module()
        with torch.no_grad():
            if mode == "reconstruction":
                dev = next(module.parameters()).device
                x0 = torch.as_tensor(seqs.trials[0][:1], dtype=torch.float32, device=dev)
                self.initial_state_ = module.infer_state(x0)[0].cpu().numpy().astype(np.float64)
            else:
                self.initial_state_ = state["z0"].astype(np.float64)

    def _set_fitted_configuration(self, config, mode, params=None):
        """What predict / transform / score / sample / latent_map use, frozen at fit time (``params``: the
        hyper-parameters to read instead of the current ones, for states saved before these attributes)."""
        params = self.get_params(deep=False) if params is None else params
        self.architecture_ = config["architecture"]
        self.n_latents_ = int(config["n_latents"])
        self.readout_ = config["readout"]
        self.training_ = params["training"] if mode == "reconstruction" else None
        self.latent_noise_ = float(params["latent_noise"])

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_state" in self.__dict__ and "architecture_" not in self.__dict__:
            # saved before the fitted configuration existed: the hyper-parameters stored with it are those of its fit
            # (or of a later set_params, which then changed the model as the code of that version did)
            self._set_fitted_configuration(self._config, self.mode_, params=self.__dict__)
            # n_parameters_ counted the whole state dict then
            self.n_parameters_ = count_trained_parameters(self._state, self._config, OBJECTIVES[self.mode_].untrained)
            self.__dict__.setdefault("device_", str(self._device()))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.regressor_tags.poor_score = True
        tags.target_tags.multi_output = True
        # it has transform() (latent trajectories), so scikit-learn's transformer checks apply too
        tags.transformer_tags = TransformerTags(preserves_dtype=[])
        return tags

