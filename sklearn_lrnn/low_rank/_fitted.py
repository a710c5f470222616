"""What a low-rank fit leaves: the fitted parameters as NumPy attributes, the fitted map and its fixed points
(``fixed_points_``, a :class:`~sklearn_lrnn.dynamics.FixedPoints`), and the state as files and pickles
hold it (``config_`` as plain data; states saved by earlier versions are upgraded on load)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..dynamics import FixedPoints, build_map, classify
from ._config import LowRankConfig, resolve_config

__all__ = ["LowRankFitted"]


class LowRankFitted:
    """The fitted attributes of :class:`StochasticLowRankRNN` and their persistence (a mixin)."""

    def _set_fitted_parameters(self, model):
        tr = model.transition
        with torch.no_grad():
            self.left_vectors_ = _np(tr.m)
            self.right_vectors_ = _np(tr.n)
            self.bias_ = _np(tr.h)
            self.decay_ = float(tr.decay)
            self.input_weights_ = _np(tr.input_weights)
            self.noise_cov_ = _np(tr.noise.matrix())
            self.initial_mean_ = _np(tr.init_mean)
            self.initial_cov_ = _np(tr.init_cov.matrix())
            # the readout's attributes are the observation model's to name (a refit may change the model)
            for attr in [a for a in vars(self) if a.startswith("observation_") and a.endswith("_")]:
                del self.__dict__[attr]
            for attr, value in model.observation.export(tr).items():
                setattr(self, attr, value)

    def _dynamics_map(self, u=None):
        inputs = None if u is None else self.input_weights_ @ u  # a constant input shifts every unit's current
        return build_map(left=self.left_vectors_, right=self.right_vectors_, bias=self.bias_, decay=self.decay_,
                         activation=self.config_.activation, inputs=inputs)

    def _store_dynamics(self, fixed_points, cycles):
        self.fixed_points_ = fixed_points  # a FixedPoints, as in PLRNNRegressor (None: not analysed)

    def _deprecated_fixed_point_field(self, name, field):
        fps = self.__dict__.get("fixed_points_")
        if fps is None:
            raise AttributeError(f"{type(self).__name__} has no {name} (no fixed points were computed).")
        warnings.warn(f"{name} is deprecated and will be removed: use fixed_points_.{field} (fixed_points_ is a "
                      "sklearn_lrnn.dynamics.FixedPoints, as in PLRNNRegressor).", FutureWarning, stacklevel=3)
        return getattr(fps, field)

    @property
    def fixed_point_stability_(self):
        """Deprecated: ``fixed_points_.stability``."""
        return self._deprecated_fixed_point_field("fixed_point_stability_", "stability")

    @property
    def fixed_point_eigvals_(self):
        """Deprecated: ``fixed_points_.eigvals``."""
        return self._deprecated_fixed_point_field("fixed_point_eigvals_", "eigvals")

    # ------------------------------------------------------------------ persistence
    def __getstate__(self):
        """The state with ``config_`` as a plain dictionary (what :func:`~sklearn_lrnn.save` can store)."""
        state = dict(super().__getstate__())
        if isinstance(state.get("config_"), LowRankConfig):
            state["config_"] = state["config_"].to_dict()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        config = self.__dict__.get("config_")
        if isinstance(config, dict):
            self.config_ = LowRankConfig.from_dict(config)
        elif config is None and "_state" in self.__dict__:
            # fitted by a version that did not freeze its configuration: the parameters saved with it are the
            # ones it was fitted with
            self.config_ = resolve_config(self, self.n_features_in_, self.n_inputs_)
        points = self.__dict__.get("fixed_points_")
        if isinstance(points, np.ndarray):  # saved when fixed_points_ was an array (with two more arrays)
            eig = np.asarray(self.__dict__.pop("fixed_point_eigvals_", np.zeros(points.shape, dtype=complex)))
            stability = np.asarray(self.__dict__.pop("fixed_point_stability_", np.full(len(points), "", dtype=object)))
            self.fixed_points_ = FixedPoints(
                points=points, stability=stability, eigvals=eig,
                spiral=classify(eig)[1] if len(eig) else np.zeros(0, dtype=bool),
                exact=self.config_.activation != "tanh", method="saved before fixed_points_ held its search")
        elif "_state" in self.__dict__ and "fixed_points_" not in self.__dict__:  # not computed, in such a file
            self.fixed_points_ = None


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy().copy()
