"""The values of an estimator's state as a tree of plain JSON values and a set of NumPy arrays.

:class:`Encoder` turns a value into JSON (``None``, booleans, numbers, strings, lists) with tagged
nodes (``{"__type__": ...}``) for what JSON lacks: non-finite floats, tuples, dictionaries, arrays,
torch tensors, NumPy random generators, torch devices and the result containers of
:mod:`sklearn_lrnn.dynamics`; the arrays go aside, one per name, for the file to store as ``.npy``
members. :class:`Decoder` rebuilds the value from such a tree, accepting only those tags and those
result types and reading arrays without unpickling, so that decoding a hostile tree can fail but can
never run code from it. Every failure is a :class:`BadFile` naming where in the tree it is.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ..dynamics._results import Cycles, FixedPoints

__all__ = ["BadFile", "Decoder", "Encoder"]

# the dataclasses a tree may hold, by name: a file can build these and no other class
_RESULT_TYPES = {cls.__name__: cls for cls in (FixedPoints, Cycles)}

# the NumPy bit generators a Generator node may name (the only classes it may build)
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class BadFile(ValueError):
    """A tree, or the archive holding it, that is not what :class:`Encoder` writes."""


class Encoder:
    """Turns a value into a JSON tree, collecting its arrays (named ``a0``, ``a1``, ...)."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

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
            if _RESULT_TYPES.get(name) is not type(obj):
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


class Decoder:
    """Rebuilds values from the trees of :class:`Encoder`, reading their arrays from ``npz``.

    ``npz`` is the archive opened with ``numpy.load(..., allow_pickle=False)``; its members named in
    ``reserved`` (the file's own header) are not arrays of the tree and cannot be referred to.
    """

    def __init__(self, npz, *, reserved=()):
        self.npz = npz
        self.members = {m.removesuffix(".npy") for m in npz.files} - set(reserved)

    def _load(self, key, where):
        if not isinstance(key, str) or key not in self.members:
            raise BadFile(f"{where} refers to an array {key!r} that the archive does not hold")
        try:
            return self.npz[key]
        except ValueError as exc:  # pickled (object) member, or not an .npy at all
            raise BadFile(f"array {key!r} ({where}) cannot be read without unpickling or is damaged: {exc}") from None

    def __call__(self, node, where: str):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, dict) or not isinstance(node.get("__type__"), str):
            raise BadFile(f"{where} is a JSON object without a known '__type__' tag")
        kind = node["__type__"]
        try:
            if kind == "float":
                if node["value"] not in ("nan", "inf", "-inf"):
                    raise BadFile(f"{where}: {node['value']!r} is not a non-finite float")
                return float(node["value"])
            if kind == "tuple":
                return tuple(self(self._list(node["items"], where), where))
            if kind == "dict":
                if "items" in node:
                    items = node["items"]
                    if not isinstance(items, dict):
                        raise BadFile(f"{where}: dictionary items are not a JSON object")
                    return {k: self(v, f"{where}[{k!r}]") for k, v in items.items()}
                keys = self(self._list(node["keys"], where), f"{where} (keys)")
                values = self._list(node["values"], where)
                if len(keys) != len(values):
                    raise BadFile(f"{where}: {len(keys)} keys for {len(values)} values")
                try:
                    return {k: self(v, f"{where}[{k!r}]") for k, v in zip(keys, values)}
                except TypeError:  # an unhashable key
                    raise BadFile(f"{where}: a dictionary key is not hashable") from None
            if kind == "ndarray":
                arr = self._load(node["key"], where)
                return arr[()] if node.get("scalar") else arr
            if kind == "object_array":
                shape = tuple(self._list(node["shape"], where))
                items = self(self._list(node["items"], where), where)
                if not all(isinstance(s, int) and s >= 0 for s in shape) or math.prod(shape) != len(items):
                    raise BadFile(f"{where}: object array of shape {shape} with {len(items)} items")
                out = np.empty(len(items), dtype=object)
                out[:] = items
                return out.reshape(shape)
            if kind == "tensor":
                dtype = getattr(torch, str(node["dtype"]), None)
                if not isinstance(dtype, torch.dtype):
                    raise BadFile(f"{where}: {node['dtype']!r} is not a torch dtype")
                arr = self._load(node["key"], where)
                t = torch.from_numpy(np.array(arr, copy=True)).to(dtype)
                return t.requires_grad_(True) if node.get("requires_grad") is True else t
            if kind == "dataclass":
                cls = _RESULT_TYPES.get(node["name"])
                if cls is None:
                    raise BadFile(f"{where}: {node['name']!r} is not one of the result types "
                                   f"{sorted(_RESULT_TYPES)}")
                fields = node["fields"]
                known = {f.name for f in dataclasses.fields(cls)}
                if not isinstance(fields, dict) or not set(fields) <= known:
                    raise BadFile(f"{where}: fields of {node['name']} do not match ({sorted(known)})")
                return cls(**{k: self(v, f"{where}.{k}") for k, v in fields.items()})
            if kind == "RandomState":
                rs = np.random.RandomState()
                rs.set_state(self(node["state"], f"{where}.state"))
                return rs
            if kind == "Generator":
                name = node["bit_generator"]
                if name not in _BIT_GENERATORS:
                    raise BadFile(f"{where}: {name!r} is not a NumPy bit generator")
                bitgen = getattr(np.random, name)()
                bitgen.state = self(node["state"], f"{where}.state")
                return np.random.Generator(bitgen)
            if kind == "torch.device":
                return torch.device(str(node["value"]))
        except KeyError as exc:
            raise BadFile(f"{where}: a {kind!r} node lacks its {exc.args[0]!r} entry") from None
        except (TypeError, ValueError, RuntimeError) as exc:
            if isinstance(exc, BadFile):
                raise
            raise BadFile(f"{where}: cannot rebuild the {kind!r} node ({exc})") from None
        raise BadFile(f"{where} has the unknown type tag {kind!r}")

    @staticmethod
    def _list(value, where):
        if not isinstance(value, list):
            raise BadFile(f"{where}: expected a JSON list, got {type(value).__name__}")
        return value
