"""The estimator classes that :func:`~sklearn_lrnn.save` may store and :func:`~sklearn_lrnn.load` may build.

A file names its estimator by class name; :func:`load` builds only a class registered here under that
name, so the file format needs no import of the estimators (which sit above it) and a file cannot
name any other class. The package registers its estimators when it is imported
(``sklearn_lrnn/__init__.py``).
"""

from __future__ import annotations

__all__ = ["register_estimator", "registered_class", "registered_names"]

_CLASSES: dict[str, type] = {}  # class name, as a file records it -> class; in registration order


def register_estimator(cls: type) -> type:
    """Let :func:`save` and :func:`load` handle ``cls``, under its class name; returns ``cls``.

    Registering the same class again does nothing; another class of the same name is refused, since
    a file could not tell the two apart.
    """
    name = cls.__name__
    if _CLASSES.setdefault(name, cls) is not cls:
        raise ValueError(f"a different class named {name} ({_CLASSES[name].__module__}) is already registered "
                         f"for save() and load(); files record the class by name only.")
    return cls


def registered_class(name: str) -> type | None:
    """The class registered under ``name``, or None."""
    return _CLASSES.get(name)


def registered_names() -> tuple[str, ...]:
    """The names of the registered classes, in registration order."""
    return tuple(_CLASSES)
