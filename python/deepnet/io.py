"""Model files: encoding a model to safetensors bytes and decoding them (the model itself,
`deepnet.model`, builds from what is decoded; this module never imports it).

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
from deepnet.layers.base import python_layer_class

FORMAT = "deepnet"
FORMAT_VERSION = "2"  # read (with version 1) by src/model_file.rs, which validates every file


def to_bytes(model: Any) -> bytes:
    """The safetensors bytes of `model` (what `save` writes)."""
    if not model.built:
        raise ValueError(
            "cannot save a model that is not built yet (n_x unknown): give n_x or call fit first"
        )
    net = model._net
    for layer in model.layers:
        # a layer written in Python is found again by its registered name: it must be its own
        # (ValueError if two classes share its name)
        if layer._python and python_layer_class(layer.kind) is not type(layer):
            raise ValueError(f"cannot save {layer!r}: its class is not the one registered")
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


def read(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the file at `path` (OSError if it cannot be read)."""
    with open(_path(path), "rb") as f:
        return f.read()


def _path(path: Any) -> str:
    # an int would be taken by open() as a file descriptor (0 is standard input)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def decode(data: bytes) -> tuple[Any, dict[str, Any]]:
    """The compiled network and the architecture (as a dict) of model-file bytes.

    The whole file is validated in Rust before anything is allocated: the architecture
    against its schema and deepnet's size limits, every tensor's presence, dtype, shape and
    values, the optimizer's state and counters, the random streams. Any failure is a
    ValueError that starts with "not a valid deepnet model file:" and names the field.
    `Sequential.from_bytes` builds the model around them.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    net, arch_json = _core.Network.from_bytes(bytes(data))
    # the architecture as Rust validated and re-serialized it: every field present and typed
    return net, json.loads(arch_json)


def __getattr__(name: str) -> Any:
    # deepnet 0.1 kept load and from_bytes here, and its pickles name deepnet.io.from_bytes:
    # they now belong to the model, which decodes through this module
    if name in ("load", "from_bytes"):
        from deepnet import model

        return getattr(model, name)
    raise AttributeError(f"module 'deepnet.io' has no attribute {name!r}")
