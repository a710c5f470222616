"""The configuration of a low-rank fit: the parameter table, the checks of how parameters combine, the
Poisson columns, and :class:`LowRankConfig`, what a fit resolves once and freezes."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._columns import column_mask
from .._engine.encoder import PADDINGS
from .._engine.low_rank import ACTIVATIONS
from .._engine.observations import LINKS, OBSERVATION_MODELS, OBSERVATION_NAMES, observation_model
from .._engine.smc import PROPOSALS, RESAMPLING
from .._validation import Sequences

__all__ = ["LowRankConfig", "PARAMETER_CONSTRAINTS", "check_counts", "check_param_combinations", "poisson_mask",
           "resolve_config"]

# the low-rank estimator's own parameters (the shared ones are ``_lifecycle.COMMON_CONSTRAINTS``)
PARAMETER_CONSTRAINTS = {
    "rank": [Interval(numbers.Integral, 1, None, closed="left")],
    "n_units": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "observation": [StrOptions(set(OBSERVATION_NAMES))],
    "link": [StrOptions(set(LINKS))],
    "poisson_columns": ["array-like", None],
    "proposal": [StrOptions({"auto", *PROPOSALS})],
    "encoder_kernels": ["array-like"],
    "encoder_channels": ["array-like"],
    "encoder_padding": [StrOptions(set(PADDINGS))],
    "n_particles": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "resampling": [StrOptions(set(RESAMPLING))],
    "ess_threshold": [Interval(numbers.Real, 0, 1, closed="right"), None],
    "transition_noise": [StrOptions({"full", "diag", "scalar"})],
    "train_noise": ["boolean"],
    "noise_std": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "observation_noise_std": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "learn_initial_mean": ["boolean"],
    "decay": [Interval(numbers.Real, 0, 1, closed="neither")],
    "train_decay": ["boolean"],
    "input_filter": ["boolean"],
    "window_length": [Interval(numbers.Integral, 2, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
    "eval_particles": [Interval(numbers.Integral, 1, None, closed="left"), None],
}


@dataclass(frozen=True)
class LowRankConfig:
    """Everything a fit of :class:`StochasticLowRankRNN` resolved from its hyper-parameters and data.

    Built once at fit time (``"auto"`` options and ``None`` defaults replaced by what they resolved to) and
    kept as the fitted attribute ``config_``: the torch model of ``transform``, ``score``, ``sample``,
    ``inverse_transform`` and ``latent_map`` is rebuilt from it, so ``set_params`` changes nothing until
    the next fit.
    """

    rank: int
    n_units: int
    n_features: int
    n_inputs: int
    activation: str
    observation: str
    link: str
    count_mask: tuple  # bool per feature: the Poisson (count) columns
    proposal: str  # resolved: "optimal", "encoder" or "bootstrap"
    exact_likelihood: bool  # Kalman filter instead of SMC (linear dynamics, linear-Gaussian readout, "auto")
    n_particles: int
    eval_particles: int
    resampling: str
    ess_threshold: float | None
    encoder_kernels: tuple
    encoder_channels: tuple
    encoder_padding: str
    transition_noise: str
    train_noise: bool
    noise_std: float | None
    observation_noise_std: float | None
    learn_initial_mean: bool
    decay: float
    train_decay: bool
    input_filter: bool

    # what shapes the torch module (and its state dict): a warm start cannot change these
    STRUCTURE = ("rank", "n_units", "n_features", "n_inputs", "activation", "observation", "link", "count_mask",
                 "proposal", "encoder_kernels", "encoder_channels", "encoder_padding", "transition_noise",
                 "input_filter")

    def check_continues(self, new: "LowRankConfig") -> None:
        """Refuse to continue this fitted configuration (warm start, partial fit) as one of another shape."""
        changed = [f"{k}: {getattr(self, k)!r} -> {getattr(new, k)!r}" for k in self.STRUCTURE
                   if getattr(self, k) != getattr(new, k)]
        if changed:
            raise ValueError(
                "warm_start and partial_fit continue the fitted model, whose shape the current parameters would "
                f"change ({'; '.join(changed)}); set warm_start=False (or refit from scratch) to fit a new model."
            )

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict) -> "LowRankConfig":
        values = dict(values)
        for name in ("count_mask", "encoder_kernels", "encoder_channels"):
            values[name] = tuple(values[name])
        return cls(**values)


def check_param_combinations(est) -> None:
    """Checks across the parameters of ``est`` that the per-parameter table cannot express."""
    obs = observation_model(est.observation)
    if est.proposal == "optimal" and not obs.linear:
        linear = tuple(name for name, cls in OBSERVATION_MODELS.items() if cls.linear)
        raise ValueError(
            f"proposal='optimal' needs a linear-Gaussian observation model {linear}; got "
            f"observation={est.observation!r}: use 'auto', 'encoder' or 'bootstrap'."
        )
    if obs.takes_count_columns and est.poisson_columns is None:
        raise ValueError(f"observation={est.observation!r} needs poisson_columns (indices or a boolean mask of "
                         "the count columns).")
    if est.n_units is not None and est.rank > est.n_units:
        raise ValueError(f"rank={est.rank} cannot exceed n_units={est.n_units}: the connectivity m n of "
                         "N units has rank at most N.")
    if est.final_learning_rate is not None and est.final_learning_rate > est.learning_rate:
        raise ValueError(f"final_learning_rate={est.final_learning_rate} must not exceed "
                         f"learning_rate={est.learning_rate}.")


def poisson_mask(observation, poisson_columns, n_features) -> np.ndarray:
    """Boolean mask of the Poisson (count) columns (the observation model's, from ``poisson_columns`` where it
    takes them)."""
    obs = observation_model(observation)
    if not obs.takes_count_columns:
        return obs.count_mask(n_features).numpy()
    mask = column_mask(poisson_columns, n_features, "poisson_columns")
    return obs.count_mask(n_features, mask).numpy()


def resolve_config(est, n_features, n_inputs) -> LowRankConfig:
    """The fit's configuration from the current parameters of ``est`` (called once per fit, then frozen)."""
    obs = observation_model(est.observation)
    n_units = int(est.n_units or n_features)
    if obs.per_unit and n_units != n_features:
        raise ValueError(
            f"observation={est.observation!r} reads one channel per unit, so n_units must equal the number "
            f"of features ({n_features}); got n_units={n_units}."
        )
    proposal = ("optimal" if obs.linear else "encoder") if est.proposal == "auto" else est.proposal
    n_particles = int(est.n_particles) if est.n_particles is not None else (32 if proposal == "optimal" else 10)
    # linear dynamics, linear-Gaussian readout and proposal="auto": the Kalman filter's exact likelihood
    exact = est.activation == "linear" and obs.linear and est.proposal == "auto"
    optional = lambda v: None if v is None else float(v)  # noqa: E731
    return LowRankConfig(
        rank=int(est.rank), n_units=n_units, n_features=int(n_features), n_inputs=int(n_inputs),
        activation=est.activation, observation=est.observation, link=est.link,
        count_mask=tuple(bool(b) for b in poisson_mask(est.observation, est.poisson_columns, n_features)),
        proposal=proposal, exact_likelihood=bool(exact), n_particles=n_particles,
        eval_particles=int(est.eval_particles or max(n_particles, 32)), resampling=est.resampling,
        ess_threshold=optional(est.ess_threshold), encoder_kernels=tuple(int(k) for k in est.encoder_kernels),
        encoder_channels=tuple(int(c) for c in est.encoder_channels), encoder_padding=est.encoder_padding,
        transition_noise=est.transition_noise, train_noise=bool(est.train_noise), noise_std=optional(est.noise_std),
        observation_noise_std=optional(est.observation_noise_std), learn_initial_mean=bool(est.learn_initial_mean),
        decay=float(est.decay), train_decay=bool(est.train_decay), input_filter=bool(est.input_filter),
    )


def check_counts(seq: Sequences, mask, name="X") -> None:
    """Poisson columns (``mask``) must hold non-negative integer counts."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return
    for i, t in enumerate(seq.trials):
        c = t[:, mask]
        if (c < 0).any() or (c != np.round(c)).any():
            cols = np.nonzero(mask)[0][np.nonzero(((c < 0) | (c != np.round(c))).any(0))[0]]
            where = "" if seq.layout == "2d" else f" (trial {i})"
            raise ValueError(
                f"{name}: Poisson columns must hold non-negative integer spike counts; columns "
                f"{cols[:10].tolist()}{where} have negative or non-integer values. Bin spikes into counts, or "
                "use a Gaussian observation for continuous data."
            )
