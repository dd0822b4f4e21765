"""Saving and loading models as safetensors files.

A model file holds the parameters (and the optimizer's state) as named float32/float64
tensors and, in the file's metadata, the architecture as JSON: layers, n_x, loss, dtype,
seed, optimizer, random-stream positions. The format is a JSON header and raw numbers, so
loading never executes code (unlike pickle); a file that is empty, truncated, random, has an
oversized header or is of another format raises ValueError, and I/O failures raise OSError.

Examples
--------
>>> import os, tempfile, numpy as np, deepnet as dn
>>> model = dn.Sequential([dn.Dense(4, activation="tanh"), dn.Dense(1, activation="sigmoid")],
...                       n_x=3, loss="binary_crossentropy")
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> model.save(path)
>>> X = np.random.default_rng(0).normal(size=(3, 5))
>>> bool((dn.load(path).predict(X) == model.predict(X)).all())
True
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import numpy as np

from deepnet import _core

FORMAT = "deepnet"
FORMAT_VERSION = "1"


def to_bytes(model: Any) -> bytes:
    """The safetensors bytes of `model` (what `save` writes)."""
    if not model.built:
        raise ValueError(
            "cannot save a model that is not built yet (n_x unknown): give n_x or call fit first"
        )
    net = model._net
    tensors: list[tuple[str, np.ndarray]] = []
    for l, layer in enumerate(model.layers):
        for i, name in enumerate(layer.param_names):
            tensors.append((f"layers.{l}.{name}", net.get_param(l, i)))
    architecture: dict[str, Any] = {
        "deepnet_version": _core.__version__,
        "n_x": model.n_x,
        "loss": model.loss,
        "seed": model.seed,
        "dtype": model.dtype,
        "layers": [layer.spec() for layer in model.layers],
        "rng_states": net.rng_states(),
        "optimizer": None,
    }
    if model.optimizer is not None:
        state = net.optimizer_state()
        architecture["optimizer"] = model.optimizer.config()
        architecture["optimizer_iterations"] = state["iterations"]
        architecture["optimizer_epochs"] = state["epochs"]
        for p, arrays in enumerate(state["state"]):
            for slot, array in zip(state["slots"], arrays):
                tensors.append((f"optimizer.{p}.{slot}", array))
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": json.dumps(architecture),
    }
    return _core.safetensors_dumps(tensors, metadata)


def save(model: Any, path: str | os.PathLike[str]) -> None:
    """Writes `model` to `path`. The file is written next to its destination and renamed
    into place, so a failed save never leaves a half-written file or destroys an old one."""
    path = _path(path)
    data = to_bytes(model)
    # a fresh name beside the destination, created like any new file (so the usual umask
    # permissions apply), then renamed over it
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str | os.PathLike[str]) -> Any:
    """Reads a model written by `Sequential.save`.

    Returns a model that predicts bit-identically to the saved one and continues training
    where it stopped (same optimizer state and random streams).

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        The file is not a valid deepnet model file (the message says what is wrong).
    """
    with open(_path(path), "rb") as f:
        data = f.read()
    return from_bytes(data)


def _path(path: Any) -> str:
    # an int would be taken by open() as a file descriptor (0 is standard input)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _invalid(what: str) -> ValueError:
    return ValueError(f"not a valid deepnet model file: {what}")


def _field(d: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in d:
        raise _invalid(f"the architecture has no {key!r}")
    value = d[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind in (int, float):
        raise _invalid(f"architecture field {key!r} has the wrong type ({type(value).__name__})")
    return value


def from_bytes(data: bytes) -> Any:
    """Rebuilds a model from `to_bytes` output (also how models unpickle)."""
    from deepnet import optimizers
    from deepnet.layers import Dense, Dropout
    from deepnet.model import Sequential

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    metadata, tensor_list = _core.safetensors_loads(bytes(data))
    if metadata.get("format") != FORMAT:
        raise _invalid(f"its metadata says format {metadata.get('format')!r}, not {FORMAT!r}")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise _invalid(
            f"format version {metadata.get('format_version')!r}; this deepnet reads "
            f"{FORMAT_VERSION!r}"
        )
    try:
        arch = json.loads(metadata.get("architecture", ""))
    except json.JSONDecodeError as err:
        raise _invalid(f"the architecture is not valid JSON ({err})") from None
    if not isinstance(arch, dict):
        raise _invalid("the architecture is not a JSON object")
    tensors = dict(tensor_list)
    try:
        layers = []
        for spec in _field(arch, "layers", list):
            if not isinstance(spec, dict):
                raise _invalid("a layer spec is not a JSON object")
            kind = spec.get("type")
            if kind == "dense":
                layers.append(
                    Dense(
                        _field(spec, "units", int),
                        _field(spec, "activation", str),
                        float(spec.get("l2", 0.0)),
                    )
                )
            elif kind == "dropout":
                layers.append(Dropout(_field(spec, "rate", (int, float))))
            else:
                raise _invalid(f"unknown layer type {kind!r}")
        model = Sequential(
            layers,
            n_x=_field(arch, "n_x", int),
            loss=_field(arch, "loss", str),
            seed=_field(arch, "seed", int),
            dtype=_field(arch, "dtype", str),
        )
        expected_dtype = np.dtype(model.dtype)
        used = set()
        for l, layer in enumerate(model.layers):
            for i, name in enumerate(layer.param_names):
                key = f"layers.{l}.{name}"
                if key not in tensors:
                    raise _invalid(f"tensor {key!r} is missing")
                value = tensors[key]
                if value.dtype != expected_dtype:
                    raise _invalid(f"tensor {key!r} is {value.dtype}, the model is {model.dtype}")
                layer._set(i, value)
                used.add(key)
        opt_config = arch.get("optimizer")
        if opt_config is not None:
            if not isinstance(opt_config, dict):
                raise _invalid("the optimizer is not a JSON object")
            opt = optimizers.from_config(opt_config)
            model._net.set_optimizer(opt.kind, opt.hyper(), opt.schedule_spec())
            model.optimizer = opt
            slots = model._net.optimizer_state()["slots"]
            n_params = sum(len(layer.param_names) for layer in model.layers)
            # the state exists once a step was taken: all of it, or none
            present = slots and any(f"optimizer.0.{slot}" in tensors for slot in slots)
            state = []
            for p in range(n_params if present else 0):
                arrays = []
                for slot in slots:
                    key = f"optimizer.{p}.{slot}"
                    if key not in tensors:
                        raise _invalid(f"tensor {key!r} is missing")
                    arrays.append(tensors[key])
                    used.add(key)
                state.append(arrays)
            model._net.set_optimizer_state(
                _field(arch, "optimizer_iterations", int),
                _field(arch, "optimizer_epochs", int),
                state,
            )
        model._net.set_rng_states(_field(arch, "rng_states", list))
        extra = sorted(set(tensors) - used)
        if extra:
            raise _invalid(f"unexpected tensors {extra[:5]}")
    except ValueError as err:
        if str(err).startswith("not a valid deepnet model file"):
            raise
        raise _invalid(str(err)) from None
    except TypeError as err:
        raise _invalid(str(err)) from None
    return model
