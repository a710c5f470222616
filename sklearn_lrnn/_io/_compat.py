"""Estimator state saved before some constructor parameters existed: fill them with their defaults."""

from __future__ import annotations

import inspect
import warnings

__all__ = ["CompatibleStateMixin", "constructor_defaults", "fill_missing_params"]


class CompatibleStateMixin:
    """Unpickle estimators saved before some of their constructor parameters existed.

    scikit-learn reads parameters back as attributes (``get_params``, ``repr``, ``clone``), so a
    pickle written before a parameter was added would otherwise load into an object that predicts
    but fails with ``AttributeError`` as soon as it is printed, cloned or refitted. This mixin's
    ``__setstate__`` sets each missing parameter to its default in the constructor's signature
    and warns once per loaded object, naming them. Put it before ``BaseEstimator`` in the bases.
    """

    def __setstate__(self, state):
        state = fill_missing_params(type(self), state, source=f"a pickled {type(self).__name__}")
        parent = super()
        if hasattr(parent, "__setstate__"):
            parent.__setstate__(state)
        else:  # pragma: no cover - BaseEstimator always defines it
            self.__dict__.update(state)


def constructor_defaults(cls) -> dict:
    """Parameter name -> default (``inspect.Parameter.empty`` when there is none) of ``cls.__init__``."""
    sig = inspect.signature(cls.__init__)
    return {
        name: p.default
        for name, p in sig.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def fill_missing_params(cls, state: dict, *, source: str) -> dict:
    """``state`` with every constructor parameter of ``cls`` it lacks set to its default (warns)."""
    defaults = constructor_defaults(cls)
    missing = [name for name in defaults if name not in state]
    if not missing:
        return state
    state = dict(state)
    filled = []
    for name in missing:
        if defaults[name] is not inspect.Parameter.empty:
            state[name] = defaults[name]
            filled.append(f"{name}={defaults[name]!r}")
    no_default = [name for name in missing if defaults[name] is inspect.Parameter.empty]
    msg = (f"{source} was saved by an older version of sklearn_lrnn without the parameter(s) "
           f"{', '.join(missing)}; set to the default(s) {', '.join(filled) or '(none)'}.")
    if no_default:
        msg += f" No default exists for {', '.join(no_default)}: set them with set_params before use."
    warnings.warn(msg, UserWarning, stacklevel=3)
    return state
