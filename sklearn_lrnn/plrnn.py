"""``PLRNNRegressor``: piecewise-linear RNNs for dynamical-systems reconstruction and sequence regression.

Thin scikit-learn layer over :mod:`sklearn_lrnn._engine.plrnn` (maps, fused teacher-forced rollout)
and :func:`sklearn_lrnn._engine.training.fit_module` (RAdam, learning-rate decay, NaN roll-back).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import TransformerTags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import resolve_device, torch_generator
from ._lifecycle import FitProblem, RecurrentEstimator, check_generated as _check_generated, late_fluctuation
from ._engine.plrnn import (
    ARCHITECTURES,
    INITS,
    PLRNN,
    AdaptiveAlpha,
    gtf_alpha_star,
    rollout,
    rollout_states,
)
from ._validation import (
    ROUTING_HINT, LatentOutputMixin, check_aligned, check_array_like, check_fitted_feature_names,
    check_inputs_routed, check_matching_inputs, check_numeric, check_positive_int, check_sequences,
    check_trial_weights, input_feature_names, restore, set_feature_names,
)

__all__ = ["PLRNNRegressor", "estimate_tf_interval"]

# GTF forcing under which the stopping rule measures forecasts when the training alpha adapts
_MONITOR_ALPHA = 0.1




def _autocorr_time(trials, max_lag):
    """First lag at which the channel-averaged autocorrelation falls below 1/e."""
    acs = []
    for x in trials:
        x = x - x.mean(axis=0)
        var = (x * x).mean(axis=0) + 1e-12
        acs.append([np.mean((x[lag:] * x[:-lag]).mean(axis=0) / var) for lag in range(1, max_lag + 1)])
    ac = np.mean(acs, axis=0)
    below = np.nonzero(ac < np.exp(-1))[0]
    return int(below[0] + 1) if below.size else max_lag


def _mutual_information_min(trials, max_lag, n_bins=16):
    """First local minimum of the time-delayed mutual information (Fraser & Swinney 1986), or None.

    Channels are rank-transformed (equiprobable bins: less binning noise), and the MI curve is
    smoothed over 3 lags before looking for the minimum."""
    ranked = []
    for x in trials:
        r = np.argsort(np.argsort(x, axis=0), axis=0)
        ranked.append(np.minimum((r * n_bins) // len(x), n_bins - 1))
    mis = []
    for lag in range(1, max_lag + 1):
        vals = []
        for r in ranked:
            if len(r) <= lag + 1:
                continue
            for c in range(r.shape[1]):
                pxy = np.bincount(r[:-lag, c] * n_bins + r[lag:, c], minlength=n_bins * n_bins).astype(float)
                pxy = pxy.reshape(n_bins, n_bins) / pxy.sum()
                px, py = pxy.sum(1, keepdims=True), pxy.sum(0, keepdims=True)
                nz = pxy > 0
                vals.append(float((pxy[nz] * np.log(pxy[nz] / (px @ py)[nz])).sum()))
        mis.append(np.mean(vals) if vals else np.nan)
    mis = np.convolve(np.asarray(mis), np.ones(3) / 3, mode="same")
    for i in range(2, len(mis) - 2):
        if mis[i] < mis[i - 1] and mis[i] <= mis[i + 1]:
            return i + 1
    return None


def estimate_tf_interval(X, *, max_interval=200):
    """Estimate a sparse-teacher-forcing interval from the data.

    The first local minimum of the time-delayed mutual information (the lag after which a sample
    carries the least redundant information about its successor); when there is none within
    ``max_interval`` lags, the lag at which the autocorrelation drops below 1/e.

    Parameters
    ----------
    X : array-like
        Data in any accepted layout (2-D recording, 3-D trials, list of trials).
    max_interval : int, default=200
        Largest interval considered (capped by the shortest trial).

    Returns
    -------
    tau : int
        The interval, at least 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lrnn.plrnn import estimate_tf_interval
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(3000)[:, None]
    >>> X = np.sin(2 * np.pi * t / 100) + 0.1 * rng.standard_normal((3000, 1))
    >>> 15 <= estimate_tf_interval(X) <= 35  # about a quarter period
    True
    """
    max_interval = check_positive_int(max_interval, "max_interval")
    trials = check_sequences(X, min_length=3, length_hint="to estimate an interval; pass longer sequences.").trials
    max_lag = int(max(1, min(max_interval, min(len(t) for t in trials) - 2)))
    # the estimate only needs the first ~10^4 samples of each trial
    trials = [t[:20_000] for t in trials[:50]]
    tau = _mutual_information_min(trials, max_lag)
    if tau is None:
        tau = _autocorr_time(trials, max_lag)
    return max(1, int(tau))


class PLRNNRegressor(LatentOutputMixin, RegressorMixin, RecurrentEstimator):
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
        Trained parameters of the model (latent map, readout and, for supervised fits, the initial state).
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
    _parameter_constraints = {
        **RecurrentEstimator._parameter_constraints,
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "n_latents": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_hidden": [Interval(numbers.Integral, 1, None, closed="left")],
        "readout": [StrOptions({"auto", "identity", "affine"})],
        "training": [StrOptions({"gtf", "sparse_tf"})],
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

    @staticmethod
    def _reject_complex(X, name, is_X=True):
        """Early, specific errors for inputs the generic validation would misreport."""
        if X is None:
            return
        check_array_like(X, name)
        if isinstance(X, (list, tuple)):
            return
        if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
            raise TypeError(f"sparse input is not supported: {name} must be dense; use {name}.toarray().")
        arr = X if isinstance(X, np.ndarray) else np.asarray(X)
        if np.iscomplexobj(arr):
            raise ValueError(f"Complex data not supported: {name} must be real-valued.")
        if arr.dtype == object:
            arr.astype(np.float64)  # raises TypeError naming the offending element
        if not is_X:
            return
        if arr.ndim == 1:
            raise ValueError(
                f"Expected a 2-D or 3-D array for {name}, got a 1-D array of shape {arr.shape}. Reshape your "
                f"data using {name}.reshape(-1, 1) for one channel, or {name}.reshape(1, -1) for one time step."
            )
        if arr.ndim >= 2 and arr.shape[-1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required: "
                f"{name} needs at least one channel."
            )

    def _check_y(self, y, seqs):
        """Classify the targets: 'seq2seq' (list of per-step targets) or 'seq2one' (array per trial)."""
        self._reject_complex(y, "y", is_X=False)
        n_trials = len(seqs)
        if seqs.layout == "2d":
            arr = check_numeric(y, "y", allow_nan=True)
            y1d = arr.ndim == 1
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim != 2 or arr.shape[0] != seqs.trials[0].shape[0]:
                raise ValueError(
                    f"y must have one target row per time step of the 2-D X ({seqs.trials[0].shape[0]}); "
                    f"got shape {np.shape(y)}. For one target per sequence pass X as 3-D (n_trials, T, n_inputs)."
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError("y contains NaN or infinite values; remove or impute them before fitting.")
            return "seq2seq", [arr], y1d
        if isinstance(y, (list, tuple)) and len(y) and np.ndim(y[0]) == 2:
            yseq = check_sequences(y, name="y")
            return "seq2seq", _match_trials(yseq, seqs), False
        arr = check_numeric(y, "y", allow_nan=True)
        if arr.ndim == 3:
            yseq = check_sequences(arr, name="y")
            return "seq2seq", _match_trials(yseq, seqs), False
        if arr.ndim in (1, 2):
            if arr.shape[0] != n_trials:
                raise ValueError(
                    f"y has {arr.shape[0]} rows but X has {n_trials} trials; pass one target (vector) per "
                    "trial for sequence-to-one regression, or target sequences shaped like X."
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError("y contains NaN or infinite values; remove or impute them before fitting.")
            y1d = arr.ndim == 1
            return "seq2one", arr.reshape(n_trials, -1), y1d
        raise ValueError(f"y must be 1-D, 2-D or 3-D (or a list of trials); got shape {arr.shape}.")

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
        self._reject_complex(X, "X")
        if reuse:
            check_fitted_feature_names(self, X)
        seqs = check_sequences(X, min_length=1, estimator_name=type(self).__name__,
                               n_features=self.n_features_in_ if reuse else None)
        supervised = y is not None
        tau, useq = None, None
        if supervised:
            if u is not None:
                raise ValueError("u is only used for reconstruction (y=None); in supervised fits X are the inputs.")
            mode, targets, y1d = self._check_y(y, seqs)
            n_obs, n_inputs = targets[0].shape[-1] if mode == "seq2seq" else targets.shape[1], seqs.n_features
            M = self.n_latents or 16
            readout = "affine" if self.readout == "auto" else self.readout
        else:
            mode, y1d, targets = "reconstruction", False, None
            if self.training == "sparse_tf":
                tau = (estimate_tf_interval(seqs.trials, max_interval=self.sequence_length)
                       if self.tf_interval == "auto" else int(self.tf_interval))
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
                self._reject_complex(u, "u")
                useq = check_matching_inputs(u, seqs)
            n_inputs = 0 if useq is None else useq.n_features
            M = self.n_latents or n_obs
            readout = "identity" if self.readout == "auto" else self.readout
        if readout == "identity" and M < n_obs:
            raise ValueError(
                f"identity readout needs n_latents >= the number of {'targets' if supervised else 'features'} "
                f"({n_obs}); got n_latents={M}. Raise n_latents or use readout='affine'."
            )
        n_mar = int(round(self.mar_fraction * M)) if self.mar_weight > 0 else 0
        config = dict(n_latents=M, n_obs=n_obs, architecture=self.architecture, n_hidden=self.n_hidden,
                      n_inputs=n_inputs, readout=readout, n_mar=n_mar, init=self.init)
        if reuse and (config != self._config or mode != self.mode_):
            raise ValueError("warm_start / partial_fit need data of the same kind and parameters that keep the "
                             f"model's shape; the fitted model is {self._config} ({self.mode_}), the new fit "
                             f"would be {config} ({mode}).")
        return dict(seqs=seqs, useq=useq, mode=mode, targets=targets, y1d=y1d, tau=tau, config=config,
                    feature_names=input_feature_names(X))

    def _build_problem(self, data, generator, device, *, reuse):
        seqs, useq, mode, targets, tau = (data[k] for k in ("seqs", "useq", "mode", "targets", "tau"))
        config = data["config"]
        M, n_obs, n_inputs = config["n_latents"], config["n_obs"], config["n_inputs"]
        module = PLRNN(**config, generator=generator).to(device)
        if reuse:
            module.load_state_dict({k: torch.as_tensor(v) for k, v in self._state.items()})
        gen = torch_generator(int(torch.randint(2**31 - 1, (1,), generator=generator)), device)
        # a fixed set of batches for the stopping rule: a stationary, deterministic monitored loss
        monitor_gen = torch_generator(int(torch.randint(2**31 - 1, (1,), generator=generator)), device)
        dt = torch.float32
        alpha, fixed_alpha, after_step = None, None, None
        if mode == "reconstruction":
            feats = seqs.trials if useq is None else [np.hstack([x, s]) for x, s in zip(seqs.trials, useq.trials)]
            L = int(min(self.sequence_length, seqs.lengths.min() - 1))
            sample_batch = _window_sampler(feats, L + 1, self.batch_size, gen, device, dt)
            monitor_batch = _window_sampler(feats, L + 1, 4 * self.batch_size, monitor_gen, device, dt)()
            if self.training == "gtf":
                alpha = AdaptiveAlpha(1.0, self.gtf_alpha_decay, self.gtf_update_interval) \
                    if self.gtf_alpha == "adaptive" else None
                fixed_alpha = None if alpha is not None else float(self.gtf_alpha)
                forced = (True,) * L
            else:
                forced = tuple((t + 1) % tau == 0 for t in range(L))
            cache = {}

            def forecast_loss(batch, a):
                x = batch[..., :n_obs]
                s = batch[1:, :, n_obs:] if n_inputs else None
                keep, P = module.forcing(x[1:], a)
                Y = rollout(module, module.infer_state(x[0]), module.base(s, shape=(L, x.shape[1])), P, keep, forced)
                cache["Y"] = Y
                return (module.observe(Y) - x[1:]).square().mean()

            def current_alpha():
                return 1.0 if self.training == "sparse_tf" else (alpha.alpha if alpha is not None else fixed_alpha)

            def loss_fn(batch):
                return forecast_loss(batch, current_alpha()) + module.regularization(self.l2_weight, self.mar_weight)

            # the adaptive alpha changes the training loss over time, so the stopping rule watches the
            # forecast error under a fixed, weak forcing instead
            ref_alpha = (_MONITOR_ALPHA if alpha is not None else fixed_alpha) if self.training == "gtf" else 1.0

            def monitor_fn():
                with torch.no_grad():
                    return float(forecast_loss(monitor_batch, ref_alpha))

            def update_alpha(step):
                if step % alpha.interval == 0:
                    alpha.update(gtf_alpha_star(module, cache["Y"].detach()))

            after_step = update_alpha if alpha is not None else None
        elif mode == "seq2seq":
            feats = [np.hstack([s, t]) for s, t in zip(seqs.trials, targets)]
            L = int(min(self.sequence_length, seqs.lengths.min()))
            sample_batch = _window_sampler(feats, L, self.batch_size, gen, device, dt)
            monitor_batch = _window_sampler(feats, L, 4 * self.batch_size, monitor_gen, device, dt)()

            def fit_error(batch):
                s, yt = batch[..., :n_inputs], batch[..., n_inputs:]
                Y = rollout(module, module.z0.expand(s.shape[1], M), module.base(s))
                return (module.observe(Y) - yt).square().mean()
        else:  # seq2one: whole trials, read out after each trial's last step
            padded, _ = seqs.padded(np.float32)
            S_all = torch.as_tensor(padded, device=device)
            Y_all = torch.as_tensor(targets, dtype=dt, device=device)
            last_all = torch.as_tensor(seqs.lengths - 1, device=device)
            n_tr = len(seqs)

            def draw(g, n):
                idx = torch.randint(n_tr, (n,), generator=g, device=device)
                return S_all[idx].transpose(0, 1), Y_all[idx], last_all[idx]

            def sample_batch():
                return draw(gen, self.batch_size)

            monitor_batch = draw(monitor_gen, 4 * self.batch_size)

            def fit_error(batch):
                s, yt, last = batch
                Bn = s.shape[1]
                Y = rollout(module, module.z0.expand(Bn, M), module.base(s))
                zT = Y[last, torch.arange(Bn, device=device)]
                return (module.observe(zT) - yt).square().mean()

        if mode != "reconstruction":  # supervised: the regression error, monitored on fixed batches
            def loss_fn(batch):
                return fit_error(batch) + module.regularization(self.l2_weight, self.mar_weight)

            def monitor_fn():
                with torch.no_grad():
                    return float(fit_error(monitor_batch))

        def extras():
            hist = alpha.history if alpha is not None else (
                [fixed_alpha] if mode == "reconstruction" and self.training == "gtf" else [])
            return {"alpha_history": np.asarray(hist, dtype=float)}

        return FitProblem(module, loss_fn, sample_batch, self.batches_per_epoch, monitor_fn=monitor_fn,
                          selection_fn=monitor_fn, after_step=after_step, extras=extras)

    def _generation_problem(self, module, data):
        if data["mode"] != "reconstruction":
            return None
        seqs = data["seqs"]
        horizon = int(min(self.sequence_length, seqs.lengths.min() - 1))
        x0 = torch.as_tensor(seqs.trials[0][:1], dtype=torch.float32, device=next(module.parameters()).device)
        if data["config"]["n_inputs"]:  # free generation needs inputs; the data's own are the natural ones
            s = torch.as_tensor(data["useq"].trials[0][1:], dtype=torch.float32, device=x0.device)[:, None]
            base = module.base(s)
        else:
            base = module.base(None, shape=(max(horizon, 1000), 1))
        Y, _ = rollout_states(module, module.infer_state(x0), base.contiguous())
        X = module.observe(Y).transpose(0, 1).cpu().double().numpy()
        scale = float(max(np.abs(np.concatenate(seqs.trials, 0)).max(), 1e-12))
        # the free run is noise-free: coming to rest while the data keep moving is a failed reconstruction
        return _check_generated(X, horizon, scale, data_fluctuation=late_fluctuation(seqs.trials, horizon))

    def _export_fit(self, restart, data, *, reuse):
        config, mode, seqs = data["config"], data["mode"], data["seqs"]
        state = restart.state
        self._config = config
        self._state = state
        self._module_cache = None
        self.mode_ = mode
        self._y1d = data["y1d"]
        self.n_features_in_ = seqs.n_features
        if not reuse:
            set_feature_names(self, data["feature_names"])
        self.n_outputs_ = config["n_obs"]
        self.n_inputs_ = config["n_inputs"]
        self.tf_interval_ = data["tau"]
        prev = list(self.alpha_history_) if reuse and hasattr(self, "alpha_history_") else []
        self.alpha_history_ = np.asarray(prev + list(restart.extras["alpha_history"]), dtype=float)
        self.n_parameters_ = int(sum(np.asarray(v).size for v in state.values()))
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
            self.__dict__.setdefault("device_", str(self._device()))

    def _set_parameter_attributes(self, state, config):
        f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        M, N = config["n_latents"], config["n_obs"]
        self.A_ = f64(state["A"])
        if config["architecture"] in ("vanilla", "linear"):
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

    def _dynamics_map(self):
        from .dynamics import plrnn_map, shallow_plrnn_map
        from .dynamics._maps import linear_plrnn_map

        if self.architecture_ == "linear":
            return linear_plrnn_map(self.A_, self.W_, self.h_)
        if self.architecture_ == "vanilla":
            return plrnn_map(self.A_, self.W_, self.h_)
        return shallow_plrnn_map(self.A_, self.W1_, self.W2_, self.h1_, self.h2_,
                                 clipped=self.architecture_ == "clipped_shallow")

    def _find_cycles(self, pmap, method):
        from .dynamics import find_cycles

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
            from .dynamics import max_lyapunov_exponent

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
            module = PLRNN(**self._config, generator=torch.Generator().manual_seed(0))
            module.load_state_dict({k: torch.as_tensor(v) for k, v in self._state.items()})
            module = module.to(dev).eval()
            for p in module.parameters():
                p.requires_grad_(False)
            self._module_cache = (dev, module)
        return self._module_cache[1]

    def _validate_X(self, X, u=None):
        check_is_fitted(self, "_state")
        self._reject_complex(X, "X")
        check_fitted_feature_names(self, X)
        seqs = check_sequences(X, n_features=self.n_features_in_, estimator_name=type(self).__name__)
        useq = None
        if self.mode_ == "reconstruction" and self.n_inputs_:
            if u is None:
                raise ValueError("this model was fitted with inputs u; pass u (same container as X). " + ROUTING_HINT)
            useq = check_matching_inputs(u, seqs, n_inputs=self.n_inputs_)
        elif u is not None:
            raise ValueError("this model was fitted without inputs u (supervised models take their inputs "
                             "as X); do not pass u.")
        return seqs, useq

    def _tensor(self, arrs, module):
        dev = next(module.parameters()).device
        lengths = [len(a) for a in arrs]
        out = np.zeros((len(arrs), max(lengths), arrs[0].shape[1]), dtype=np.float32)
        for i, a in enumerate(arrs):
            out[i, : len(a)] = a
        return torch.as_tensor(out, device=dev).transpose(0, 1).contiguous(), lengths

    def _inferred_states(self, module, x, s):
        """Data-inferred states S_t (observed latents replaced by x_t) for time-major x (T, B, N)."""
        T = x.shape[0]
        S0 = module.infer_state(x[0])
        if T == 1:
            return S0[None]
        keep, P = module.forcing(x[1:], 1.0)
        base = module.base(s[1:] if s is not None else None, shape=(T - 1, x.shape[1]))
        Y, Zin = rollout_states(module, S0, base, P, keep, (True,) * (T - 1))
        return torch.cat([Zin, (keep * Y[-1] + P[-1])[None]], 0)

    def _supervised_latents(self, module, s):
        Bn = s.shape[1]
        Y, _ = rollout_states(module, module.z0.expand(Bn, -1), module.base(s))
        return Y

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
        seqs, useq = self._validate_X(X, u)
        module = self._module()
        with torch.no_grad():
            if self.mode_ == "reconstruction":
                x, lengths = self._tensor(seqs.trials, module)
                s = self._tensor(useq.trials, module)[0] if useq is not None else None
                Z = self._inferred_states(module, x, s)
            else:
                s, lengths = self._tensor(seqs.trials, module)
                Z = self._supervised_latents(module, s)
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
        seqs, useq = self._validate_X(X, u)
        module = self._module()
        with torch.no_grad():
            if self.mode_ == "reconstruction":
                x, lengths = self._tensor(seqs.trials, module)
                s = self._tensor(useq.trials, module)[0] if useq is not None else None
                out = self._forecast(module, x, s, int(n_steps))
            else:
                s, lengths = self._tensor(seqs.trials, module)
                Y = module.observe(self._supervised_latents(module, s))
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

    def _forecast(self, module, x, s, n):
        T, Bn, _ = x.shape
        cur = self._inferred_states(module, x, s)  # (T, B, M)
        base_all = module.base(s) if s is not None else module.base(None, shape=(T, Bn))
        for k in range(1, n + 1):
            # the k-th step from the state at t uses the input at t + k (the last one past the end)
            idx = torch.clamp(torch.arange(T, device=x.device) + k, max=T - 1)
            cur = module.step(cur, base_all[idx])
        return module.observe(cur)

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
            sample_weight = _row_weights(sample_weight, [len(t) - 1 for t in seqs.trials])
            return float(r2_score(true, pred_f, sample_weight=sample_weight))
        if y is None:
            raise ValueError("score needs targets y for a supervised model.")
        if self.mode_ == "seq2one" or self._y1d or check_sequences(X).layout == "2d":
            true = check_numeric(y, "y")
            sample_weight = _row_weights(sample_weight, [1] * len(true) if true.ndim else [1])
            return float(r2_score(true, pred, sample_weight=sample_weight))
        ys = check_sequences(y, name="y").trials
        ps = check_sequences(pred).trials
        true, pred_f = np.concatenate(ys), np.concatenate(ps)
        sample_weight = _row_weights(sample_weight, [len(t) for t in ys])
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
                raise ValueError("this model was fitted without inputs; do not pass u.")
            else:
                base = module.base(None, shape=(n_timesteps - 1, Bn)).clone()
            Z = z0[None]
            if n_timesteps > 1:
                base = base.contiguous().clone()
                if self.latent_noise_ > 0:
                    base += self.latent_noise_ * torch.randn(base.shape, generator=g, device=dev)
                Y, _ = rollout_states(module, z0, base)
                Z = torch.cat([Z, Y], 0)
            Xg = module.observe(Z).transpose(0, 1).cpu().numpy().astype(np.float64)
            Zg = Z.transpose(0, 1).cpu().numpy().astype(np.float64)
        if single:
            return Xg[0], Zg[0]
        return Xg, Zg

    def _n_latent_features_out(self):
        return self._config["n_latents"]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.regressor_tags.poor_score = True
        tags.target_tags.multi_output = True
        # it has transform() (latent trajectories), so scikit-learn's transformer checks apply too
        tags.transformer_tags = TransformerTags(preserves_dtype=[])
        return tags


def _row_weights(sample_weight, rows_per_trial):
    """Weights of the flattened target rows from ``sample_weight`` given per row or per trial."""
    if sample_weight is None:
        return None
    n_rows, n_trials = int(sum(rows_per_trial)), len(rows_per_trial)
    w = check_numeric(sample_weight, "sample_weight")
    if w.ndim == 1 and len(w) == n_trials and n_trials != n_rows:
        w = np.repeat(check_trial_weights(w, n_trials), rows_per_trial)
    elif w.ndim != 1 or len(w) != n_rows:
        raise ValueError(f"sample_weight must have one value per trial ({n_trials}) or per row of the flattened "
                         f"targets ({n_rows}); got shape {w.shape}.")
    return check_trial_weights(w, n_rows, what="target row")


def _match_trials(yseq, seqs):
    return check_aligned(
        yseq, seqs, name="y", count_hint="pass one target sequence per input trial.",
        length_hint="target sequences must have one row per input time step (or pass one target per trial).",
    ).trials


def _window_sampler(trials, length, batch_size, gen, device, dtype):
    """Random windows of ``length`` steps (never crossing trial boundaries), time-major (length, B, F)."""
    lengths = np.array([len(t) for t in trials])
    data = np.zeros((len(trials), lengths.max(), trials[0].shape[1]), dtype=np.float32)
    for i, t in enumerate(trials):
        data[i, : len(t)] = t
    data = torch.as_tensor(data, dtype=dtype, device=device)
    n_starts = lengths - length + 1
    trial_of = torch.as_tensor(np.repeat(np.arange(len(trials)), n_starts), device=device)
    start_of = torch.as_tensor(np.concatenate([np.arange(n) for n in n_starts]), device=device)
    offsets = torch.arange(length, device=device)

    def sample():
        k = torch.randint(len(trial_of), (batch_size,), generator=gen, device=device)
        tr, st = trial_of[k], start_of[k]
        return data[tr[:, None], st[:, None] + offsets].transpose(0, 1).contiguous()

    return sample
