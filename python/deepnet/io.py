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
FORMAT_VERSION = "2"  # read (with version 1) by src/model_file.rs, which validates every file


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
        "input_shape": list(model.input_shape),
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


def from_bytes(data: bytes) -> Any:
    """Rebuilds a model from `to_bytes` output (also how models unpickle).

    The whole file is validated in Rust before anything is allocated: the architecture
    against its schema and deepnet's size limits, every tensor's presence, dtype, shape and
    values, the optimizer's state and counters, the random streams. Any failure is a
    ValueError that starts with "not a valid deepnet model file:" and names the field.
    """
    from deepnet import optimizers
    from deepnet.layers import layer_from_spec
    from deepnet.model import Sequential

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    net, arch_json = _core.Network.from_bytes(bytes(data))
    # the architecture as Rust validated and re-serialized it: every field present and typed
    arch = json.loads(arch_json)
    try:
        layers = [layer_from_spec(spec) for spec in arch["layers"]]
        model = Sequential._from_network(
            layers, net, tuple(arch["input_shape"]), arch["loss"], arch["seed"], arch["dtype"]
        )
        if arch["optimizer"] is not None:
            model.optimizer = optimizers.from_config(arch["optimizer"])
    except (ValueError, TypeError) as err:
        raise ValueError(f"not a valid deepnet model file: {err}") from None
    return model
