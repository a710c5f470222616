"""Saving and loading fitted estimators in a format that holds data only.

:func:`save` writes one ``.npz`` file (a zip archive of ``.npy`` members) made of

* a JSON header: the format name and version, the estimator's class name, the library versions
  it was saved with, the constructor parameters (``get_params(deep=False)``) and every other
  attribute of the estimator (its fitted state), written as a tree of plain JSON values with
  tagged nodes for tuples, dictionaries, arrays, torch tensors and the result containers of
  :mod:`sklearn_lrnn.dynamics`;
* the NumPy arrays of that tree, one ``.npy`` member each, referenced from the header by name.

:func:`load` reads the archive with ``numpy.load(..., allow_pickle=False)`` and ``json.loads`` only,
checks every node of the tree against a fixed list of types, accepts only the package's own
estimator classes, and rebuilds the estimator the way unpickling would (a new instance whose
``__setstate__`` receives the decoded state). A file that fails any check is refused with a
``ValueError`` that names the file and the problem. No code stored in the file can run.

Pickle (and :func:`joblib.dump` / :func:`joblib.load`) keeps working on the estimators as on any
scikit-learn estimator, with the usual caveat: **unpickling a file can execute arbitrary code, so
only unpickle files you trust.** Pickles written by an older version of the package are upgraded
on load by :class:`CompatibleStateMixin`: constructor parameters added since then get their
defaults, with a warning.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import platform
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from ._version import __version__

__all__ = ["save", "load", "CompatibleStateMixin"]

FORMAT_NAME = "sklearn_lrnn.estimator"
FORMAT_VERSION = 1

# the estimator classes that load() may build, by name (imported lazily: this module is imported
# by the package's __init__ before the estimators)
_ESTIMATOR_MODULES = {
    "StochasticLowRankRNN": "sklearn_lrnn.low_rank",
    "PLRNNRegressor": "sklearn_lrnn.plrnn",
}

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"  # PROTO opcode: the first byte of every pickle of protocol 2 or later
_VERSION_KEYS = ("sklearn_lrnn", "scikit-learn", "numpy", "torch")
_HEADER_MEMBER = "header"


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


def _constructor_defaults(cls) -> dict:
    """Parameter name -> default (``inspect.Parameter.empty`` when there is none) of ``cls.__init__``."""
    sig = inspect.signature(cls.__init__)
    return {
        name: p.default
        for name, p in sig.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def fill_missing_params(cls, state: dict, *, source: str) -> dict:
    """``state`` with every constructor parameter of ``cls`` it lacks set to its default (warns)."""
    defaults = _constructor_defaults(cls)
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


def _versions() -> dict:
    import sklearn

    return {
        "sklearn_lrnn": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _estimator_class(name: str):
    import importlib

    return getattr(importlib.import_module(_ESTIMATOR_MODULES[name]), name)


def _dataclass_types() -> dict:
    from .dynamics._results import Cycles, FixedPoints

    return {"FixedPoints": FixedPoints, "Cycles": Cycles}


# ---------------------------------------------------------------------------------------- encoding
class _Encoder:
    """Turns a value into a JSON tree, collecting its arrays (named ``a0``, ``a1``, ...)."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self._dataclasses = _dataclass_types()

    def _store(self, arr: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = arr
        return key

    def __call__(self, obj, where: str):
        # NumPy scalars first: np.float64 and np.str_ subclass float and str, and must keep their type
        if isinstance(obj, np.generic):
            return self._array(np.asarray(obj), where, scalar=True)
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            obj = float(obj)
            return obj if math.isfinite(obj) else {"__type__": "float", "value": repr(obj)}
        if isinstance(obj, list):
            return [self(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if type(obj) is tuple:
            return {"__type__": "tuple", "items": [self(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if type(obj) is dict:
            if all(isinstance(k, str) for k in obj):
                return {"__type__": "dict", "items": {k: self(v, f"{where}[{k!r}]") for k, v in obj.items()}}
            return {"__type__": "dict",
                    "keys": [self(k, f"{where} (key {k!r})") for k in obj],
                    "values": [self(v, f"{where}[{k!r}]") for k, v in obj.items()]}
        if isinstance(obj, np.ndarray):
            return self._array(obj, where)
        if isinstance(obj, torch.Tensor):
            return self._tensor(obj, where)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            name = type(obj).__name__
            if self._dataclasses.get(name) is not type(obj):
                raise TypeError(f"{where} is a {type(obj).__qualname__}, which save() cannot store.")
            return {"__type__": "dataclass", "name": name,
                    "fields": {f.name: self(getattr(obj, f.name), f"{where}.{f.name}")
                               for f in dataclasses.fields(obj)}}
        if isinstance(obj, np.random.RandomState):
            return {"__type__": "RandomState", "state": self(obj.get_state(legacy=True), f"{where}.state")}
        if isinstance(obj, np.random.Generator):
            bitgen = obj.bit_generator
            return {"__type__": "Generator", "bit_generator": type(bitgen).__name__,
                    "state": self(bitgen.state, f"{where}.state")}
        if isinstance(obj, torch.device):
            return {"__type__": "torch.device", "value": str(obj)}
        raise TypeError(f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}, which save() cannot "
                        f"store (plain data, NumPy arrays, torch tensors and dynamics results only); "
                        f"use pickle or joblib for such an estimator.")

    def _array(self, arr: np.ndarray, where: str, scalar: bool = False):
        if arr.dtype.hasobject:
            if arr.dtype != object:
                raise TypeError(f"{where} is an array of dtype {arr.dtype} holding Python objects; "
                                "save() cannot store it.")
            return {"__type__": "object_array", "shape": list(arr.shape),
                    "items": [self(v, f"{where}[{i}]") for i, v in enumerate(arr.ravel().tolist())]}
        node = {"__type__": "ndarray", "key": self._store(arr)}  # any shape, 0-d included
        if scalar:
            node["scalar"] = True
        return node

    def _tensor(self, t: torch.Tensor, where: str):
        t = t.detach().cpu()
        try:
            arr = t.numpy()
        except TypeError:  # dtypes NumPy lacks (bfloat16, ...): stored widened, cast back on load
            arr = t.to(torch.complex128 if t.is_complex() else torch.float64).numpy()
        return {"__type__": "tensor", "key": self._store(arr.copy()), "dtype": str(t.dtype).removeprefix("torch."),
                "requires_grad": bool(t.requires_grad)}


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
    if name not in _ESTIMATOR_MODULES or _estimator_class(name) is not type(estimator):
        raise TypeError(f"save() stores {' and '.join(_ESTIMATOR_MODULES)} only; got {type(estimator).__qualname__}. "
                        f"Use pickle or joblib for other estimators (and unpickle only files you trust).")
    state = estimator.__getstate__() if hasattr(estimator, "__getstate__") else None
    if not isinstance(state, dict):
        state = dict(vars(estimator))
    params = estimator.get_params(deep=False)
    encode = _Encoder()
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


# ---------------------------------------------------------------------------------------- decoding
class _BadFile(ValueError):
    pass


class _Decoder:
    def __init__(self, npz):
        self.npz = npz
        self.members = {m.removesuffix(".npy") for m in npz.files}
        self._dataclasses = _dataclass_types()

    def _load(self, key, where):
        if not isinstance(key, str) or key == _HEADER_MEMBER or key not in self.members:
            raise _BadFile(f"{where} refers to an array {key!r} that the archive does not hold")
        try:
            return self.npz[key]
        except ValueError as exc:  # pickled (object) member, or not an .npy at all
            raise _BadFile(f"array {key!r} ({where}) cannot be read without unpickling or is damaged: {exc}") from None

    def __call__(self, node, where: str):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, dict) or not isinstance(node.get("__type__"), str):
            raise _BadFile(f"{where} is a JSON object without a known '__type__' tag")
        kind = node["__type__"]
        try:
            if kind == "float":
                if node["value"] not in ("nan", "inf", "-inf"):
                    raise _BadFile(f"{where}: {node['value']!r} is not a non-finite float")
                return float(node["value"])
            if kind == "tuple":
                return tuple(self(self._list(node["items"], where), where))
            if kind == "dict":
                if "items" in node:
                    items = node["items"]
                    if not isinstance(items, dict):
                        raise _BadFile(f"{where}: dictionary items are not a JSON object")
                    return {k: self(v, f"{where}[{k!r}]") for k, v in items.items()}
                keys = self(self._list(node["keys"], where), f"{where} (keys)")
                values = self._list(node["values"], where)
                if len(keys) != len(values):
                    raise _BadFile(f"{where}: {len(keys)} keys for {len(values)} values")
                try:
                    return {k: self(v, f"{where}[{k!r}]") for k, v in zip(keys, values)}
                except TypeError:  # an unhashable key
                    raise _BadFile(f"{where}: a dictionary key is not hashable") from None
            if kind == "ndarray":
                arr = self._load(node["key"], where)
                return arr[()] if node.get("scalar") else arr
            if kind == "object_array":
                shape = tuple(self._list(node["shape"], where))
                items = self(self._list(node["items"], where), where)
                if not all(isinstance(s, int) and s >= 0 for s in shape) or math.prod(shape) != len(items):
                    raise _BadFile(f"{where}: object array of shape {shape} with {len(items)} items")
                out = np.empty(len(items), dtype=object)
                out[:] = items
                return out.reshape(shape)
            if kind == "tensor":
                dtype = getattr(torch, str(node["dtype"]), None)
                if not isinstance(dtype, torch.dtype):
                    raise _BadFile(f"{where}: {node['dtype']!r} is not a torch dtype")
                arr = self._load(node["key"], where)
                t = torch.from_numpy(np.array(arr, copy=True)).to(dtype)
                return t.requires_grad_(True) if node.get("requires_grad") is True else t
            if kind == "dataclass":
                cls = self._dataclasses.get(node["name"])
                if cls is None:
                    raise _BadFile(f"{where}: {node['name']!r} is not one of the result types "
                                   f"{sorted(self._dataclasses)}")
                fields = node["fields"]
                known = {f.name for f in dataclasses.fields(cls)}
                if not isinstance(fields, dict) or not set(fields) <= known:
                    raise _BadFile(f"{where}: fields of {node['name']} do not match ({sorted(known)})")
                return cls(**{k: self(v, f"{where}.{k}") for k, v in fields.items()})
            if kind == "RandomState":
                rs = np.random.RandomState()
                rs.set_state(self(node["state"], f"{where}.state"))
                return rs
            if kind == "Generator":
                name = node["bit_generator"]
                if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
                    raise _BadFile(f"{where}: {name!r} is not a NumPy bit generator")
                bitgen = getattr(np.random, name)()
                bitgen.state = self(node["state"], f"{where}.state")
                return np.random.Generator(bitgen)
            if kind == "torch.device":
                return torch.device(str(node["value"]))
        except KeyError as exc:
            raise _BadFile(f"{where}: a {kind!r} node lacks its {exc.args[0]!r} entry") from None
        except (TypeError, ValueError, RuntimeError) as exc:
            if isinstance(exc, _BadFile):
                raise
            raise _BadFile(f"{where}: cannot rebuild the {kind!r} node ({exc})") from None
        raise _BadFile(f"{where} has the unknown type tag {kind!r}")

    @staticmethod
    def _list(value, where):
        if not isinstance(value, list):
            raise _BadFile(f"{where}: expected a JSON list, got {type(value).__name__}")
        return value


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
                raise _BadFile("the archive has no header: it was not written by sklearn_lrnn.save")
            header = _read_header(npz[_HEADER_MEMBER])
            cls = _estimator_class(header["class"])
            decode = _Decoder(npz)
            params = _json_object(header, "params")
            attributes = _json_object(header, "attributes")
            params = {k: decode(v, f"parameter {k}") for k, v in params.items()}
            attributes = {k: decode(v, f"attribute {k}") for k, v in attributes.items()}
    except _BadFile as exc:
        raise ValueError(f"{path} cannot be loaded: {exc}.") from None
    except (OSError, EOFError, ValueError, RecursionError, zipfile.BadZipFile) as exc:  # bad zip or member, too deep
        raise ValueError(f"{path} is damaged or not a file written by sklearn_lrnn.save: {exc}") from None
    unknown = sorted(set(params) - set(_constructor_defaults(cls)))
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
        raise _BadFile(f"the header's {key!r} entry is not a JSON object")
    return value


def _read_header(blob) -> dict:
    if not isinstance(blob, np.ndarray) or blob.dtype != np.uint8 or blob.ndim != 1:
        raise _BadFile("the header is not a byte string")
    try:
        header = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadFile(f"the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _BadFile("the header does not describe a sklearn_lrnn estimator")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _BadFile(f"the format version {version!r} is not an integer")
    if version > FORMAT_VERSION:
        raise _BadFile(f"it was written in format version {version} by a newer sklearn_lrnn; this version "
                       f"reads format {FORMAT_VERSION} and older: upgrade sklearn_lrnn")
    if version < 1:
        raise _BadFile(f"the format version {version} does not exist")
    name = header.get("class")
    if not isinstance(name, str) or name not in _ESTIMATOR_MODULES:
        raise _BadFile(f"the class {name!r} is not one that load() builds ({', '.join(_ESTIMATOR_MODULES)})")
    versions = header.get("versions")
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise _BadFile("the header's library versions are missing or malformed")
    return header
