"""Estimators to and from files: :func:`save` / :func:`load`, and pickles of older versions.

One job per module:

* :mod:`._format`: the file (a ``.npz`` archive of a JSON header and ``.npy`` arrays), :func:`save`
  and :func:`load`;
* :mod:`._codec`: an estimator's state as JSON values and arrays, and back, without running code;
* :mod:`._registry`: the estimator classes a file may name;
* :mod:`._compat`: state saved before some constructor parameters existed gets their defaults
  (:class:`CompatibleStateMixin` for pickles, the same filling for :func:`load`).

Nothing here imports the estimators: they sit above this package and register themselves
(``sklearn_lrnn/__init__.py``).
"""

from ._compat import CompatibleStateMixin
from ._format import load, save
from ._registry import register_estimator

__all__ = ["save", "load", "register_estimator", "CompatibleStateMixin"]
