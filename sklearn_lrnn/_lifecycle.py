"""One fit lifecycle for every estimator of the package.

``fit`` is a template (as in scikit-learn's ``mixture/_base.py``):

    validate parameters -> validate data (hook) -> for each of ``n_init`` restarts, possibly in
    parallel: build the torch module, batches and loss (hook) -> optimise (shared loop) -> check the
    model generates sane data (hook) -> keep the best restart -> export NumPy attributes (hook) ->
    analyse the dynamics within a time budget -> warn if the stopping rule was not met.

Estimators implement the small hooks ``_prepare_fit``, ``_build_problem``, ``_generation_problem``,
``_export_fit``, ``_dynamics_map`` and ``_store_dynamics``; the schedule, restarts, divergence
handling, convergence warnings and the bounded dynamics analysis live here once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Callable

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import ProgressReporter, resolve_device, to_numpy_state, torch_generator
from ._engine.training import SCHEDULES, LearningRateSchedule, TrainingDiverged, fit_module
from ._io import CompatibleStateMixin
from ._validation import check_numeric, fitted_without_inputs

__all__ = ["FitProblem", "RecurrentEstimator", "COMMON_CONSTRAINTS"]

# Hyper-parameters every estimator of the package shares, in scikit-learn's declared-table style.
COMMON_CONSTRAINTS = {
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "learning_rate_schedule": [StrOptions(set(SCHEDULES))],
    "final_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "grad_clip": [Interval(Real, 0, None, closed="neither"), None],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "batches_per_epoch": [Interval(Integral, 1, None, closed="left"), None],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "n_jobs": [Integral, None],
    "dynamics_budget": [Interval(Real, 0, None, closed="left"), None],
    "compute_fixed_points": ["boolean"],
    "warm_start": ["boolean"],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

# Seconds per cell of the exact fixed-point search, measured on a 2-core CPU: about 0.7 us up to
# three dimensions, roughly doubling with each further dimension (benchmarks/bench_fixed_points.py).
_SECONDS_PER_CELL_3D = 1e-6


@dataclass
class FitProblem:
    """What one restart optimises: built by an estimator's ``_build_problem`` hook."""

    module: torch.nn.Module
    loss_fn: Callable[[Any], torch.Tensor]
    sample_batch: Callable[[], Any]
    n_batches: int
    validation_fn: Callable[[], float] | None = None
    monitor_fn: Callable[[], float] | None = None
    selection_fn: Callable[[], float] | None = None  # restart comparison (lower is better)
    after_step: Callable[[int], None] | None = None
    optimizer_state: Any = None
    extras: Callable[[], dict] | None = None  # picklable per-restart results (e.g. GTF alpha history)
    relative_tol: bool = False


@dataclass
class _Restart:
    seed: int
    state: dict | None = None
    result: Any = None
    selection: float = np.inf
    extras: dict = field(default_factory=dict)
    error: Exception | None = None
    seconds: float = 0.0


@contextlib.contextmanager
def _intra_op_threads(n):
    """torch's intra-op thread count set to ``n`` inside the block (restored after); None changes nothing."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_restart(estimator, data, seed, n_epochs, reuse, partial, desc):
    """Module-level so that joblib (loky, dask) can ship it to workers."""
    return estimator._train_once(data, seed, n_epochs, reuse, partial, desc)


def _numpy_tree(obj):
    """Optimiser state with every tensor as a NumPy array (fitted state stays NumPy only)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy().copy()
    if isinstance(obj, dict):
        return {k: _numpy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_numpy_tree(v) for v in obj)
    return obj


def _torch_tree(obj):
    if isinstance(obj, np.ndarray):
        return torch.as_tensor(obj)
    if isinstance(obj, dict):
        return {k: _torch_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_torch_tree(v) for v in obj)
    return obj


def _outside_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the caller point at the first frame outside this
    package (the user's ``fit`` call), however deep the fit template and its restarts nest."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def check_generated(X, horizon, scale, data_fluctuation=None):
    """Why generated data (trials, time, features) disqualify a fit, or None.

    Non-finite values within the length of the training sequences mean the model cannot even generate
    data like those it was fitted to: not a fit. Blowing up only later, or growing far beyond the
    data, is a property of the (possibly under-trained) dynamics: warn and keep the fit. So is the
    opposite, a noise-free free run that comes to rest while the data keep fluctuating
    (``data_fluctuation``, from :func:`late_fluctuation`): the model then generates none of the data's
    dynamics, which scores and plots of the fit would otherwise only show to a careful reader.
    """
    if not np.all(np.isfinite(X[:, :horizon])):
        return f"the trained model generates non-finite data within {horizon} steps (the training length)"
    later = X[:, horizon:]
    peak = float(np.nanmax(np.abs(X))) if np.isfinite(X).any() else float("inf")
    if not np.all(np.isfinite(later)) or peak > 1e4 * scale:
        warnings.warn(f"the fitted model generates exploding data (max |x| = {peak:.3g} within {X.shape[1]} steps, "
                      f"data max {scale:.3g}): its dynamics are unstable; it may be under-trained.", RuntimeWarning,
                      stacklevel=_outside_stacklevel())
    elif data_fluctuation:
        window = min(max(int(horizon), 2), X.shape[1])
        generated = float(X[:, -window:].std(axis=1).mean())
        if generated < 1e-3 * data_fluctuation:
            warnings.warn(
                f"the fitted model's free run comes to rest: over its last {window} of {X.shape[1]} steps the generated "
                f"data vary by {generated:.2g} (standard deviation over time) against {data_fluctuation:.2g} at the end "
                "of the training trials. It settles on a fixed point and generates none of the data's fluctuations: "
                "it may be under-trained (more epochs, n_init) or too small for these dynamics, or the fluctuations "
                "are noise around a stable state, which a noise-free model cannot generate (StochasticLowRankRNN "
                "models such noise).",
                RuntimeWarning, stacklevel=_outside_stacklevel())
    return None


def late_fluctuation(trials, window):
    """How much the data still vary at the end of their trials, or None where they come to rest themselves.

    The mean over trials and features of the standard deviation over time of each trial's last ``window``
    steps; None unless it is at least 5% of the data's overall standard deviation (decaying transients,
    whose end is quiet, must not make a model that comes to rest look wrong).
    """
    tails = [np.asarray(t, dtype=float)[-max(int(window), 2):] for t in trials if len(t) >= 2]
    if not tails:
        return None
    late = float(np.mean([t.std(axis=0).mean() for t in tails]))
    overall = float(np.concatenate([np.asarray(t, dtype=float) for t in trials], 0).std(axis=0).mean())
    return late if overall > 0 and late >= 0.05 * overall else None


def estimate_search_seconds(pmap) -> float:
    """Rough cost of the exact fixed-point search of a piecewise-affine map (cells x time per cell)."""
    from .dynamics._arrangement import count_cells_bound

    n_cells = count_cells_bound(pmap.n_planes, pmap.dim)
    return float(n_cells) * _SECONDS_PER_CELL_3D * 2.0 ** max(0, pmap.dim - 3)


class RecurrentEstimator(CompatibleStateMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared base: the template ``fit`` / ``partial_fit`` and everything around the optimiser."""

    _parameter_constraints: dict = dict(COMMON_CONSTRAINTS)
    _relative_tol = False  # estimators with a positive loss (MSE) watch relative improvements
    loss_label = "training loss"  #: what ``loss_curve_`` holds, in words (plot labels use it)
    # torch intra-op threads during fit and partial_fit (restored after); None leaves the caller's setting
    _fit_torch_threads: int | None = None

    # ------------------------------------------------------------------ hooks (overridden)
    def _check_param_combinations(self):
        """Checks across parameters that a per-parameter table cannot express."""

    @abstractmethod
    def _prepare_fit(self, X, y, u, *, reuse):
        """Validate the data and resolve the configuration; returns the estimator's typed fit data."""

    @abstractmethod
    def _build_problem(self, data, generator, device, *, reuse) -> FitProblem:
        """The torch module, its loss and its batches (a :class:`FitProblem`) for one restart."""

    def _generation_problem(self, module, data) -> str | None:
        """Why the trained module cannot be returned as a fit (None if it can)."""
        return None

    @abstractmethod
    def _export_fit(self, restart: _Restart, data, *, reuse):
        """Store the chosen restart's state and the fitted attributes."""

    def _dynamics_map(self, u=None):
        """The fitted latent map for :mod:`sklearn_lrnn.dynamics` (None: no analysis), under the constant
        input ``u`` (a checked vector of length ``n_inputs_``) where it is given."""
        return None

    def _store_dynamics(self, fixed_points, cycles):
        """Store what the analysis found (estimator-specific attributes)."""

    # ------------------------------------------------------------------ the template
    def fit(self, X, y=None, *, u=None):
        self._validate_params()
        self._check_param_combinations()
        with _intra_op_threads(self._fit_torch_threads):
            reuse = bool(getattr(self, "warm_start", False)) and self._is_fitted()
            data = self._prepare_fit(X, y, u, reuse=reuse)
            self._run_fit(data, n_epochs=self.max_iter, reuse=reuse, partial=False)
        return self

    def partial_fit(self, X, y=None, *, u=None):
        """One more epoch on X (initialising on the first call) at the learning rate ``learning_rate``."""
        self._validate_params()
        self._check_param_combinations()
        with _intra_op_threads(self._fit_torch_threads):
            reuse = self._is_fitted()
            data = self._prepare_fit(X, y, u, reuse=reuse)
            self._run_fit(data, n_epochs=1, reuse=reuse, partial=True)
        return self

    def _is_fitted(self) -> bool:
        return hasattr(self, "_state")

    def _schedule(self, *, partial: bool) -> LearningRateSchedule:
        kind = "constant" if partial else self.learning_rate_schedule
        watch = kind != "exponential" or bool(getattr(self, "early_stopping", False))
        return LearningRateSchedule(
            kind, float(self.learning_rate), self.final_learning_rate, decay_epochs=self.max_iter,
            patience=int(self.n_iter_no_change) if watch and not partial else None, tol=float(self.tol),
            relative=self._relative_tol,
        )

    def _restart_seeds(self, n):
        gen = torch_generator(self.random_state)
        return [int(torch.randint(2**62, (1,), generator=gen)) for _ in range(n)]

    def _run_fit(self, data, *, n_epochs, reuse, partial):
        n_init = 1 if reuse else int(self.n_init)
        seeds = self._restart_seeds(n_init)
        name = type(self).__name__
        descs = [name if n_init == 1 else f"{name} {i + 1}/{n_init}" for i in range(n_init)]
        if n_init > 1 and self.n_jobs not in (None, 1):
            restarts = Parallel(n_jobs=self.n_jobs)(
                delayed(_run_restart)(self, data, s, n_epochs, reuse, partial, d) for s, d in zip(seeds, descs))
        else:
            restarts = [self._train_once(data, s, n_epochs, reuse, partial, d) for s, d in zip(seeds, descs)]
        ok = [r for r in restarts if r.error is None]
        if not ok:
            err = restarts[0].error
            what = "the fit" if n_init == 1 else f"all {n_init} restarts"
            raise TrainingDiverged(f"{what} failed: {err} Nothing was fitted; the estimator is unchanged.") from err
        best = min(ok, key=lambda r: r.selection)
        for r in restarts:
            if r.error is not None:
                warnings.warn(f"restart with seed {r.seed} failed and was skipped: {r.error}", RuntimeWarning,
                              stacklevel=_outside_stacklevel())
        prev = {k: np.asarray(getattr(self, k, []), dtype=float) if reuse else np.empty(0)
                for k in ("loss_curve_", "validation_loss_curve_", "learning_rate_curve_")}
        prev_iter = self.n_iter_ if reuse else 0
        self._export_fit(best, data, reuse=reuse)
        self._optimizer_state = _numpy_tree(best.result.optimizer_state)
        res = best.result
        # everything below only records the run; the hook above assigned the fitted parameters
        self.loss_curve_ = np.concatenate([prev["loss_curve_"], np.asarray(res.loss_curve, dtype=float)])
        self.validation_loss_curve_ = np.concatenate(
            [prev["validation_loss_curve_"], np.asarray(res.validation_curve, dtype=float)])
        self.learning_rate_curve_ = np.concatenate([prev["learning_rate_curve_"], np.asarray(res.lr_curve)])
        self.n_iter_ = prev_iter + res.n_iter
        self.converged_ = bool(res.converged or (self.learning_rate_schedule == "exponential"
                                                 and res.n_iter == n_epochs and not partial))
        self.best_epoch_ = prev_iter + res.best_epoch
        self.restart_losses_ = np.array([r.selection if r.error is None else np.nan for r in restarts])
        self.fit_seconds_ = float(sum(r.seconds for r in restarts))
        self._analyse_dynamics()
        if not self.converged_ and not partial:
            warnings.warn(
                f"{name} stopped at max_iter={self.max_iter} epochs before its loss stopped improving "
                f"(by tol={self.tol} over n_iter_no_change={self.n_iter_no_change} epochs at the final "
                "learning rate); the fitted dynamics may be under-trained. Raise max_iter, or continue with "
                "warm_start=True.", ConvergenceWarning, stacklevel=_outside_stacklevel())

    def _train_once(self, data, seed, n_epochs, reuse, partial, desc) -> _Restart:
        start = time.perf_counter()
        out = _Restart(seed=seed)
        device = resolve_device(self.device)
        gen = torch.Generator().manual_seed(seed)
        problem = self._build_problem(data, gen, device, reuse=reuse)
        if reuse and getattr(self, "_optimizer_state", None) is not None:
            problem.optimizer_state = _torch_tree(self._optimizer_state)
        progress = ProgressReporter(self.verbose, n_epochs, desc)
        try:
            with _intra_op_threads(self._fit_torch_threads):  # also in joblib workers, which skip fit()
                out.result = fit_module(
                    problem.module, problem.loss_fn, problem.sample_batch, n_epochs=n_epochs,
                    batches_per_epoch=problem.n_batches, schedule=self._schedule(partial=partial),
                    grad_clip=self.grad_clip, validation_fn=problem.validation_fn, monitor_fn=problem.monitor_fn,
                    after_step=problem.after_step, on_epoch=progress, optimizer_state=problem.optimizer_state,
                )
        except TrainingDiverged as exc:
            out.error = exc
            return out
        finally:
            progress.close()
        out.seconds = time.perf_counter() - start
        if out.result.best_epoch < 0:
            out.error = TrainingDiverged("no epoch had a finite loss.")
            return out
        problem.module.eval()
        with torch.no_grad():
            why = self._generation_problem(problem.module, data)
        if why is not None:
            out.error = TrainingDiverged(f"{why}; lower learning_rate or set grad_clip.")
            return out
        if problem.selection_fn is not None and int(self.n_init) > 1:
            with torch.no_grad():
                out.selection = float(problem.selection_fn())
        else:
            out.selection = float(out.result.best_loss)
        out.state = to_numpy_state(problem.module)
        out.extras = problem.extras() if problem.extras is not None else {}
        return out

    # ------------------------------------------------------------------ dynamics analysis
    def latent_map(self, u=None):
        """The fitted noise-free latent map, for :mod:`sklearn_lrnn.dynamics`.

        Parameters
        ----------
        u : array-like of shape (n_inputs,) or None, default=None
            A constant input (models fitted with inputs): the map is then ``z' = F(z, u)``, whose fixed
            points are those the network settles to under that input. None: the map without input.

        Returns
        -------
        map : sklearn_lrnn.dynamics.PiecewiseAffineMap or sklearn_lrnn.dynamics.TanhLowRankMap
            NumPy-only object with ``step`` and ``jacobian`` (and the regions of a piecewise-linear
            model), which the functions of :mod:`sklearn_lrnn.dynamics` take instead of the estimator.
        """
        check_is_fitted(self, "_state")
        if u is None:
            return self._dynamics_map()
        n_inputs = int(self.n_inputs_)
        if n_inputs == 0:
            raise fitted_without_inputs()
        u = np.asarray(check_numeric(u, "u"), dtype=np.float64).reshape(-1)
        if u.shape != (n_inputs,):
            raise ValueError(f"u must be one constant input vector of length {n_inputs} (the model's inputs); "
                             f"got shape {u.shape}.")
        return self._dynamics_map(u)

    def _analyse_dynamics(self):
        """Fixed points (and cycles where the estimator asks) within ``dynamics_budget`` seconds.

        The cost of the exact search is estimated first (cells of the hyperplane arrangement x time
        per cell); past the budget the SCYFI heuristic runs instead, with a warning that says how to
        run the exact search afterwards.
        """
        from . import dynamics

        self._store_dynamics(None, None)
        if not self.compute_fixed_points:
            return
        pmap = self._dynamics_map()
        if pmap is None:
            return
        method = "exact"
        if isinstance(pmap, dynamics.PiecewiseAffineMap) and self.dynamics_budget is not None:
            cost = estimate_search_seconds(pmap)
            if cost > float(self.dynamics_budget):
                method = "scyfi"
                warnings.warn(
                    f"the exact fixed-point search of this {pmap.dim}-dimensional map would take about "
                    f"{cost:.0f} s (dynamics_budget={self.dynamics_budget} s): used the SCYFI heuristic, which "
                    "may miss fixed points. For all of them run sklearn_lrnn.dynamics.fixed_points(model, "
                    "method='exact') or raise dynamics_budget.", RuntimeWarning, stacklevel=_outside_stacklevel())
        try:
            if isinstance(pmap, dynamics.PiecewiseAffineMap):
                fps = dynamics.map_fixed_points(pmap, method=method)
            else:  # tanh low-rank map: Newton's method from many starts (cheap, approximate)
                from .dynamics._low_rank import tanh_fixed_points

                fps = tanh_fixed_points(pmap.m, pmap.n, pmap.h, pmap.a, pmap.c)
            cycles = self._find_cycles(pmap, method)
        except (ValueError, np.linalg.LinAlgError, MemoryError, NotImplementedError) as exc:
            warnings.warn(f"dynamics analysis skipped: {exc}", RuntimeWarning, stacklevel=_outside_stacklevel())
            return
        self._store_dynamics(fps, cycles)

    def _find_cycles(self, pmap, method):
        return None
