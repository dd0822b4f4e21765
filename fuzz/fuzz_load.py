"""Coverage-guided fuzzing of the model-file loader, `deepnet.io.from_bytes`, with atheris
(libFuzzer for Python).

The contract: for ANY input the loader returns a model or raises ValueError whose message
starts with "not a valid deepnet model file:" (OSError for I/O). Anything else is a finding:
another exception (KeyError, TypeError, RecursionError, OverflowError, MemoryError, a Rust
panic `pyo3_runtime.PanicException`...), a ValueError without that prefix, a process abort
(e.g. an allocation the file sized before it was validated), or a hang. A model that loads is
also used once (predict, save again) so that a file that loads but is inconsistent is caught.

Setup and run (bounded: 5 minutes, 4 GiB)::

    pip install atheris                  # or: pip install -e ".[fuzz]"
    python fuzz/make_corpus.py           # (re)writes the seed corpus fuzz/corpus/model_file/
    mkdir -p fuzz/work fuzz/crashes
    python fuzz/fuzz_load.py fuzz/work fuzz/corpus/model_file -max_total_time=300 \\
        -rss_limit_mb=4096 -timeout=30 -artifact_prefix=fuzz/crashes/

The seed corpus fuzz/corpus/model_file/ is shared with the cargo-fuzz target
fuzz/fuzz_targets/model_file.rs (which sees coverage inside the Rust loader; see
fuzz/README.md); it is only read here.

libFuzzer adds the inputs it finds interesting to the FIRST directory (fuzz/work, not
committed), reads the others, and stops at the first finding, writing the input to
fuzz/crashes/crash-<sha1> (not committed). libFuzzer's -fork mode did not work with atheris here
(every job failed at once); to keep going after exceptions instead, set
FUZZ_KEEP_GOING=1: each kind of violation (exception type, message without numbers, place)
is then written once, as the model file and a .txt saying what happened, to
fuzz/crashes/finding-<hash>.safetensors, and the run continues. A process abort (e.g. an
allocation the file sized, under the address-space limit below) or a timeout still stops
it: libFuzzer writes crash-*/timeout-* to -artifact_prefix; start it again to go on (the
work directory keeps the corpus), e.g.
``until python fuzz/fuzz_load.py ...; do :; done`` bounded by ``timeout 300``.

Modes (environment variable FUZZ_MODE):

``raw`` (default)
    The input bytes are the file. Good for the safetensors container (header length, JSON
    header, offsets, dtypes) but it rarely gets a valid header past the parser.
``arch``
    Structure-aware: the input drives an atheris.FuzzedDataProvider that picks one of the
    valid models of `make_corpus.models()` and applies 1-6 edits to its architecture JSON
    (replace any value by an interesting number, string, bool, null, list, object or a deeply
    nested array; delete or add keys; duplicate list items), to its tensors (drop, rename,
    reshape, change the dtype, poison with NaN/inf) or to its metadata, then packs a
    well-formed safetensors file, so every input reaches the model validation. The model
    file of a finding is also written to fuzz/crashes/arch-<sha1>.safetensors (with a .txt),
    loadable with `deepnet.load`.
    Use a separate work directory and no seed corpus:
    ``FUZZ_MODE=arch python fuzz/fuzz_load.py fuzz/work-arch -max_total_time=300 ...``

Reproduce a finding: ``python fuzz/fuzz_load.py fuzz/crashes/crash-<sha1>`` (with the
FUZZ_MODE it was found in), or for an arch-*.safetensors file, ``deepnet.load(path)``.

Coverage: atheris instruments Python bytecode only (here the deepnet package, imported under
`atheris.instrument_imports`), so the fuzzer is guided by the Python side of the loader. The
Rust extension `deepnet._core` (safetensors parsing, validation, allocation) is a black box
to its coverage unless the extension is built with SanitizerCoverage (sancov) and libFuzzer's
symbols are visible to it: for Rust, build with the flags cargo-fuzz uses, e.g.
``RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=3
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
-Cllvm-args=-sanitizer-coverage-trace-compares"``, and run with LD_PRELOAD set to one of the
*_with_fuzzer.so libraries in ``python -c "import atheris; print(atheris.path())"`` (see
atheris' native_extension_fuzzing.md; not set up in this repository). Without that, crashes
in Rust are still detected (a panic is an exception, an abort is a deadly signal libFuzzer
reports), they are only not steered towards.

The process's address space is limited to FUZZ_AS_LIMIT_MB (default 4096) MiB, so that an
oversized allocation fails (as an abort or MemoryError, i.e. a finding) instead of taking
the machine's memory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import resource
import struct
import sys
import traceback
from typing import Any

import atheris
import numpy as np  # imported before instrumentation: numpy itself is not fuzzed

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "not a valid deepnet model file:"
MODE = os.environ.get("FUZZ_MODE", "raw")
KEEP_GOING = os.environ.get("FUZZ_KEEP_GOING") == "1"
SEEN: set[tuple[Any, ...]] = set()

_limit = int(os.environ.get("FUZZ_AS_LIMIT_MB", "4096")) << 20
resource.setrlimit(resource.RLIMIT_AS, (_limit, _limit))

with atheris.instrument_imports():
    import deepnet  # noqa: F401
    from deepnet.io import from_bytes, to_bytes


class LoaderContractViolation(Exception):
    """The loader did something other than return a model or raise the allowed errors."""


# The most elements one predict may touch (the input and every layer's output, 2 examples),
# as in the cargo-fuzz target: a network of convolutions, pooling or recurrent layers can
# take an input_shape far larger than its file (global pooling makes the length free), and
# predicting on it would only measure this process's memory limit, not the loader.
PREDICT_BUDGET = 1 << 26


def use(model: Any) -> None:
    """A loaded model must be usable: predict on X of shape input_shape + (2,) (unless that
    is beyond PREDICT_BUDGET), and save again."""
    shape = tuple(model.input_shape)
    n_layers = len(model.layers)
    widest = max(
        [math.prod(shape)]
        + [math.prod(model._net.layer_info(i)["output_shape"]) for i in range(n_layers)]
    )
    if widest * 2 * (n_layers + 1) <= PREDICT_BUDGET:
        X = np.linspace(-1.0, 1.0, math.prod(shape) * 2).reshape(shape + (2,))
        Y = model.predict(X)
        if Y.shape != (model.n_y, 2):
            raise AssertionError(f"predictions' shape: {Y.shape}, expected ({model.n_y}, 2)")
    to_bytes(model)


def check(file: bytes) -> None:
    """Loads `file`; a contract violation raises LoaderContractViolation (or, with
    FUZZ_KEEP_GOING=1, is recorded once per kind and fuzzing goes on)."""
    try:
        model = from_bytes(file)
    except ValueError as err:
        if not str(err).startswith(PREFIX):
            violation(err, "ValueError without the prefix", file)
        return
    except OSError:
        return
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # PanicException is a BaseException
        violation(err, "raised", file)
        return
    try:
        use(model)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:
        violation(err, "loaded, then failed on use", file)


def violation(err: BaseException, what: str, file: bytes) -> None:
    kind = f"{type(err).__module__}.{type(err).__qualname__}"
    frames = traceback.extract_tb(err.__traceback__)[-3:]
    where = "".join(f"\n    at {os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in frames)
    summary = f"{what}: {kind}: {str(err)[:500]}{where}"
    if not KEEP_GOING:
        if MODE == "arch":
            save(f"arch-{hashlib.sha1(file).hexdigest()}", file, summary)
        raise LoaderContractViolation(summary) from err
    # one file per kind of finding: the exception, its message without numbers, the place
    last = frames[-1] if frames else None
    signature = (what, kind, re.sub(r"\d+", "N", str(err))[:80], last and last.lineno)
    if signature not in SEEN:
        SEEN.add(signature)
        save(f"finding-{hashlib.sha1(repr(signature).encode()).hexdigest()[:12]}", file, summary)


def save(name: str, file: bytes, summary: str) -> None:
    """Writes the model file that broke the loader (loadable with deepnet.load) and what
    happened to fuzz/crashes/."""
    out = os.path.join(HERE, "crashes")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{name}.safetensors")
    with open(path, "wb") as f:
        f.write(file)
    with open(os.path.join(out, f"{name}.txt"), "w") as f:
        f.write(summary + "\n")
    print(f"fuzz_load: {summary}\n  -> {path}", file=sys.stderr)


# -- raw mode --------------------------------------------------------------------------------


def test_raw(data: bytes) -> None:
    check(data)


# -- structure-aware mode --------------------------------------------------------------------

INTS = [
    0, 1, 2, 3, -1, 2**24, 2**24 + 1, 2**30, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53,
    2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**12, 10**19, 10**30, -(2**63),
    -(2**64),
]  # fmt: skip
FLOATS = [0.0, -0.0, 0.5, 1.0, 1.5, -1.0, 1e-300, 1e300, float("nan"), float("inf"), -1e308]
WORDS = [
    "", "dense", "dropout", "conv1d", "conv2d", "max_pooling1d", "max_pooling2d",
    "average_pooling1d", "average_pooling2d", "global_average_pooling1d",
    "global_average_pooling2d", "global_max_pooling1d", "global_max_pooling2d", "flatten",
    "simple_rnn", "gru", "lstm", "bidirectional", "same", "valid", "full", "causal", "relu",
    "tanh", "sigmoid", "softmax", "linear", "leaky_relu", "swish", "mse",
    "binary_crossentropy", "categorical_crossentropy", "float32", "float64", "float16",
    "adam", "sgd", "momentum", "rmsprop", "constant", "step_decay", "exponential_decay",
    "units", "activation", "rate", "type", "l2", "NaN", "inf", "-1", "1e400", "layers.0.W",
    "layers.0.b", "layers.0.Wx", "layers.0.Wh", "layers.0.bx", "layers.0.bh",
    "layers.0.forward_Wx", "layers.0.backward_Wh", "optimizer.0.m", "optimizer.0.velocity",
    "deepnet", "1", "2", "0" * 112, "f" * 112, "\u0000", "\ud800", "é",
]  # fmt: skip
KEYS = [
    "type", "units", "activation", "l2", "rate", "n_x", "input_shape", "loss", "seed",
    "dtype", "layers", "filters", "kernel_size", "strides", "padding", "dilation_rate",
    "pool_size", "return_sequences", "layer", "rng_states", "optimizer",
    "optimizer_iterations", "optimizer_epochs", "kind", "hyper", "schedule",
    "learning_rate", "beta1", "beta2", "eps", "beta", "rho", "drop", "epochs_per_drop",
    "decay_steps", "decay_rate", "staircase", "initial_learning_rate", "deepnet_version",
    "extra",
]  # fmt: skip
DTYPES = ["F32", "F64", "F16", "BF16", "I32", "I64", "U8", "BOOL", "F8_E4M3", "X"]


def value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    kind = fdp.ConsumeIntInRange(0, 11)
    if kind <= 2:
        return INTS[fdp.ConsumeIntInRange(0, len(INTS) - 1)]
    if kind == 3:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 9))
    if kind == 4:
        return FLOATS[fdp.ConsumeIntInRange(0, len(FLOATS) - 1)]
    if kind == 5:
        return fdp.ConsumeRegularFloat()
    if kind == 6:
        return WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]
    if kind == 7:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 16))
    if kind == 8:
        return [None, True, False][fdp.ConsumeIntInRange(0, 2)]
    if kind == 9 and depth < 3:
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if kind == 10 and depth < 3:
        return {
            KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]: value(fdp, depth + 1)
            for _ in range(fdp.ConsumeIntInRange(0, 3))
        }
    return "@@DEEP@@"  # a deeply nested array, spliced into the JSON text


# the most places (containers' items, at every depth) an edited architecture may have
MAX_NODES = 20_000


def places(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) of the tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in list(items):
        out.append((node, key))
        if isinstance(child, (dict, list)):
            places(child, out)
    return out


def edit_arch(fdp: atheris.FuzzedDataProvider, arch: Any) -> Any:
    if not isinstance(arch, (dict, list)):
        return value(fdp)
    spots = places(arch, [])
    if not spots:
        return value(fdp)
    container, key = spots[fdp.ConsumeIntInRange(0, len(spots) - 1)]
    op = fdp.ConsumeIntInRange(0, 5)
    if op <= 1:
        container[key] = value(fdp)
    elif op == 2:
        del container[key]
    elif op == 3:
        if isinstance(container, dict):
            container[KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]] = value(fdp)
        else:
            container.insert(key, value(fdp))
    elif op == 4 and isinstance(container, list):
        # at most MAX_NODES places in all: copies of copies would otherwise multiply (1100
        # copies of a list that holds 1100 copies...) until json.dumps alone takes minutes
        # (a timeout of this harness, not of the loader)
        item = container[key]
        room = (MAX_NODES - len(spots)) // (
            1 + (len(places(item, [])) if isinstance(item, (dict, list)) else 0)
        )
        n = min(fdp.ConsumeIntInRange(1, 1100), max(room, 0))
        container[key:key] = [copy.deepcopy(container[key])] * n
    else:
        container[key] = [container[key]]
    return arch


def st_split(data: bytes) -> tuple[dict[str, Any], bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def st_pack(metadata: Any, tensors: dict[str, tuple[Any, Any, bytes]]) -> bytes:
    header: dict[str, Any] = {"__metadata__": metadata}
    body = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(body), len(body) + len(raw)],
        }
        body += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


@np.errstate(over="ignore")
def edit_tensors(fdp: atheris.FuzzedDataProvider, tensors: dict[str, Any]) -> None:
    if not tensors:
        return
    names = sorted(tensors)
    name = names[fdp.ConsumeIntInRange(0, len(names) - 1)]
    dtype, shape, raw = tensors[name]
    itemsize = {"F32": 4, "F64": 8}.get(dtype)
    op = fdp.ConsumeIntInRange(0, 5)
    if itemsize is None and op in (2, 4):  # already another dtype: drop it instead
        op = 0
    if op == 0:
        del tensors[name]
    elif op == 1:
        tensors[WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)] + name[-4:]] = tensors.pop(name)
    elif op == 2:  # a new shape, the data resized to match
        shape = [fdp.ConsumeIntInRange(0, 6) for _ in range(fdp.ConsumeIntInRange(0, 3))]
        size = itemsize * int(np.prod(shape))
        tensors[name] = (dtype, shape, (raw * (size // max(len(raw), 1) + 1))[:size])
    elif op == 3:  # another dtype, the data resized to match (if the shape is sane)
        dtype = DTYPES[fdp.ConsumeIntInRange(0, len(DTYPES) - 1)]
        size = {"F16": 2, "BF16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1}.get(dtype, 4)
        size = 8 if dtype in ("F64", "I64") else size
        n = 1
        for d in shape:
            n *= d if isinstance(d, int) else -1
        tensors[name] = (dtype, shape, bytes(size * n) if 0 <= n <= 1 << 16 else b"")
    elif op == 4:  # NaN, inf or a huge value somewhere
        a = np.frombuffer(raw[: len(raw) // itemsize * itemsize], f"<f{itemsize}").copy()
        if a.size:
            a[fdp.ConsumeIntInRange(0, a.size - 1)] = FLOATS[
                fdp.ConsumeIntInRange(0, len(FLOATS) - 1)
            ]
        tensors[name] = (dtype, shape, a.tobytes())
    else:  # a shape that does not match the data
        tensors[name] = (dtype, [INTS[fdp.ConsumeIntInRange(0, 9)]] + list(shape), raw)


def build(data: bytes) -> bytes:
    fdp = atheris.FuzzedDataProvider(data)
    base = BASES[fdp.ConsumeIntInRange(0, len(BASES) - 1)]
    header, body = st_split(base)
    metadata = header.pop("__metadata__")
    arch = json.loads(metadata["architecture"])
    tensors = {
        n: (i["dtype"], i["shape"], body[slice(*i["data_offsets"])]) for n, i in header.items()
    }
    for _ in range(fdp.ConsumeIntInRange(1, 6)):
        target = fdp.ConsumeIntInRange(0, 9)
        if target <= 6:
            arch = edit_arch(fdp, arch)
        elif target <= 8:
            edit_tensors(fdp, tensors)
        else:
            key = ["format", "format_version", "architecture", "x"][fdp.ConsumeIntInRange(0, 3)]
            metadata[key] = WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]
    text = json.dumps(arch)
    deep = fdp.ConsumeIntInRange(1, 200_000)
    metadata["architecture"] = text.replace('"@@DEEP@@"', "[" * deep + "]" * deep)
    return st_pack(metadata, tensors)


def test_arch(data: bytes) -> None:
    check(build(data))


BASES: list[bytes] = []


def main() -> None:
    global BASES
    if MODE == "arch":
        sys.path.insert(0, HERE)
        from make_corpus import models

        BASES = list(models().values())
        target = test_arch
    elif MODE == "raw":
        target = test_raw
    else:
        sys.exit(f"FUZZ_MODE: expected 'raw' or 'arch', got {MODE!r}")
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
