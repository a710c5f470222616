"""Any scikit-learn estimator applied per time bin of trial-structured data (:class:`PerTimeBin`)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.validation import check_is_fitted

from .._validation import check_array_like, check_sequences, restore

__all__ = ["PerTimeBin"]

_ROUTED_METHODS = ("fit", "predict", "predict_proba", "predict_log_proba", "decision_function",
                   "transform", "score")


def _inner_has(attr):
    """``available_if`` check: the fitted inner estimator if there is one, else the unfitted one."""

    def check(self):
        inner = getattr(self, "estimator_", self.estimator)
        getattr(inner, attr)  # raises AttributeError, which available_if turns into "not available"
        return True

    return check


class _Rows:
    """X flattened to rows plus what is needed to put per-row outputs back."""

    def __init__(self, rows, layout, lengths):
        self.rows, self.layout, self.lengths = rows, layout, lengths

    def restore(self, out):
        if self.layout == "2d":  # one recording: rows are already time bins, return as the inner gives it
            return out
        if hasattr(out, "toarray"):  # sparse output of a transformer
            out = out.toarray()
        out = np.asarray(out)
        return restore(np.split(out, np.cumsum(self.lengths)[:-1], axis=0), self.layout)


def _flatten_X(X):
    """Turn X (2-D, 3-D or list of 2-D) into a 2-D row matrix without changing its dtype."""
    check_array_like(X, "X")
    if isinstance(X, (list, tuple)) and len(X) and np.ndim(X[0]) == 2:
        seq = check_sequences(X, name="X")
        return _Rows(np.concatenate(seq.trials, axis=0), "list", seq.lengths)
    if not hasattr(X, "shape") or not hasattr(X, "ndim"):
        X = np.asarray(X)
    if X.ndim == 2:
        # one recording (or an ordinary sample matrix): hand it to the inner estimator untouched so it
        # does its own validation (sparse input, dtypes, feature names)
        return _Rows(X, "2d", np.array([X.shape[0]]))
    if X.ndim == 3:
        n_trials, n_steps, n_features = X.shape
        if n_trials == 0 or n_steps == 0:
            raise ValueError(f"X has shape {X.shape}; it needs at least one trial of at least one time bin.")
        return _Rows(np.reshape(X, (n_trials * n_steps, n_features)), "3d", np.full(n_trials, n_steps))
    hint = " Reshape your data: one channel with X.reshape(-1, 1)." if X.ndim == 1 else ""
    raise ValueError(
        "X must be a 3-D array (n_trials, n_timesteps, n_features), a list of 2-D trials or a 2-D array "
        f"(n_timesteps, n_features); got {X.ndim}-D with shape {np.shape(X)}.{hint}"
    )


def _flatten_per_bin(value, rows, name):
    """Flatten a per-trial-per-bin array-like (targets, sample weights) to one entry per row.

    Accepted for trials (3-D X or a list): one array per trial whose first axis has that trial's number
    of bins (a 2-D ``(n_trials, T)`` array of labels, a 3-D ``(n_trials, T, k)`` array, or a list of
    ``(T_i,)`` / ``(T_i, k)`` arrays), and for ``name != "y"`` also one value per trial, repeated over its
    bins. Other values are returned unchanged. For one 2-D recording the value is already per row.
    """
    if value is None or rows.layout == "2d":
        return value
    n_trials = len(rows.lengths)
    if isinstance(value, (list, tuple)):
        per_trial = [np.asarray(v) for v in value]
    else:
        arr = value if hasattr(value, "shape") else np.asarray(value)
        if np.ndim(arr) == 0:
            return value
        per_trial = list(np.asarray(arr))
    if len(per_trial) != n_trials:
        raise ValueError(
            f"{name} has {len(per_trial)} entries along axis 0 but X has {n_trials} trials; pass one {name} "
            "per trial (per time bin: shape (n_trials, n_timesteps[, n_outputs]), or a list of such arrays)."
        )
    if name != "y" and all(np.ndim(v) == 0 for v in per_trial):  # one weight per trial
        return np.repeat(np.asarray(per_trial), rows.lengths)
    for i, (v, n) in enumerate(zip(per_trial, rows.lengths)):
        if np.ndim(v) == 0 or v.shape[0] != n:
            got = "a scalar" if np.ndim(v) == 0 else f"{v.shape[0]} time bins"
            raise ValueError(
                f"{name} of trial {i} has {got} but X has {n}; pass one {name} entry per time bin "
                "(same number of trials and time steps as X)."
            )
    return np.concatenate(per_trial, axis=0)


_X_DOC = """X : array-like of shape (n_trials, n_timesteps, n_features), list of 2-D arrays, or (n_timesteps, n_features)
            Inputs per time bin."""


def _per_bin_method(name, summary, returns):
    """A method of :class:`PerTimeBin` that calls the inner estimator's ``name`` on every time bin and puts
    the output back in the container of ``X`` (available when the inner estimator has ``name``)."""

    def method(self, X, **params):
        return self._apply(name, X, params)

    method.__name__ = name
    method.__qualname__ = f"PerTimeBin.{name}"
    method.__doc__ = f"""{summary}

        Parameters
        ----------
        {_X_DOC}
        **params : dict
            Metadata for the inner method.

        Returns
        -------
        {returns} : ndarray or list
        """
    return available_if(_inner_has(name))(method)


class PerTimeBin(MetaEstimatorMixin, BaseEstimator):
    """Apply any scikit-learn estimator to every time bin of trial-structured data.

    ``X`` of shape ``(n_trials, n_timesteps, n_features)`` (or a list of ``(T_i, n_features)`` trials) is
    flattened to ``(sum T_i, n_features)`` rows; ``y`` (targets per time bin) the same way; a clone of
    ``estimator`` is fitted on the rows, and the outputs of ``predict``, ``predict_proba``,
    ``decision_function`` and ``transform`` are put back in the container of ``X`` (3-D in, 3-D out; list
    in, list out; a 2-D recording is passed to the inner estimator as it is). The typical use is a
    decoder at the end of a pipeline whose previous step returns latents per time bin::

        make_pipeline(StochasticLowRankRNN(rank=4), PerTimeBin(Ridge()))

    Parameters
    ----------
    estimator : estimator object
        The per-row estimator (regressor, classifier, transformer or clusterer); cloned in ``fit``.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone.
    n_features_in_ : int
        Number of features (last axis of ``X``).
    classes_ : ndarray
        The inner classifier's classes (classifiers only).

    Notes
    -----
    Targets ``y`` for trials: a 3-D array ``(n_trials, T, n_outputs)``, a 2-D array ``(n_trials, T)`` of
    labels (one per trial and bin), or a list of ``(T_i,)`` / ``(T_i, n_outputs)`` arrays. Fit metadata
    such as ``sample_weight`` may be given per bin (same layout as a 1-output ``y``) or per trial
    (``(n_trials,)``, repeated over the bins). With metadata routing enabled
    (``sklearn.set_config(enable_metadata_routing=True)``) metadata reaches the inner estimator through
    its ``set_fit_request`` / ``set_score_request``; otherwise keyword arguments of every method are
    passed on directly.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_lrnn.preprocessing import PerTimeBin
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 50, 3))                    # 8 trials x 50 bins x 3 features
    >>> y = X @ np.array([[1.0], [-2.0], [0.5]])           # (8, 50, 1) target per bin
    >>> model = PerTimeBin(Ridge(alpha=1e-6)).fit(X, y)
    >>> model.predict(X).shape
    (8, 50, 1)
    >>> round(model.score(X, y), 6)
    1.0
    """

    def __init__(self, estimator):
        self.estimator = estimator

    # ------------------------------------------------------------------------------------ helpers
    def _params(self, method, params):
        if _routing_enabled():
            return getattr(process_routing(self, method, **params).estimator, method)
        return params

    def _flat_params(self, params, rows):
        # per-bin or per-trial metadata (sample_weight, ...) is flattened like y
        return {k: _flatten_per_bin(v, rows, k) for k, v in params.items()}

    def _check_features(self, rows):
        n = rows.rows.shape[1]
        if rows.layout != "2d" and n != self.n_features_in_:
            raise ValueError(
                f"X has {n} features, but PerTimeBin is expecting {self.n_features_in_} features as input."
            )

    def _fitted_rows(self, method, X, params, y=None):
        """X as rows, y and the metadata of ``method`` flattened like them, after checking the fit."""
        check_is_fitted(self)
        rows = _flatten_X(X)
        self._check_features(rows)
        y_rows = _flatten_per_bin(y, rows, "y")
        return rows, y_rows, self._flat_params(self._params(method, params), rows)

    def _apply(self, method, X, params):
        rows, _, params = self._fitted_rows(method, X, params)
        return rows.restore(getattr(self.estimator_, method)(rows.rows, **params))

    # -------------------------------------------------------------------------------------- API
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of the inner estimator on all time bins.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features), list of 2-D arrays, or (n_timesteps, n_features)
            Inputs per time bin.
        y : array-like, list of array-like or None
            Targets per time bin in the layout of ``X`` (see Notes of the class), or None.
        **fit_params : dict
            Metadata for the inner ``fit`` (e.g. ``sample_weight``), per bin or per trial.

        Returns
        -------
        self : PerTimeBin
        """
        rows = _flatten_X(X)
        y_rows = _flatten_per_bin(y, rows, "y")
        params = self._flat_params(self._params("fit", fit_params), rows)
        estimator = clone(self.estimator)
        estimator.fit(rows.rows, y_rows, **params)
        self.estimator_ = estimator
        # some regressors (Ridge) ravel a one-column y; trials given (n, T, 1) targets get (n, T, 1) back
        self._single_column_y = rows.layout != "2d" and y_rows is not None and y_rows.ndim == 2 and y_rows.shape[1] == 1
        self.n_features_in_ = int(getattr(estimator, "n_features_in_", rows.rows.shape[1]))
        if hasattr(estimator, "feature_names_in_"):
            self.feature_names_in_ = estimator.feature_names_in_
        return self

    @available_if(_inner_has("predict"))
    def predict(self, X, **predict_params):
        """Predict every time bin; the result has the container of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features), list of 2-D arrays, or (n_timesteps, n_features)
            Inputs per time bin.
        **predict_params : dict
            Metadata for the inner ``predict``.

        Returns
        -------
        y_pred : ndarray or list
            ``(n_trials, n_timesteps[, n_outputs])`` for 3-D ``X``, a list for a list, 2-D ``X`` as the inner gives it.
        """
        rows, _, params = self._fitted_rows("predict", X, predict_params)
        out = self.estimator_.predict(rows.rows, **params)
        if rows.layout != "2d" and getattr(self, "_single_column_y", False) and np.ndim(out) == 1:
            out = np.reshape(out, (-1, 1))
        return rows.restore(out)

    predict_proba = _per_bin_method(
        "predict_proba", "Class probabilities per time bin, ``(n_trials, n_timesteps, n_classes)`` for 3-D ``X``.",
        "proba")
    predict_log_proba = _per_bin_method(
        "predict_log_proba", "Log class probabilities per time bin (container of ``X``).", "log_proba")
    decision_function = _per_bin_method(
        "decision_function", "Decision function per time bin (container of ``X``).", "scores")
    transform = _per_bin_method("transform", "Transform every time bin (container of ``X``).", "X_new")

    @available_if(_inner_has("score"))
    def score(self, X, y=None, **score_params):
        """The inner estimator's ``score`` on all time bins pooled (e.g. R^2 over every bin of every trial).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features), list of 2-D arrays, or (n_timesteps, n_features)
            Inputs per time bin.
        y : array-like, list of array-like or None
            Targets per time bin in the layout of ``X``.
        **score_params : dict
            Metadata for the inner ``score`` (e.g. ``sample_weight``), per bin or per trial.

        Returns
        -------
        score : float
        """
        rows, y_rows, params = self._fitted_rows("score", X, score_params, y=y)
        return self.estimator_.score(rows.rows, y_rows, **params)

    @property
    def classes_(self):
        """Classes of the fitted inner classifier."""
        check_is_fitted(self)
        return self.estimator_.classes_

    def get_metadata_routing(self):
        """Routing of metadata to the inner estimator (each method maps to the same-named inner method).

        Returns
        -------
        routing : MetadataRouter
        """
        mapping = MethodMapping()
        for method in _ROUTED_METHODS:
            mapping.add(caller=method, callee=method)
        return MetadataRouter(owner=self).add(estimator=self.estimator, method_mapping=mapping)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        # behave like the inner estimator for is_classifier / scoring / common checks
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.transformer_tags = inner.transformer_tags
        tags.target_tags = inner.target_tags
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.positive_only = inner.input_tags.positive_only
        return tags
