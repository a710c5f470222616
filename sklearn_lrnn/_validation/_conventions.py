"""The scikit-learn conventions of the estimators' methods: feature names, ``set_output`` for ``transform``,
metadata routing of the inputs ``u`` and the errors about ``u``."""

from __future__ import annotations

import functools
import sys

import numpy as np
from sklearn.utils._set_output import _SetOutputMixin, _wrap_data_with_container
from sklearn.utils.metadata_routing import _routing_enabled
from sklearn.utils.validation import _check_feature_names, _check_feature_names_in, _get_feature_names, check_is_fitted

__all__ = [
    "input_feature_names", "set_feature_names", "check_fitted_feature_names", "LatentOutputMixin",
    "check_inputs_routed", "ROUTING_HINT", "fitted_without_inputs",
]


def input_feature_names(X):
    """Column names of a 2-D DataFrame ``X`` (what ``fit`` stores as ``feature_names_in_``), or None.

    scikit-learn's helper: string column names only (a mix of strings and non-strings is a TypeError).
    """
    return _get_feature_names(X)


def set_feature_names(estimator, names) -> None:
    """Set (or remove) ``feature_names_in_`` at the end of a fit."""
    if names is None:
        estimator.__dict__.pop("feature_names_in_", None)
    else:
        estimator.feature_names_in_ = names


def check_fitted_feature_names(estimator, X) -> None:
    """scikit-learn's checks against ``feature_names_in_``: renamed or reordered DataFrame columns raise a
    ValueError; a DataFrame for a model fitted without names (or an array for one fitted with names) warns."""
    _check_feature_names(estimator, X, reset=False)


def _wrap_2d_output(method):
    @functools.wraps(method)
    def wrapped(self, X, *args, **kwargs):
        out = method(self, X, *args, **kwargs)
        if isinstance(out, np.ndarray) and out.ndim == 2:
            return _wrap_data_with_container("transform", out, X, self)
        return out

    return wrapped


class LatentOutputMixin(_SetOutputMixin):
    """``get_feature_names_out`` and ``set_output`` for the latents returned by ``transform``.

    Names are ``<classname>_latent0`` ... (the class-name prefix of scikit-learn's
    ``ClassNamePrefixFeaturesOutMixin``). ``set_output(transform="pandas")`` wraps 2-D outputs (one
    recording, time steps as rows, the input DataFrame's index kept); 3-D arrays and lists of trials
    are returned as they are, since a DataFrame cannot hold them.
    """

    def __init_subclass__(cls, **kwargs):
        kwargs.pop("auto_wrap_output_keys", None)
        super().__init_subclass__(auto_wrap_output_keys=None, **kwargs)  # no wrapping of every output...
        cls._sklearn_auto_wrap_output_keys = {"transform"}  # ...but set_output is available
        for method in ("transform", "fit_transform"):
            if method in cls.__dict__:
                setattr(cls, method, _wrap_2d_output(cls.__dict__[method]))

    def _n_latent_features_out(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def get_feature_names_out(self, input_features=None):
        """Names of the columns of :meth:`transform`'s output.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against ``feature_names_in_`` / ``n_features_in_`` (the latents do not
            depend on the input names).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``<lower-case class name>_latent0``, ``..._latent1``, ...
        """
        check_is_fitted(self, "_state")
        _check_feature_names_in(self, input_features, generate_names=False)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}_latent{i}" for i in range(self._n_latent_features_out())], dtype=object)


# ---------------------------------------------------------------------------------------------------------------
# metadata routing

ROUTING_HINT = (
    "In a search or cross-validation (GridSearchCV, cross_validate, ...) u reaches score, transform and "
    "predict only with scikit-learn's metadata routing: sklearn.set_config(enable_metadata_routing=True) "
    "and request it, est.set_fit_request(u=True).set_score_request(u=True) (and set_transform_request(u=True) "
    "in pipelines)."
)


def check_inputs_routed(estimator, u) -> None:
    """Refuse ``u`` in ``fit`` called by scikit-learn's cross-validation while metadata routing is off.

    Without routing a search passes ``u`` (cut to the training fold) to ``fit`` but nothing to the
    scorer, so every test score would be NaN and the "best" candidate arbitrary.
    """
    if u is None or _routing_enabled():
        return
    frame = sys._getframe(1)
    while frame is not None:
        if (frame.f_code.co_name == "_fit_and_score"
                and frame.f_globals.get("__name__", "").startswith("sklearn.model_selection")):
            name = type(estimator).__name__
            raise ValueError(
                f"{name}.fit received u from a scikit-learn search or cross-validation with metadata routing "
                "disabled: u would reach fit but not score, so every test score would be NaN. Enable routing "
                "and request u: sklearn.set_config(enable_metadata_routing=True) and "
                f"{name}(...).set_fit_request(u=True).set_score_request(u=True)."
            )
        frame = frame.f_back


def fitted_without_inputs(hint: str | None = None) -> ValueError:
    """The error for inputs ``u`` passed to a model fitted without them (raise it); ``hint`` says why, in
    parentheses after ``u``."""
    detail = f" u ({hint})" if hint else ""
    return ValueError(f"this model was fitted without inputs{detail}; do not pass u.")
