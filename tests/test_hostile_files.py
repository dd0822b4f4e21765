"""Hostile model files: whatever bytes `deepnet.load`, `deepnet.io.from_bytes` or
`pickle.loads` (of a pickled model whose bytes were tampered with) get, the only outcome
besides a model is a ValueError whose message starts with "not a valid deepnet model file:"
and names the offending field (or an OSError for I/O): never an abort, a Rust panic, a
RecursionError, OverflowError, MemoryError, KeyError, TypeError or IndexError, and never an
allocation sized by the file before it was validated.

Every file is crafted from a valid saved model (small dense nets, float32 and float64, with
and without optimizer state, with Dropout) by rewriting its safetensors header by hand. Each
case is loaded in a subprocess limited to 4 GiB of address space, so that an abort fails
its test instead of killing pytest and an oversized allocation fails instead of swapping the
machine. Cases run in batches (one subprocess loads many files and prints one JSON line per
load); when a batch dies, the case that was loading is rerun alone to record its exit status
and stderr, and the batch goes on after it.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import deepnet as dn
import numpy as np
import pytest

PREFIX = "not a valid deepnet model file:"
MEMORY_LIMIT = 4 << 30
BATCH_TIMEOUT_S = 120
MODES = ("bytes", "load", "pickle")
MARK = "@@hostile "

# -- safetensors by hand ---------------------------------------------------------------------


def st_split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON header and the data part of safetensors bytes."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def st_len(data: bytes) -> int:
    """The header length a file claims."""
    return struct.unpack("<Q", data[:8])[0]


def st_join(header: Any, body: bytes = b"", raw: bytes | None = None) -> bytes:
    """8-byte little-endian header length + JSON header (padded to 8 bytes) + data."""
    text = raw if raw is not None else json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def st_pack(metadata: dict[str, Any] | None, tensors: dict[str, tuple[str, list, bytes]]) -> bytes:
    """A safetensors file of `tensors` (name -> (dtype, shape, raw bytes)) laid out one after
    the other in the given order."""
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    body = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(body), len(body) + len(raw)],
        }
        body += raw
    return st_join(header, body)


class Parts:
    """A model file taken apart: metadata, the architecture (parsed) and the tensors."""

    def __init__(self, data: bytes) -> None:
        header, body = st_split(data)
        self.meta: dict[str, Any] = header.pop("__metadata__")
        self.arch: Any = json.loads(self.meta["architecture"])
        # the cases are written against format version 1 (n_x), which deepnet still reads:
        # a version-2 file of a network of vectors (input_shape of one axis) is put in that form
        if isinstance(self.arch, dict) and len(self.arch.get("input_shape", ())) == 1:
            self.arch["n_x"] = self.arch.pop("input_shape")[0]
            self.meta["format_version"] = "1"
        self.tensors: dict[str, tuple[str, list, bytes]] = {
            name: (info["dtype"], list(info["shape"]), body[slice(*info["data_offsets"])])
            for name, info in header.items()
        }

    def array(self, name: str) -> np.ndarray:
        dtype, shape, raw = self.tensors[name]
        return np.frombuffer(raw, {"F32": "<f4", "F64": "<f8"}[dtype]).reshape(shape).copy()

    def put(self, name: str, value: np.ndarray) -> None:
        """Sets tensor `name` (F32 or F64, as the array)."""
        dtype = {"float32": "F32", "float64": "F64"}[value.dtype.name]
        self.tensors[name] = (dtype, list(value.shape), value.tobytes())


# -- the valid models every case starts from -------------------------------------------------


def make_bases() -> dict[str, bytes]:
    """Valid model files, deterministic (seeded)."""
    from deepnet.io import to_bytes
    from deepnet.optimizers import SGD, Adam, Momentum, RMSprop, schedules

    rng = np.random.default_rng(7)
    out: dict[str, bytes] = {}
    X3 = rng.normal(size=(3, 24))
    labels3 = rng.integers(0, 3, 24)
    X2 = rng.normal(size=(2, 16))
    labels2 = rng.integers(0, 2, 16)

    def f32_net() -> dn.Sequential:
        return dn.Sequential(
            [dn.Dense(4, activation="relu"), dn.Dropout(0.25), dn.Dense(3, activation="softmax")],
            n_x=3,
            loss="categorical_crossentropy",
            seed=1,
        )

    def f64_net() -> dn.Sequential:
        return dn.Sequential(
            [dn.Dense(3, activation="tanh"), dn.Dense(1, activation="sigmoid")],
            n_x=2,
            loss="binary_crossentropy",
            seed=2,
            dtype="float64",
        )

    out["f32"] = to_bytes(f32_net())
    out["f64"] = to_bytes(f64_net())
    model = f32_net()
    model.fit(X3, labels3, epochs=2, batch_size=8, optimizer=Adam(), verbose=0)
    out["f32_adam"] = to_bytes(model)
    model = f32_net()
    model.fit(X3, labels3, epochs=1, batch_size=8, optimizer=SGD(0.05), verbose=0)
    out["f32_sgd"] = to_bytes(model)
    model = f64_net()
    model.fit(X2, labels2, epochs=2, batch_size=8, optimizer=Adam(0.01), verbose=0)
    out["f64_adam"] = to_bytes(model)
    model = dn.Sequential(
        [dn.Dense(5, activation="relu", l2=0.01), dn.Dense(2, activation="linear")],
        n_x=2,
        loss="mse",
        seed=3,
        dtype="float64",
    )
    model.fit(
        X2,
        rng.normal(size=(2, 16)),
        epochs=2,
        batch_size=4,
        optimizer=Momentum(schedules.StepDecay(0.05, drop=0.5, epochs_per_drop=1), beta=0.8),
        verbose=0,
    )
    out["f64_momentum"] = to_bytes(model)
    model = dn.Sequential(
        [dn.Dense(3, activation="leaky_relu"), dn.Dropout(0.5), dn.Dense(1)],
        n_x=3,
        loss="mse",
        seed=4,
    )
    model.fit(
        X3,
        rng.normal(size=(1, 24)),
        epochs=2,
        batch_size=12,
        optimizer=RMSprop(schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.9)),
        verbose=0,
    )
    out["f32_rmsprop"] = to_bytes(model)
    return out


# -- cases -----------------------------------------------------------------------------------

Make = Callable[[dict[str, bytes]], bytes]
DELETE = object()


@dataclass(frozen=True)
class Case:
    id: str
    make: Make
    #: "reject": must raise ValueError; "either": ValueError or a model; "accept": a model
    expect: str = "reject"
    #: lowercase substrings; the message must contain one of them (none: the prefix only)
    fields: tuple[str, ...] = ()
    #: what to run on a loaded model: "use" (predict, re-save), "adam_step" (one fit step,
    #: compared with Adam's formula)
    check: str = "use"


def _fields(fields: str | tuple[str, ...]) -> tuple[str, ...]:
    return (fields,) if isinstance(fields, str) else tuple(fields)


def edit(
    base: str,
    arch: Callable[[Any], Any] | None = None,
    meta: Callable[[dict[str, Any]], Any] | None = None,
    tensors: Callable[[Parts], Any] | None = None,
) -> Make:
    """A file made from base `base` by mutating its parsed architecture, its metadata (the
    architecture there is a string, already re-serialized) and/or its tensors."""

    def make(bases: dict[str, bytes]) -> bytes:
        parts = Parts(bases[base])
        if tensors is not None:
            tensors(parts)
        if arch is not None:
            replaced = arch(parts.arch)
            if replaced is not None:
                parts.arch = replaced
        m = dict(parts.meta)
        m["architecture"] = json.dumps(parts.arch)
        if meta is not None:
            meta(m)
        return st_pack(m, parts.tensors)

    return make


def at(path: tuple[Any, ...], value: Any) -> Callable[[Any], None]:
    """An architecture mutation: sets (or, with DELETE, removes) the item at `path`."""

    def f(arch: Any) -> None:
        obj = arch
        for key in path[:-1]:
            obj = obj[key]
        if value is DELETE:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value

    return f


def raw_arch(base: str, old: str, new: str) -> Make:
    """A file whose architecture JSON text has `old` replaced by `new` (for JSON the json
    module would not write: 1e400, NaN, duplicate keys)."""

    def set_text(meta: dict[str, Any]) -> None:
        assert old in meta["architecture"], (old, meta["architecture"])
        meta["architecture"] = meta["architecture"].replace(old, new, 1)

    return edit(base, meta=set_text)


def raw_header(base: str, change: Callable[[dict[str, Any]], Any]) -> Make:
    """A file whose safetensors header (parsed, __metadata__ included) is changed in place;
    the data part is kept."""

    def make(bases: dict[str, bytes]) -> bytes:
        header, body = st_split(bases[base])
        change(header)
        return st_join(header, body)

    return make


def raw_bytes(fn: Callable[[bytes], bytes], base: str = "f32_adam") -> Make:
    return lambda bases: fn(bases[base])


CASES: list[Case] = []


def case(id: str, make: Make, fields: str | tuple[str, ...] = (), **kw: Any) -> None:
    CASES.append(Case(id, make, fields=_fields(fields), **kw))


# controls: the valid files, and the same files taken apart and packed again by the helpers
BASES = ("f32", "f64", "f32_adam", "f32_sgd", "f64_adam", "f64_momentum", "f32_rmsprop")
for _b in BASES:
    case(f"control-{_b}", raw_bytes(lambda d: d, _b), expect="accept")
    case(f"control-repacked-{_b}", edit(_b), expect="accept")
case("control-adam-step", edit("f64_adam"), expect="accept", check="adam_step")

# layer sizes
for _id, _v in [
    ("1e12", 10**12),
    ("1e19", 10**19),
    ("2**64", 2**64),
    ("2**63", 2**63),
    ("5e7", 5 * 10**7),
    ("2**24+1", 2**24 + 1),
    ("-1", -1),
    ("0", 0),
    ("1.5", 1.5),
    ("4.0", 4.0),
    ("ten", "ten"),
    ("true", True),
    ("null", None),
    ("list", [4]),
    ("object", {"units": 4}),
    ("missing", DELETE),
]:
    case(f"units-{_id}", edit("f32", at(("layers", 0, "units"), _v)), "units")
    case(f"units-{_id}-f64-adam", edit("f64_adam", at(("layers", 1, "units"), _v)), "units")
# 1e400, NaN and lone surrogates are not JSON numbers/strings to a strict parser: "the
# architecture is not valid JSON" is a fine message for them
case("units-1e400", raw_arch("f32", '"units": 4', '"units": 1e400'), ("units", "architecture"))
case("units-NaN-token", raw_arch("f32", '"units": 4', '"units": NaN'), ("units", "architecture"))
case("units-duplicate-key", raw_arch("f32", '"units": 4', '"units": 4, "units": 1e12'), "units")
case("units-2**24-tensors-small", edit("f32", at(("layers", 0, "units"), 2**24)), "layers.")


def _layers(specs: list[dict[str, Any]], **fields: Any) -> Callable[[Any], None]:
    """An architecture mutation: these layers (and fields), with loss "mse" so that the last
    activation is never what is wrong."""

    def f(arch: Any) -> None:
        arch.update(layers=specs, loss="mse", **fields)

    return f


def _dense(units: Any, activation: str = "relu") -> dict[str, Any]:
    return {"type": "dense", "units": units, "activation": activation}


# within the limits one by one, too big together: must fail on the (small) tensors of the
# file, before the parameters are allocated
case(
    "units-2**15-thrice-2**31-parameters",
    edit("f32", _layers([_dense(2**15)] * 3)),
    ("layers", "parameters"),
)
case(
    "units-and-n_x-2**24-tensor-2**48-elements",
    edit("f32", _layers([_dense(2**24)], n_x=2**24)),
    ("layers.0.w", "units", "n_x", "elements"),
)
case(
    "layers-1024-of-2**14-total-2**38",
    edit("f32", _layers([_dense(2**14)] * 1024, n_x=2**14)),
    ("layers", "parameters"),
)
case(
    "units-huge-with-matching-header-shape",
    edit(
        "f32",
        at(("layers", 0, "units"), 10**12),
        tensors=lambda p: p.tensors.update({"layers.0.W": ("F32", [10**12, 3], b"\0" * 48)}),
    ),
    ("units", "layers.0.w"),
)

# the layer list
_DENSE1 = _dense(1, "linear")
case("layers-1025", edit("f32", _layers([_DENSE1] * 1025)), "layers")
case("layers-20000", edit("f32", _layers([_DENSE1] * 20000)), "layers")
case("layers-empty", edit("f32", at(("layers",), [])), "layer")
case("layers-object", edit("f32", at(("layers",), {"0": _DENSE1})), "layers")
case("layers-string", edit("f32", at(("layers",), "dense")), "layers")
case("layers-null", edit("f32", at(("layers",), None)), "layers")
case("layers-missing", edit("f32", at(("layers",), DELETE)), "layers")
for _id, _v in [("int", 1), ("string", "dense"), ("null", None), ("list", [_DENSE1])]:
    case(f"layer-spec-{_id}", edit("f32", at(("layers", 0), _v)), "layer")
for _id, _v in [
    ("conv3d", "conv3d"),
    ("Dense", "Dense"),
    ("int", 1),
    ("null", None),
    ("code", "__import__('os').system('true')"),
    ("missing", DELETE),
]:
    case(f"layer-type-{_id}", edit("f32", at(("layers", 0, "type"), _v)), "type")
# a known type with another layer's fields
case(
    "layer-dense-as-conv2d", edit("f32", at(("layers", 0, "type"), "conv2d")), ("units", "filters")
)
case(
    "layer-dropout-as-dense",
    edit("f32", at(("layers", 1), {"type": "dense", "rate": 0.25})),
    ("units", "activation", "layers.1"),
)
case("only-dropout", edit("f32", _layers([{"type": "dropout", "rate": 0.1}])), "layers.")
for _id, _v in [
    ("unknown", "swish"),
    ("capitalized", "ReLU"),
    ("nul", "relu\0"),
    ("int", 3),
    ("null", None),
]:
    case(f"activation-{_id}", edit("f32", at(("layers", 0, "activation"), _v)), "activation")
case(
    "activation-missing",
    edit("f32", at(("layers", 0, "activation"), DELETE)),
    "activation",
    expect="either",
)
for _id, _v in [("-1", -1), ("string", "0.1"), ("nan-string", "NaN"), ("true", True)]:
    case(f"l2-{_id}", edit("f32", at(("layers", 0, "l2"), _v)), "l2")
case(
    "l2-1e400",
    raw_arch("f32", '"activation": "relu"', '"activation": "relu", "l2": 1e400'),
    ("l2", "architecture"),
)
for _id, _v in [
    ("1.0", 1.0),
    ("1.5", 1.5),
    ("-0.1", -0.1),
    ("string", "0.2"),
    ("null", None),
    ("missing", DELETE),
]:
    case(f"dropout-rate-{_id}", edit("f32", at(("layers", 1, "rate"), _v)), "rate")
case(
    "layer-extra-field",
    edit("f32", at(("layers", 0, "bias_initializer"), "zeros")),
    "bias_initializer",
    expect="either",
)
case(
    "dropout-extra-field",
    edit("f32", at(("layers", 1, "noise_shape"), [1, 2])),
    "noise_shape",
    expect="either",
)
case("arch-extra-field", edit("f32", at(("comment",), "hi")), "comment", expect="either")
case("deepnet-version-int", edit("f32", at(("deepnet_version",), 5)), "version", expect="either")

# n_x, dtype, loss, seed
for _id, _v in [
    ("1e12", 10**12),
    ("2**24+1", 2**24 + 1),
    ("2**64", 2**64),
    ("-1", -1),
    ("0", 0),
    ("3.5", 3.5),
    ("3.0", 3.0),
    ("string", "3"),
    ("true", True),
    ("null", None),
    ("list", [3]),
    ("missing", DELETE),
]:
    case(f"n_x-{_id}", edit("f32", at(("n_x",), _v)), "n_x")
# format version 2: input_shape (any number of axes) instead of n_x


def _v2(shape: Any) -> Callable[[Any], Any]:
    def f(arch: Any) -> None:
        arch["input_shape"] = shape
        del arch["n_x"]

    return f


def _version(v: str) -> Callable[[dict[str, Any]], None]:
    def f(meta: dict[str, Any]) -> None:
        meta["format_version"] = v

    return f


for _id, _v in [
    ("huge", [10**12]),
    ("negative", [-3]),
    ("empty", []),
    ("nested", [[3]]),
    ("string", "3"),
    ("2**64", [2**64]),
    ("too-many-elements", [2**24, 2**24]),
    ("2-d-for-dense", [3, 1]),
]:
    case(f"input_shape-{_id}", edit("f32", _v2(_v), _version("2")), ("input_shape",))
case(
    "input_shape-and-n_x",
    edit("f32", lambda a: a.update(input_shape=[3]), _version("2")),
    ("input_shape", "n_x"),
)
case("input_shape-version-2", edit("f32", _v2([3]), _version("2")), expect="accept")
case("n_x-1e400", raw_arch("f32", '"n_x": 3', '"n_x": 1e400'), ("n_x", "architecture"))
case("n_x-2**24-tensors-small", edit("f32", at(("n_x",), 2**24)), ("layers.0.w", "n_x"))
case("n_x-4-tensors-for-3", edit("f32", at(("n_x",), 4)), ("layers.0.w", "n_x"))
for _id, _v in [
    ("float16", "float16"),
    ("int32", "int32"),
    ("F32", "F32"),
    ("object", "object"),
    ("int", 32),
    ("null", None),
    ("missing", DELETE),
]:
    case(f"dtype-{_id}", edit("f32", at(("dtype",), _v)), "dtype")
case("dtype-float64-tensors-f32", edit("f32", at(("dtype",), "float64")), ("layers.0.w", "dtype"))
case("dtype-float32-tensors-f64", edit("f64", at(("dtype",), "float32")), ("layers.0.w", "dtype"))
for _id, _v in [
    ("unknown", "hinge"),
    ("int", 3),
    ("null", None),
    ("missing", DELETE),
    ("code", "__import__('os')"),
]:
    case(f"loss-{_id}", edit("f32", at(("loss",), _v)), "loss")
for _id, _v in [
    ("-1", -1),
    ("2**64", 2**64),
    ("1e30", 10**30),
    ("1.5", 1.5),
    ("string", "0"),
    ("true", True),
    ("null", None),
    ("missing", DELETE),
]:
    case(f"seed-{_id}", edit("f32", at(("seed",), _v)), "seed")
case("seed-2**64-1", edit("f32", at(("seed",), 2**64 - 1)), "seed", expect="either")

# the architecture as a whole, nesting, metadata
_DEEP = 100_000


def _set_arch_text(text: str) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta.__setitem__("architecture", text)


for _id, _text in [
    ("not-json", "{not json"),
    ("empty", ""),
    ("array", "[1]"),
    ("null", "null"),
    ("number", "42"),
    ("string", '"layers"'),
    ("truncated", '{"n_x": 3, "layers": [{"type": "dense"'),
    ("trailing-garbage", '{"n_x": 3} xyz'),
    ("deep-open-brackets", "[" * _DEEP),
    ("deep-balanced-brackets", "[" * _DEEP + "]" * _DEEP),
    ("deep-objects", '{"a":' * _DEEP + "1" + "}" * _DEEP),
    ("huge-string", '{"x": "' + "a" * 5_000_000 + '"}'),
]:
    case(f"arch-{_id}", edit("f32", meta=_set_arch_text(_text)), "architecture")
case("arch-missing", edit("f32", meta=lambda m: m.pop("architecture")), "architecture")
case("arch-lone-surrogate", edit("f32", at(("loss",), "\ud800")), ("loss", "architecture"))


def _in_arch(key: str, value_text: str) -> Callable[[dict[str, Any]], None]:
    """Sets architecture field `key` to raw JSON text."""

    def f(meta: dict[str, Any]) -> None:
        arch = json.loads(meta["architecture"])
        arch[key] = "@@VALUE@@"
        meta["architecture"] = json.dumps(arch).replace('"@@VALUE@@"', value_text)

    return f


for _key, _fields_ in [
    ("layers", ("layers", "architecture")),
    ("rng_states", ("rng_states", "architecture")),
    ("optimizer", ("optimizer", "architecture")),
]:
    case(
        f"{_key}-deep-open-brackets",
        edit("f32_adam", meta=_in_arch(_key, "[" * _DEEP)),
        _fields_,
    )
    case(
        f"{_key}-deep-balanced-brackets",
        edit("f32_adam", meta=_in_arch(_key, "[" * _DEEP + "]" * _DEEP)),
        _fields_,
    )
case(
    "hyper-deep-balanced-brackets",
    raw_arch("f32_adam", '"beta1": 0.9', '"beta1": ' + "[" * _DEEP + "]" * _DEEP),
    ("beta1", "architecture"),
)

for _id, _change, _fields_ in [
    ("format-missing", lambda m: m.pop("format"), "format"),
    ("format-other", lambda m: m.update(format="pytorch"), "format"),
    ("format-version-3", lambda m: m.update(format_version="3"), ("format_version", "version")),
    ("format-version-0", lambda m: m.update(format_version="0"), ("format_version", "version")),
    ("format-version-1.0", lambda m: m.update(format_version="1.0"), ("format_version", "version")),
    ("format-version-missing", lambda m: m.pop("format_version"), ("format_version", "version")),
]:
    case(_id, edit("f32", meta=_change), _fields_)
case("metadata-missing", lambda b: st_pack(None, Parts(b["f32"]).tensors), ("format", "metadata"))
case("metadata-not-strings", edit("f32", meta=lambda m: m.update(format_version=1)), ())
case("metadata-list", raw_header("f32", lambda h: h.update(__metadata__=["format"])), ())

# rng_states


def _rng(fn: Callable[[list], Any]) -> Callable[[Any], None]:
    return lambda a: a.update(rng_states=fn(a["rng_states"]))


for _id, _fn in [
    ("empty", lambda s: []),
    ("one", lambda s: s[:1]),
    ("three", lambda s: s + s[:1]),
    ("many", lambda s: s * 1000),
    ("not-hex", lambda s: ["z" * len(s[0])] + s[1:]),
    ("short", lambda s: [s[0][:10]] + s[1:]),
    ("odd-length", lambda s: [s[0][:-1]] + s[1:]),
    ("too-long", lambda s: [s[0] + "00"] + s[1:]),
    ("non-ascii", lambda s: ["é" * (len(s[0]) // 2)] + s[1:]),
    ("sign", lambda s: [s[0][:64] + "+" + s[0][65:]] + s[1:]),
    ("ints", lambda s: [1] * len(s)),
    ("nulls", lambda s: [None] * len(s)),
    ("nested", lambda s: [s]),
    ("string", lambda s: s[0]),
    ("null", lambda s: None),
]:
    case(f"rng_states-{_id}", edit("f32_adam", _rng(_fn)), "rng_states")
case("rng_states-missing", edit("f32_adam", at(("rng_states",), DELETE)), "rng_states")
case(
    "rng_states-uppercase",
    edit("f32_adam", _rng(lambda s: [x.upper() for x in s])),
    "rng_states",
    expect="either",
)
case(
    "rng_states-zero",
    edit("f32_adam", _rng(lambda s: ["0" * len(x) for x in s])),
    "rng_states",
    expect="either",
)

# tensors


def _drop(*names: str) -> Callable[[Parts], None]:
    return lambda p: [p.tensors.pop(n) for n in names]


def _reshape(name: str, shape: list[int]) -> Callable[[Parts], None]:
    def f(p: Parts) -> None:
        dtype, _, raw = p.tensors[name]
        size = {"F32": 4, "F64": 8}[dtype]
        n = int(np.prod(shape))
        p.tensors[name] = (dtype, shape, (raw * (n // max(len(raw) // size, 1) + 1))[: n * size])

    return f


def _as_dtype(name: str, dtype: str, itemsize: int) -> Callable[[Parts], None]:
    def f(p: Parts) -> None:
        _, shape, _ = p.tensors[name]
        p.tensors[name] = (dtype, shape, bytes(int(np.prod(shape)) * itemsize))

    return f


def _poison(name: str, value: float, index: int = 0) -> Callable[[Parts], None]:
    def f(p: Parts) -> None:
        a = p.array(name)
        a.flat[index] = value
        p.put(name, a)

    return f


case("tensor-missing-layers.0.W", edit("f32", tensors=_drop("layers.0.W")), "layers.0.w")
case("tensor-missing-layers.2.b", edit("f32", tensors=_drop("layers.2.b")), "layers.2.b")
case("tensor-missing-layers.1.W-f64", edit("f64_adam", tensors=_drop("layers.1.W")), "layers.1.w")
case(
    "tensor-missing-all",
    edit("f32", tensors=lambda p: p.tensors.clear()),
    ("layers.0.w", "layers.0.b", "layers.2.w", "layers.2.b"),
)
for _name in ("layers.1.W", "layers.3.W", "layers.0.Z", "foo", "", "layers.00.W"):
    case(
        f"tensor-extra-{_name or 'empty-name'}",
        edit("f32", tensors=lambda p, n=_name: p.put(n, np.zeros((1, 1), np.float32))),
        _name.lower() or (),
    )
for _id, _name, _shape in [
    ("W-transposed", "layers.0.W", [3, 4]),
    ("W-3d", "layers.0.W", [4, 3, 1]),
    ("W-1d", "layers.0.W", [12]),
    ("W-empty", "layers.0.W", [0, 3]),
    ("b-1d", "layers.0.b", [4]),
    ("b-row", "layers.0.b", [1, 4]),
    ("layer2-W", "layers.2.W", [4, 3]),
    ("layer2-b-longer", "layers.2.b", [4, 1]),
]:
    case(f"tensor-shape-{_id}", edit("f32", tensors=_reshape(_name, _shape)), _name.lower())
case("tensor-shape-scalar", edit("f32", tensors=_reshape("layers.2.b", [])), "layers.2.b")
case(
    "tensor-shape-f64-layer1-W",
    edit("f64_adam", tensors=_reshape("layers.1.W", [3, 1])),
    "layers.1.w",
)
for _id, _base, _name, _dtype, _size in [
    ("F64-in-float32", "f32", "layers.0.W", "F64", 8),
    ("F32-in-float64", "f64", "layers.1.b", "F32", 4),
    ("I32", "f32", "layers.0.W", "I32", 4),
    ("BF16", "f32", "layers.0.W", "BF16", 2),
    ("F16", "f32", "layers.2.b", "F16", 2),
    ("I64", "f64", "layers.0.W", "I64", 8),
    ("U8", "f32", "layers.0.W", "U8", 1),
    ("BOOL", "f32", "layers.0.b", "BOOL", 1),
]:
    case(
        f"tensor-dtype-{_id}",
        edit(_base, tensors=_as_dtype(_name, _dtype, _size)),
        (_name.lower(), "dtype"),
    )
for _id, _dtype in [("F128", "F128"), ("lowercase", "f32"), ("int", 32)]:
    case(
        f"tensor-dtype-name-{_id}",
        raw_header("f32", lambda h, d=_dtype: h["layers.0.W"].update(dtype=d)),
        ("layers.0.w", "dtype"),
    )
for _id, _name, _value in [
    ("nan-W", "layers.0.W", float("nan")),
    ("inf-b", "layers.2.b", float("inf")),
    ("neg-inf-W", "layers.2.W", float("-inf")),
]:
    case(
        f"tensor-{_id}",
        edit("f32", tensors=_poison(_name, _value)),
        _name.lower(),
        expect="either",
    )
case(
    "tensor-nan-f64",
    edit("f64_adam", tensors=_poison("layers.1.W", float("nan"), 2)),
    "layers.1.w",
    expect="either",
)

# the safetensors layer: header length, offsets, header JSON


def _offsets(name: str, offsets: Any) -> Callable[[dict[str, Any]], None]:
    return lambda h: h[name].update(data_offsets=offsets)


for _id, _change in [
    ("overlap", _offsets("layers.0.b", [40, 56])),
    ("out-of-range", _offsets("optimizer.3.v", [304, 10**6])),
    ("reversed", _offsets("layers.0.W", [48, 0])),
    ("huge", _offsets("layers.0.W", [2**64 - 8, 2**64 - 1])),
    ("beyond-u64", _offsets("layers.0.W", [0, 2**64])),
    ("negative", _offsets("layers.0.W", [-48, 0])),
    ("float", _offsets("layers.0.W", [0.0, 48.0])),
    ("three", _offsets("layers.0.W", [0, 24, 48])),
    ("one", _offsets("layers.0.W", [48])),
    ("string", _offsets("layers.0.W", "0-48")),
    ("missing", lambda h: h["layers.0.W"].pop("data_offsets")),
    ("all-same", lambda h: [v.update(data_offsets=[0, 8]) for k, v in h.items() if k[0] != "_"]),
    ("shape-overflow", lambda h: h["layers.0.W"].update(shape=[2**62, 2**62])),
    ("shape-2**64", lambda h: h["layers.0.W"].update(shape=[2**64, 1])),
    ("shape-negative", lambda h: h["layers.0.W"].update(shape=[-4, -3])),
    ("shape-huge-product", lambda h: h["layers.0.W"].update(shape=[2**31, 2**31, 2**2])),
    ("shape-string", lambda h: h["layers.0.W"].update(shape="4x3")),
    ("dtype-missing", lambda h: h["layers.0.W"].pop("dtype")),
    ("info-not-object", lambda h: h.update({"layers.0.W": [0, 48]})),
]:
    case(f"header-{_id}", raw_header("f32_adam", _change), ())
case(
    "header-info-extra-key",
    raw_header("f32_adam", lambda h: h["layers.0.W"].update(comment="x")),
    (),
    expect="either",
)
case(
    "header-shape-claims-2**31-elements",
    lambda b: st_pack(
        Parts(b["f32"]).meta,
        {**Parts(b["f32"]).tensors, "layers.0.W": ("F32", [2**31], b"")},
    ),
    (),
)


def _with_header_length(n: int, tail: bytes = b"") -> Callable[[bytes], bytes]:
    return lambda d: struct.pack("<Q", n) + d[8:] + tail


for _id, _fn in [
    ("empty-file", lambda d: b""),
    ("one-byte", lambda d: b"\x00"),
    ("eight-zero-bytes", lambda d: b"\x00" * 8),
    ("length-larger-than-file", lambda d: _with_header_length(len(d))(d)),
    ("length-one-more", lambda d: _with_header_length(st_len(d) + 1)(d)),
    ("length-zero", lambda d: _with_header_length(0)(d)),
    ("length-2**40", lambda d: _with_header_length(2**40)(d)),
    ("length-2**63", lambda d: _with_header_length(2**63)(d)),
    ("length-max", lambda d: _with_header_length(2**64 - 1)(d)),
    ("length-only", lambda d: d[:8]),
    ("trailing-data", lambda d: d + b"\x00" * 16),
    ("not-json-header", lambda d: st_join(None, b"", raw=b"{this is not json}")),
    ("header-array", lambda d: st_join([1, 2, 3])),
    ("header-string", lambda d: st_join("deepnet")),
    ("header-null", lambda d: st_join(None)),
    ("header-empty-object", lambda d: st_join({})),
    ("header-not-utf8", lambda d: st_join(None, b"", raw=b'{"__metadata__": {"\xff": "x"}}')),
    ("header-deep", lambda d: st_join(None, b"", raw=b"[" * _DEEP)),
    ("header-deep-object", lambda d: st_join(None, b"", raw=b'{"a":' * _DEEP)),
    ("pickle", lambda d: pickle.dumps({"layers.0.W": [1, 2, 3]})),
    ("zip", lambda d: b"PK\x03\x04" + b"\x00" * 60),
]:
    case(f"bytes-{_id}", raw_bytes(_fn), ())


case(
    "header-duplicate-tensor-key",
    raw_bytes(
        lambda d: st_join(
            None,
            st_split(d)[1],
            raw=json.dumps(st_split(d)[0])
            .replace(
                '"layers.0.b":',
                '"layers.0.W": {"dtype": "F32", "shape": [2], '
                '"data_offsets": [0, 8]}, "layers.0.b":',
                1,
            )
            .encode(),
        )
    ),
    (),
    expect="either",
)
for _seed in range(6):
    for _n in (1, 8, 9, 64, 4096):
        if _seed and _n < 64:
            continue
        case(
            f"random-{_n}-bytes-seed{_seed}",
            lambda b, n=_n, s=_seed: bytes(
                np.random.default_rng(s).integers(0, 256, n, dtype=np.uint8)
            ),
            (),
        )
case(
    "random-body-valid-length",
    lambda b: (
        struct.pack("<Q", 120)
        + bytes(np.random.default_rng(9).integers(0, 256, 200, dtype=np.uint8))
    ),
    (),
)

# truncations: at the start, around the header's end, in the data, one byte short


_CUTS: list[tuple[str, Callable[[bytes], int]]] = [
    ("0", lambda d: 0),
    ("1", lambda d: 1),
    ("4", lambda d: 4),
    ("7", lambda d: 7),
    ("8", lambda d: 8),
    ("9", lambda d: 9),
    ("16", lambda d: 16),
    ("mid-header", lambda d: 8 + st_len(d) // 2),
    ("header-minus-1", lambda d: 8 + st_len(d) - 1),
    ("header-end", lambda d: 8 + st_len(d)),
    ("header-plus-1", lambda d: 8 + st_len(d) + 1),
    ("mid-data", lambda d: (8 + st_len(d) + len(d)) // 2),
    ("last-byte", lambda d: len(d) - 1),
] + [(f"{k}0pct", lambda d, k=k: len(d) * k // 10) for k in range(1, 10)]

for _b in ("f32_adam", "f64_momentum"):
    for _id, _cut in _CUTS:
        case(f"truncated-{_b}-{_id}", lambda b, c=_cut, base=_b: b[base][: c(b[base])], ())

# single-byte mutations (a fixed-seed mini fuzz): any outcome but a crash
for _seed in range(48):

    def _flip(b: dict[str, bytes], s: int = _seed) -> bytes:
        data = bytearray(b["f32_adam" if s % 2 else "f64_momentum"])
        r = np.random.default_rng(1000 + s)
        pos = int(r.integers(0, len(data)))
        data[pos] = int(r.choice([0, 0x22, 0x2C, 0x5B, 0x7B, 0x7D, 0x30, 0x39, 0xFF]))
        return bytes(data)

    case(f"byte-mutation-{_seed}", _flip, (), expect="either")

# optimizer: kind, hyperparameters, schedules

_OPT = ("optimizer",)
for _id, _v in [("adagrad", "adagrad"), ("int", 3), ("null", None), ("missing", DELETE)]:
    case(f"optimizer-kind-{_id}", edit("f32_adam", at(_OPT + ("kind",), _v)), ("optimizer", "kind"))
for _id, _v in [("string", "adam"), ("list", []), ("int", 1), ("true", True)]:
    case(f"optimizer-{_id}", edit("f32_adam", at(_OPT, _v)), "optimizer")
for _id, _key, _v in [
    ("beta1-1.5", "beta1", 1.5),
    ("beta1-1", "beta1", 1.0),
    ("beta1-neg", "beta1", -0.1),
    ("beta1-nan-string", "beta1", "NaN"),
    ("beta1-null", "beta1", None),
    ("beta2-2", "beta2", 2),
    ("beta2-true", "beta2", True),
    ("eps-neg", "eps", -1),
    ("eps-0", "eps", 0),
    ("eps-nan-string", "eps", "NaN"),
    ("eps-inf-string", "eps", "inf"),
    ("eps-list", "eps", [1e-8]),
]:
    case(f"adam-{_id}", edit("f32_adam", at(_OPT + ("hyper", _key), _v)), _key)
case(
    "adam-beta1-NaN-token",
    raw_arch("f32_adam", '"beta1": 0.9', '"beta1": NaN'),
    ("beta1", "architecture"),
)
case(
    "adam-eps-1e400",
    raw_arch("f32_adam", '"eps": 1e-08', '"eps": 1e400'),
    ("eps", "architecture"),
)
case("adam-unknown-hyper", edit("f32_adam", at(_OPT + ("hyper", "gamma"), 0.5)), "gamma")
case("adam-hyper-list", edit("f32_adam", at(_OPT + ("hyper",), [0.9])), "hyper")
case("adam-hyper-string", edit("f32_adam", at(_OPT + ("hyper",), "beta1=0.9")), "hyper")
case(
    "adam-hyper-missing",
    edit("f32_adam", at(_OPT + ("hyper",), DELETE)),
    "hyper",
    expect="either",
)
case(
    "adam-beta1-missing",
    edit("f32_adam", at(_OPT + ("hyper", "beta1"), DELETE)),
    "beta1",
    expect="either",
)
case("momentum-beta-1", edit("f64_momentum", at(_OPT + ("hyper", "beta"), 1.0)), "beta")
case("momentum-beta-string", edit("f64_momentum", at(_OPT + ("hyper", "beta"), "0.9")), "beta")
case("momentum-adam-hyper", edit("f64_momentum", at(_OPT + ("hyper", "beta1"), 0.9)), "beta1")
case("rmsprop-rho-neg", edit("f32_rmsprop", at(_OPT + ("hyper", "rho"), -0.5)), "rho")
case(
    "rmsprop-eps-1e400",
    raw_arch("f32_rmsprop", '"eps": 1e-07', '"eps": 1e400'),
    ("eps", "architecture"),
)
_SCHED = _OPT + ("schedule",)
for _id, _base, _path, _v, _field in [
    ("unknown", "f32_adam", ("type",), "cosine", ("schedule", "type")),
    ("type-missing", "f32_adam", ("type",), DELETE, ("schedule", "type")),
    ("missing", "f32_adam", (), DELETE, "schedule"),
    ("string", "f32_adam", (), "constant", "schedule"),
    ("null", "f32_adam", (), None, "schedule"),
    ("lr-0", "f32_adam", ("learning_rate",), 0, "learning_rate"),
    ("lr-neg", "f32_adam", ("learning_rate",), -0.1, "learning_rate"),
    ("lr-string", "f32_adam", ("learning_rate",), "0.1", "learning_rate"),
    ("lr-nan-string", "f32_adam", ("learning_rate",), "NaN", "learning_rate"),
    ("lr-missing", "f32_adam", ("learning_rate",), DELETE, "learning_rate"),
    ("step-drop-neg", "f64_momentum", ("drop",), -0.5, "drop"),
    ("step-drop-string", "f64_momentum", ("drop",), "half", "drop"),
    ("step-epochs_per_drop-0", "f64_momentum", ("epochs_per_drop",), 0, "epochs_per_drop"),
    ("step-epochs_per_drop-2.5", "f64_momentum", ("epochs_per_drop",), 2.5, "epochs_per_drop"),
    ("step-epochs_per_drop-2**64", "f64_momentum", ("epochs_per_drop",), 2**64, "epochs_per_drop"),
    ("step-initial-lr-neg", "f64_momentum", ("initial_learning_rate",), -1, "learning_rate"),
    (
        "step-initial-lr-missing",
        "f64_momentum",
        ("initial_learning_rate",),
        DELETE,
        "learning_rate",
    ),
    ("step-unknown-key", "f64_momentum", ("warmup",), 3, "warmup"),
    ("exp-decay_steps-0", "f32_rmsprop", ("decay_steps",), 0, "decay_steps"),
    ("exp-decay_steps-2**64", "f32_rmsprop", ("decay_steps",), 2**64, "decay_steps"),
    ("exp-decay_steps-neg", "f32_rmsprop", ("decay_steps",), -2, "decay_steps"),
    ("exp-decay_rate-nan-string", "f32_rmsprop", ("decay_rate",), "NaN", "decay_rate"),
    ("exp-decay_rate-0", "f32_rmsprop", ("decay_rate",), 0, "decay_rate"),
    ("exp-decay_rate-missing", "f32_rmsprop", ("decay_rate",), DELETE, "decay_rate"),
]:
    case(f"schedule-{_id}", edit(_base, at(_SCHED + _path, _v)), _field)
case(
    "schedule-constant-extra-key",
    edit("f32_adam", at(_SCHED + ("warmup",), 3)),
    "warmup",
    expect="either",
)
case(
    "schedule-staircase-string",
    edit("f32_rmsprop", at(_SCHED + ("staircase",), "yes")),
    "staircase",
    expect="either",
)
case(
    "optimizer-on-untrained-no-counters",
    edit(
        "f32",
        at(
            _OPT,
            {"kind": "sgd", "hyper": {}, "schedule": {"type": "constant", "learning_rate": 0.1}},
        ),
    ),
    ("optimizer_iterations", "optimizer_epochs"),
)

# optimizer state tensors


def _adam_names(p: int) -> tuple[str, str]:
    return f"optimizer.{p}.m", f"optimizer.{p}.v"


for _id, _name, _shape in [
    ("0.m", "optimizer.0.m", [3, 4]),
    ("0.v", "optimizer.0.v", [4, 3, 1]),
    ("2.m", "optimizer.2.m", [3, 2]),
    ("2.v", "optimizer.2.v", [4, 3]),
    ("3.v", "optimizer.3.v", [4, 1]),
    ("3.m", "optimizer.3.m", [1]),
]:
    case(f"adam-state-shape-{_id}", edit("f32_adam", tensors=_reshape(_name, _shape)), _name)
case(
    "adam-state-shape-1.v-f64",
    edit("f64_adam", tensors=_reshape("optimizer.1.v", [1, 3])),
    "optimizer.1.v",
)
case(
    "adam-state-shape-3.m-f64",
    edit("f64_adam", tensors=_reshape("optimizer.3.m", [2, 1])),
    "optimizer.3.m",
)
case(
    "momentum-state-shape-3",
    edit("f64_momentum", tensors=_reshape("optimizer.3.velocity", [5, 1])),
    "optimizer.3.velocity",
)
case(
    "rmsprop-state-shape-2",
    edit("f32_rmsprop", tensors=_reshape("optimizer.2.mean_square", [3, 1])),
    "optimizer.2.mean_square",
)
case("adam-state-missing-1.v", edit("f32_adam", tensors=_drop("optimizer.1.v")), "optimizer.1.v")
case("adam-state-missing-3.m", edit("f32_adam", tensors=_drop("optimizer.3.m")), "optimizer.3.m")
case(
    "adam-state-missing-0.m",
    edit("f32_adam", tensors=_drop("optimizer.0.m")),
    "optimizer.0.m",
)
case(
    "adam-state-missing-all-v",
    edit("f32_adam", tensors=_drop(*(f"optimizer.{p}.v" for p in range(4)))),
    tuple(f"optimizer.{p}.v" for p in range(4)),
)
case(
    "adam-state-missing-all",
    edit("f32_adam", tensors=_drop(*(n for p in range(4) for n in _adam_names(p)))),
    ("optimizer",),
    expect="either",
)
for _name in ("optimizer.4.m", "optimizer.0.s", "optimizer.0.velocity", "optimizer.-1.m"):
    case(
        f"adam-state-extra-{_name}",
        edit("f32_adam", tensors=lambda p, n=_name: p.put(n, np.zeros((4, 3), np.float32))),
        _name,
    )
case(
    "sgd-state-extra",
    edit("f32_sgd", tensors=lambda p: p.put("optimizer.0.m", np.zeros((4, 3), np.float32))),
    "optimizer.0.m",
)
case(
    "optimizer-null-with-state",
    edit("f32_adam", at(_OPT, None)),
    ("optimizer.0.m", "optimizer.0.v", "optimizer"),
)
case(
    "optimizer-sgd-with-adam-state",
    edit(
        "f32_adam",
        at(
            _OPT,
            {"kind": "sgd", "hyper": {}, "schedule": {"type": "constant", "learning_rate": 0.1}},
        ),
    ),
    ("optimizer.0.m", "optimizer.0.v", "optimizer"),
)
case(
    "adam-state-F64-in-float32",
    edit("f32_adam", tensors=_as_dtype("optimizer.1.m", "F64", 8)),
    "optimizer.1.m",
)
case(
    "adam-state-I32",
    edit("f32_adam", tensors=_as_dtype("optimizer.2.v", "I32", 4)),
    ("optimizer.2.v", "dtype"),
)
case(
    "adam-state-nan-v",
    edit("f32_adam", tensors=_poison("optimizer.2.v", float("nan"), 1)),
    "optimizer.2.v",
    expect="either",
)
case(
    "adam-state-negative-v",
    edit("f32_adam", tensors=_poison("optimizer.3.v", -1.0)),
    "optimizer.3.v",
    expect="either",
)

# optimizer counters
for _key in ("optimizer_iterations", "optimizer_epochs"):
    for _id, _v in [
        ("2**53+1", 2**53 + 1),
        ("2**63", 2**63),
        ("2**64-1", 2**64 - 1),
        ("2**64", 2**64),
        ("1e30", 10**30),
        ("-1", -1),
        ("6.5", 6.5),
        ("string", "6"),
        ("true", True),
        ("null", None),
        ("missing", DELETE),
    ]:
        case(f"{_key}-{_id}", edit("f64_adam", at((_key,), _v)), _key)
    case(f"{_key}-1e400", edit("f64_adam", meta=_in_arch(_key, "1e400")), (_key, "architecture"))
case(
    "optimizer_iterations-2**32-1",
    edit("f64_adam", at(("optimizer_iterations",), 2**32 - 1)),
    "optimizer_iterations",
    expect="either",
    check="adam_step",
)
case(
    "optimizer_iterations-2**31-1",
    edit("f64_adam", at(("optimizer_iterations",), 2**31 - 1)),
    "optimizer_iterations",
    expect="either",
    check="adam_step",
)
case(
    "optimizer_iterations-2**53",
    edit("f64_adam", at(("optimizer_iterations",), 2**53)),
    "optimizer_iterations",
    expect="either",
    check="adam_step",
)
case(
    "optimizer_epochs-2**53",
    edit("f64_momentum", at(("optimizer_epochs",), 2**53)),
    "optimizer_epochs",
    expect="either",
)

_IDS = [c.id for c in CASES]
assert len(_IDS) == len(set(_IDS)), sorted(i for i in _IDS if _IDS.count(i) > 1)

# -- the loader subprocess -------------------------------------------------------------------

SCRIPT = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (@LIMIT@, @LIMIT@))

def emit(**kw):
    sys.stdout.write(@MARK@ + json.dumps(kw) + "\n")
    sys.stdout.flush()

import pickle
import numpy as np
import deepnet as dn
from deepnet import io as dio

class Tampered:
    # pickles as a model does: from_bytes(its bytes)
    def __init__(self, data):
        self.data = data
    def __reduce__(self):
        return (dio.from_bytes, (self.data,))

def load(mode, path, data):
    if mode == "bytes":
        return dio.from_bytes(data)
    if mode == "load":
        return dn.load(path)
    return pickle.loads(pickle.dumps(Tampered(data)))

def use(model, data):
    X = np.linspace(-1, 1, model.n_x * 3).reshape(model.n_x, 3)
    Y = model.predict(X)
    assert Y.shape[1] == 3, Y.shape
    again = dio.from_bytes(dio.to_bytes(model))
    assert again.n_x == model.n_x
    return {}

def read(data):
    # the architecture and the tensors of a model file, by the documented format
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    arch = json.loads(header.pop("__metadata__")["architecture"])
    body = data[8 + n :]
    arrays = {
        name: np.frombuffer(body[slice(*info["data_offsets"])],
                            {"F32": "<f4", "F64": "<f8"}[info["dtype"]]).reshape(info["shape"])
        for name, info in header.items()
    }
    return arch, arrays

def adam_step(model, data):
    # one full-batch step from the state in the file, against Adam's formula in float64
    X = np.linspace(-1, 1, 2 * 8).reshape(2, 8)
    Y = (np.arange(8) % 2).reshape(1, 8).astype(float)
    arch, arrays = read(data)
    t0 = arch["optimizer_iterations"]
    hyper, lr = arch["optimizer"]["hyper"], arch["optimizer"]["schedule"]["learning_rate"]
    b1, b2, eps = hyper["beta1"], hyper["beta2"], hyper["eps"]
    params = [np.array(w, np.float64) for w in model.get_weights()]
    grads = [np.asarray(g, np.float64) for layer in model.gradients(X, Y) for g in layer]
    model.fit(X, Y, epochs=1, batch_size=None, shuffle=False, verbose=0)
    t1 = read(dio.to_bytes(model))[0]["optimizer_iterations"]
    t = t0 + 1
    worst = 0.0
    for i, (p, g, new) in enumerate(zip(params, grads, model.get_weights())):
        m = b1 * arrays[f"optimizer.{i}.m"] + (1 - b1) * g
        v = b2 * arrays[f"optimizer.{i}.v"] + (1 - b2) * g * g
        c1 = 1 / (1 - b1 ** min(t, 10**6))
        c2 = 1 / (1 - b2 ** min(t, 10**6))
        step = lr * (m * c1) / (np.sqrt(v * c2) + eps)
        # the error of the update relative to its size (the model is float64)
        err = np.abs(new - (p - step)).max() / (np.abs(step).max() + 1e-300)
        worst = max(worst, float(err) if np.isfinite(new).all() else float("inf"))
    if t1 != t0 + 1 or not worst < 1e-9:
        raise AssertionError(
            f"Adam step from optimizer_iterations={t0}: {t1} after the step, relative error "
            f"of the update {worst}"
        )
    return {"iterations_after": t1, "relative_error": worst}

CHECKS = {"use": use, "adam_step": adam_step}

for job in json.load(open(sys.argv[1])):
    with open(job["path"], "rb") as f:
        data = f.read()
    for mode in job["modes"]:
        emit(case=job["id"], mode=mode, event="start")
        t0 = time.perf_counter()
        done = lambda **kw: emit(case=job["id"], mode=mode, event="done",
                                 seconds=round(time.perf_counter() - t0, 3), **kw)
        try:
            model = load(mode, job["path"], data)
        except (ValueError, OSError) as err:
            done(outcome=type(err).__name__, message=str(err)[:3000])
            continue
        except BaseException as err:  # the wrong kind: reported, the test fails
            t = type(err)
            done(outcome=f"{t.__module__}.{t.__qualname__}", message=str(err)[:3000])
            break  # the case fails anyway: the other modes would only cost time
        try:
            detail = CHECKS[job["check"]](model, data)
            done(outcome="ok", detail=detail)
        except BaseException as err:
            t = type(err)
            done(outcome="loaded, then failed", message=f"{t.__module__}.{t.__qualname__}: "
                 f"{str(err)[:3000]}")
            break
"""


def _spawn(jobs: list[dict[str, Any]], workdir: str, tag: str) -> tuple[list[dict], int, str]:
    """Runs the loader over `jobs`; returns its JSON lines, exit status and stderr."""
    manifest = os.path.join(workdir, f"manifest-{tag}.json")
    with open(manifest, "w") as f:
        json.dump(jobs, f)
    script = SCRIPT.replace("@LIMIT@", str(MEMORY_LIMIT)).replace("@MARK@", repr(MARK))
    env = dict(os.environ, RUST_BACKTRACE="0", PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", script, manifest],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=BATCH_TIMEOUT_S)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        rc, err = -9, err + f"\n[killed after {BATCH_TIMEOUT_S} s]"
    lines = [json.loads(x[len(MARK) :]) for x in out.splitlines() if x.startswith(MARK)]
    return lines, rc, err


def _run_batch(jobs: list[dict[str, Any]], workdir: str, tag: str) -> dict[str, dict]:
    """{case id: {mode: result}}; a case whose loader died gets mode "crash"."""
    results: dict[str, dict] = {}
    pending = list(jobs)
    round_ = 0
    while pending:
        round_ += 1
        lines, rc, err = _spawn(pending, workdir, f"{tag}-{round_}")
        last_started = None
        for line in lines:
            if line["event"] == "start":
                last_started = line["case"]
            else:
                results.setdefault(line["case"], {})[line["mode"]] = line
        if rc == 0:
            break
        if last_started is None:
            raise RuntimeError(
                f"the loader subprocess died (exit status {rc}) before loading anything: "
                f"is deepnet importable (a rebuild in progress)?\n{err[-3000:]}"
            )
        index = next(i for i, j in enumerate(pending) if j["id"] == last_started)
        culprit = pending[index]
        if index == 0:  # it was the first load of the process: as good as alone
            results.setdefault(culprit["id"], {})["crash"] = {"rc": rc, "stderr": err[-3000:]}
        else:
            # the culprit alone: its own exit status and stderr; if it passes alone, the
            # batch died of what earlier loads left behind (memory), and the lone run counts
            alone, rc1, err1 = _spawn([culprit], workdir, f"{tag}-{round_}-alone")
            mine = results[culprit["id"]] = {}
            for line in alone:
                if line["event"] == "done":
                    mine[line["mode"]] = line
            if rc1 != 0:
                mine["crash"] = {"rc": rc1, "stderr": err1[-3000:]}
        pending = pending[index + 1 :]
    return results


# -- the tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bases() -> dict[str, bytes]:
    return make_bases()


@pytest.fixture(scope="module")
def results(request, bases, tmp_path_factory) -> dict[str, dict]:
    """Loads the selected cases' files in two parallel chains of batches."""
    selected = {
        item.callspec.params["case"].id
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("case"), Case)
    }
    workdir = str(tmp_path_factory.mktemp("hostile"))
    jobs = []
    for i, c in enumerate(CASES):
        if c.id not in selected:
            continue
        path = os.path.join(workdir, f"case{i:04d}.safetensors")
        with open(path, "wb") as f:
            f.write(c.make(bases))
        jobs.append({"id": c.id, "path": path, "modes": list(MODES), "check": c.check})
    chains = [jobs[0::2], jobs[1::2]]
    with ThreadPoolExecutor(2) as pool:
        parts = pool.map(lambda k: _run_batch(chains[k], workdir, f"chain{k}"), range(2))
    out: dict[str, dict] = {}
    for part in parts:
        out.update(part)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_file(case: Case, results: dict[str, dict]) -> None:
    got = results.get(case.id, {})
    crash = got.get("crash")
    if crash is not None:
        mode = next((m for m in MODES if m not in got), "?")
        pytest.fail(
            f"the loader process died (exit status {crash['rc']}) loading in mode {mode!r}; "
            f"its stderr:\n{crash['stderr']}",
            pytrace=False,
        )
    if MODES[0] not in got:
        pytest.fail(f"no result for this case: {got}", pytrace=False)
    for mode in MODES:
        r = got.get(mode)
        if r is None:  # the loader stopped after a wrong outcome in an earlier mode
            continue
        outcome, message = r["outcome"], r.get("message", "")
        where = f"{mode}: {outcome}: {message[:600]}"
        if outcome == "ok":
            if case.expect == "reject":
                pytest.fail(f"{mode}: the file loaded; expected a ValueError", pytrace=False)
            continue
        if case.expect == "accept":
            pytest.fail(f"a valid file was rejected: {where}", pytrace=False)
        if outcome != "ValueError" or not message.startswith(PREFIX):
            pytest.fail(f"expected ValueError({PREFIX!r} ...), got {where}", pytrace=False)
        if case.fields and not any(f in message.lower() for f in case.fields):
            pytest.fail(
                f"the message should name one of {list(case.fields)}: {where}", pytrace=False
            )


class _Tampered:
    """Pickles as a model does (as the loader subprocess's tampered pickles do)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        from deepnet.io import from_bytes

        return (from_bytes, (self.data,))


def test_tampered_pickles_are_what_pickle_makes(bases) -> None:
    """A pickled model is from_bytes(its file's bytes): the subprocess's tampered pickles have
    exactly the form of real ones."""
    from deepnet.io import from_bytes, to_bytes

    model = from_bytes(bases["f32_adam"])
    assert pickle.dumps(model) == pickle.dumps(_Tampered(to_bytes(model)))


HUGE_IN_CODE = {
    "dense-1e12": "dn.Sequential([dn.Dense(10**12)], n_x=2, loss='mse')",
    "dense-2**64": "dn.Sequential([dn.Dense(2**64)], n_x=2, loss='mse')",
    "dense-1e12-float64": "dn.Sequential([dn.Dense(10**12)], n_x=2, loss='mse', dtype='float64')",
    "n_x-1e12": "dn.Sequential([dn.Dense(2)], n_x=10**12, loss='mse')",
    "dense-2**24+1-twice": (
        "dn.Sequential([dn.Dense(2**24 + 1), dn.Dense(2**24 + 1)], n_x=2, loss='mse')"
    ),
}


@pytest.mark.parametrize("code", HUGE_IN_CODE.values(), ids=list(HUGE_IN_CODE))
def test_huge_layers_in_code_raise_value_error(code: str) -> None:
    script = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
        "import deepnet as dn\n"
        "try:\n"
        f"    {code}\n"
        "except ValueError as err:\n"
        "    print('ValueError:', err)\n"
        "except BaseException as err:\n"
        "    print('WRONG', type(err).__module__, type(err).__qualname__, err)\n"
        "else:\n"
        "    print('NO ERROR')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=BATCH_TIMEOUT_S
    )
    assert proc.returncode == 0, f"exit status {proc.returncode}: {proc.stderr[-2000:]}"
    assert proc.stdout.startswith("ValueError:"), proc.stdout + proc.stderr[-2000:]
