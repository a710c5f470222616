"""The file format of :func:`save` and :func:`load`: estimators as data only.

:func:`save` writes one ``.npz`` file (a zip archive of ``.npy`` members) made of

* a JSON header: the format name and version, the estimator's class name, the library versions
  it was saved with, the constructor parameters (``get_params(deep=False)``) and every other
  attribute of the estimator (its fitted state), written as a tree of plain JSON values with
  tagged nodes for tuples, dictionaries, arrays, torch tensors and the result containers of
  :mod:`sklearn_lrnn.dynamics` (the codec, :mod:`._codec`);
* the NumPy arrays of that tree, one ``.npy`` member each, referenced from the header by name.

:func:`load` reads the archive with ``numpy.load(..., allow_pickle=False)`` and ``json.loads`` only,
checks every node of the tree against a fixed list of types, accepts only the estimator classes
registered in :mod:`._registry` (the package's own), and rebuilds the estimator the way unpickling would (a new instance whose
``__setstate__`` receives the decoded state). A file that fails any check is refused with a
``ValueError`` that names the file and the problem. No code stored in the file can run.

Pickle (and :func:`joblib.dump` / :func:`joblib.load`) keeps working on the estimators as on any
scikit-learn estimator, with the usual caveat: **unpickling a file can execute arbitrary code, so
only unpickle files you trust.** Pickles written by an older version of the package are upgraded
on load by :class:`~._compat.CompatibleStateMixin`: constructor parameters added since then get
their defaults, with a warning (files of this format get the same through :func:`load`).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from .._version import __version__
from ._codec import BadFile, Decoder, Encoder
from ._compat import constructor_defaults, fill_missing_params
from ._registry import registered_class, registered_names

__all__ = ["save", "load"]

FORMAT_NAME = "sklearn_lrnn.estimator"
FORMAT_VERSION = 1

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"  # PROTO opcode: the first byte of every pickle of protocol 2 or later
_VERSION_KEYS = ("sklearn_lrnn", "scikit-learn", "numpy", "torch")
_HEADER_MEMBER = "header"


def _versions() -> dict:
    import sklearn

    return {
        "sklearn_lrnn": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def save(estimator, path) -> None:
    """Save a :class:`StochasticLowRankRNN` or :class:`PLRNNRegressor` to one ``.npz`` file of plain data.

    The file holds a JSON header (class name, library versions, constructor parameters and the
    fitted attributes as a tree of plain values) and the NumPy arrays of the model; it contains no
    pickled objects, so :func:`load` can read a file from anyone without running code from it.
    Torch tensors (the optimiser's state) are stored as arrays and come back as CPU tensors; caches
    are not stored. The name of ``path`` is kept as given (no ``.npz`` is appended) and its folder
    is created when missing; the file is written atomically.

    Parameters
    ----------
    estimator : StochasticLowRankRNN or PLRNNRegressor
        Fitted or not. Subclasses are refused (use pickle or joblib for them).
    path : str or os.PathLike
        Destination file.

    Raises
    ------
    TypeError
        If the estimator's class is not one of the package's estimators, or an attribute holds a
        value that is not plain data.

    See Also
    --------
    load : read the file back.

    Notes
    -----
    The estimators also pickle (``pickle``, ``joblib``) as any scikit-learn estimator. Unpickling
    can execute arbitrary code stored in the file: only unpickle files you trust.
    """
    name = type(estimator).__name__
    if registered_class(name) is not type(estimator):
        raise TypeError(f"save() stores {' and '.join(registered_names())} only; got {type(estimator).__qualname__}. "
                        f"Use pickle or joblib for other estimators (and unpickle only files you trust).")
    state = estimator.__getstate__() if hasattr(estimator, "__getstate__") else None
    if not isinstance(state, dict):
        state = dict(vars(estimator))
    params = estimator.get_params(deep=False)
    encode = Encoder()
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "class": name,
        "versions": _versions(),
        "params": {k: encode(v, k) for k, v in params.items()},
        # every other attribute: fitted ones (ending in "_"), private state ("_state", ...);
        # caches are rebuilt on demand and stored empty
        "attributes": {k: encode(None if k.endswith("_cache") else v, k)
                       for k, v in state.items() if k not in params},
    }
    blob = np.frombuffer(json.dumps(header, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # a missing output folder must not crash at the end of a fit
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **{_HEADER_MEMBER: blob}, **encode.arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sniff(path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(4)
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not a file written by sklearn_lrnn.save.") from None


def load(path):
    """Load an estimator written by :func:`save`, without unpickling anything.

    The file is read with ``numpy.load(..., allow_pickle=False)`` and ``json.loads`` only; its
    header and every stored value are checked, and only :class:`StochasticLowRankRNN` and
    :class:`PLRNNRegressor` can be built. The estimator gets a ``saved_versions_`` attribute with
    the library versions it was saved with.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.

    Returns
    -------
    estimator : StochasticLowRankRNN or PLRNNRegressor

    Raises
    ------
    ValueError
        If the file is not an archive written by :func:`save` (for instance a pickle written by
        an earlier version of :func:`save`, which is refused rather than unpickled), names another
        class, was written by a newer format, or is damaged.

    Warns
    -----
    UserWarning
        When the file was saved with other versions of sklearn_lrnn, scikit-learn, NumPy or torch,
        or before some constructor parameters existed (they are set to their defaults).

    Notes
    -----
    Earlier versions of :func:`save` wrote a pickle of ``{"versions": ..., "estimator": ...}``.
    Unpickling can run arbitrary code, so :func:`load` refuses those files. If you trust such a
    file (you wrote it yourself), read it with ``pickle.load(open(path, "rb"))["estimator"]`` (or
    ``joblib.load(path)["estimator"]``) and :func:`save` it again to convert it.
    """
    magic = _sniff(path)
    if magic.startswith(_PICKLE_MAGIC):
        raise ValueError(
            f"{path} is a pickle file (the format of earlier versions of sklearn_lrnn.save), not the "
            f"data-only archive that load() reads. load() does not unpickle files, because unpickling "
            f"can run arbitrary code. If you trust this file, read it yourself with "
            f"pickle.load(open(path, 'rb'))['estimator'] or joblib.load(path)['estimator'], then "
            f"sklearn_lrnn.save() it again to convert it.")
    if magic != _ZIP_MAGIC:
        raise ValueError(f"{path} is not a file written by sklearn_lrnn.save (not a zip archive: "
                         f"it starts with {magic!r}).")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _HEADER_MEMBER not in npz.files:
                raise BadFile("the archive has no header: it was not written by sklearn_lrnn.save")
            header = _read_header(npz[_HEADER_MEMBER])
            cls = registered_class(header["class"])
            decode = Decoder(npz, reserved=(_HEADER_MEMBER,))
            params = _json_object(header, "params")
            attributes = _json_object(header, "attributes")
            params = {k: decode(v, f"parameter {k}") for k, v in params.items()}
            attributes = {k: decode(v, f"attribute {k}") for k, v in attributes.items()}
    except BadFile as exc:
        raise ValueError(f"{path} cannot be loaded: {exc}.") from None
    except (OSError, EOFError, ValueError, RecursionError, zipfile.BadZipFile) as exc:  # bad zip or member, too deep
        raise ValueError(f"{path} is damaged or not a file written by sklearn_lrnn.save: {exc}") from None
    unknown = sorted(set(params) - set(constructor_defaults(cls)))
    if unknown:
        raise ValueError(f"{path} cannot be loaded: it sets parameter(s) {', '.join(unknown)} that "
                         f"{cls.__name__} of this version of sklearn_lrnn does not have (saved with "
                         f"sklearn_lrnn {header['versions'].get('sklearn_lrnn')}).")
    saved = header["versions"]
    now = _versions()
    diff = [f"{k} {saved.get(k)} -> {now[k]}" for k in _VERSION_KEYS if saved.get(k) != now[k]]
    if diff:
        warnings.warn(f"{path}: loading a model saved with other library versions ({', '.join(diff)}); "
                      f"its results may differ.", UserWarning, stacklevel=2)
    state = fill_missing_params(cls, {**attributes, **params}, source=str(path))
    est = cls.__new__(cls)
    est.__setstate__(state)  # as unpickling does (BaseEstimator and the mixin define it)
    est.saved_versions_ = dict(saved)
    return est


def _json_object(header, key):
    value = header.get(key)
    if not isinstance(value, dict):
        raise BadFile(f"the header's {key!r} entry is not a JSON object")
    return value


def _read_header(blob) -> dict:
    if not isinstance(blob, np.ndarray) or blob.dtype != np.uint8 or blob.ndim != 1:
        raise BadFile("the header is not a byte string")
    try:
        header = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadFile(f"the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise BadFile("the header does not describe a sklearn_lrnn estimator")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadFile(f"the format version {version!r} is not an integer")
    if version > FORMAT_VERSION:
        raise BadFile(f"it was written in format version {version} by a newer sklearn_lrnn; this version "
                       f"reads format {FORMAT_VERSION} and older: upgrade sklearn_lrnn")
    if version < 1:
        raise BadFile(f"the format version {version} does not exist")
    name = header.get("class")
    if not isinstance(name, str) or registered_class(name) is None:
        raise BadFile(f"the class {name!r} is not one that load() builds ({', '.join(registered_names())})")
    versions = header.get("versions")
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise BadFile("the header's library versions are missing or malformed")
    return header
