"""Writes the seed corpus of the model-file fuzzers: small valid model files of several
kinds, deterministic (seeded), a few KB each. Both fuzzers share it: the atheris one
(fuzz/fuzz_load.py) and the cargo-fuzz one (fuzz/fuzz_targets/model_file.rs, which reads
fuzz/corpus/model_file/ by default). That directory also holds the inputs the cargo-fuzz run
found and `cargo fuzz cmin` kept (see fuzz/README.md).

Usage::

    python fuzz/make_corpus.py            # (re)writes fuzz/corpus/model_file/*.safetensors
    python fuzz/make_corpus.py OUT_DIR    # elsewhere

`models()` is also what the fuzzer's structure-aware mode (FUZZ_MODE=arch) starts from.

The files this writes are format version 2 (architecture field "input_shape"): the dense
networks (`v2-f32-*`, `v2-f64-*`) and the networks of the other layer types (convolution,
pooling, flatten, recurrent, bidirectional: `v2-*-conv1d-*`, `v2-*-lstm-*`...). The corpus's
seven unprefixed `f32-*.safetensors` / `f64-*.safetensors` files are format version 1
(architecture field "n_x"), written by the same dense models before format 2 existed; the
writer no longer produces that version, so they are kept as committed and never rewritten;
so are the two `v2-hand-*.safetensors`, two of those files turned into format 2 by hand
(compact JSON, "input_shape" as the last key).
"""

from __future__ import annotations

import os
import sys

import numpy as np


def models() -> dict[str, bytes]:
    """name -> the bytes of a valid model file."""
    import deepnet as dn
    from deepnet.io import to_bytes
    from deepnet.optimizers import SGD, Adam, Momentum, RMSprop, schedules

    rng = np.random.default_rng(0)
    X3 = rng.normal(size=(3, 16))
    X2 = rng.normal(size=(2, 16))
    labels3 = rng.integers(0, 3, 16)
    labels2 = rng.integers(0, 2, 16)
    out: dict[str, bytes] = {}

    def classifier(dtype: str = "float32", dropout: bool = True) -> dn.Sequential:
        layers = [dn.Dense(4, activation="relu", l2=1e-3)]
        if dropout:
            layers.append(dn.Dropout(0.25))
        layers.append(dn.Dense(3, activation="softmax"))
        return dn.Sequential(layers, n_x=3, loss="categorical_crossentropy", seed=1, dtype=dtype)

    def binary(dtype: str = "float64") -> dn.Sequential:
        return dn.Sequential(
            [dn.Dense(3, activation="tanh"), dn.Dense(1, activation="sigmoid")],
            n_x=2,
            loss="binary_crossentropy",
            seed=2,
            dtype=dtype,
        )

    out["v2-f32-untrained-dropout"] = to_bytes(classifier())
    out["v2-f64-untrained"] = to_bytes(binary())
    out["v2-f32-linear-one-layer"] = to_bytes(
        dn.Sequential([dn.Dense(1)], n_x=1, loss="mse", seed=3)
    )
    model = classifier()
    model.fit(X3, labels3, epochs=2, batch_size=8, optimizer=Adam(), verbose=0)
    out["v2-f32-adam-dropout"] = to_bytes(model)
    model = classifier("float64", dropout=False)
    model.fit(X3, labels3, epochs=1, batch_size=8, optimizer=SGD(0.05), verbose=0)
    out["v2-f64-sgd"] = to_bytes(model)
    model = binary()
    model.fit(
        X2,
        labels2,
        epochs=2,
        batch_size=8,
        optimizer=Momentum(schedules.StepDecay(0.05, drop=0.5, epochs_per_drop=1)),
        verbose=0,
    )
    out["v2-f64-momentum-step-decay"] = to_bytes(model)
    model = dn.Sequential(
        [
            dn.Dense(3, activation="leaky_relu"),
            dn.Dropout(0.5),
            dn.Dense(2, activation="sigmoid"),
            dn.Dense(2, activation="linear"),
        ],
        n_x=3,
        loss="mse",
        seed=4,
    )
    model.fit(
        X3,
        rng.normal(size=(2, 16)),
        epochs=2,
        batch_size=16,
        optimizer=RMSprop(
            schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.9, staircase=True)
        ),
        verbose=0,
    )
    out["v2-f32-rmsprop-exp-decay"] = to_bytes(model)
    out.update(layered_models())
    return out


def layered_models() -> dict[str, bytes]:
    """name -> a small valid model file of the layer types other than dense and dropout
    (format 2: input_shape of several axes). X has shape input_shape + (m,): (channels,
    length) for signals, (channels, height, width) for images, (features, time) for
    sequences. A few channels or units and short inputs keep each file near 1-4 KB."""
    import deepnet as dn
    from deepnet.io import to_bytes
    from deepnet.optimizers import SGD, Adam, Momentum, RMSprop, schedules

    rng = np.random.default_rng(1)
    m = 8
    out: dict[str, bytes] = {}

    def labels(k: int) -> np.ndarray:
        return rng.integers(0, k, m)

    # Conv1D (stride 2, integer padding) -> max pooling -> flatten -> dense; untrained
    model = dn.Sequential(
        [
            dn.Conv1D(3, 3, strides=2, padding=1, activation="relu"),
            dn.MaxPooling1D(2),
            dn.Flatten(),
            dn.Dense(3, activation="softmax"),
        ],
        input_shape=(1, 16),
        loss="categorical_crossentropy",
        seed=5,
    )
    out["v2-f32-conv1d-maxpool-flatten-dense"] = to_bytes(model)

    # Conv2D "same" -> max pooling 2x2 -> global average pooling -> dense; one SGD epoch
    model = dn.Sequential(
        [
            dn.Conv2D(2, 3, padding="same", activation="relu", l2=1e-3),
            dn.MaxPooling2D(),
            dn.GlobalAveragePooling2D(),
            dn.Dense(2, activation="softmax"),
        ],
        input_shape=(1, 6, 6),
        loss="categorical_crossentropy",
        seed=6,
        dtype="float64",
    )
    model.fit(
        rng.normal(size=(1, 6, 6, m)),
        labels(2),
        epochs=1,
        batch_size=4,
        optimizer=SGD(0.05),
        verbose=0,
    )
    out["v2-f64-conv2d-same-maxpool2d-gap2d-sgd"] = to_bytes(model)

    # Bidirectional GRU returning the sequence -> flatten -> dense; untrained
    model = dn.Sequential(
        [
            dn.Bidirectional(dn.GRU(3, return_sequences=True)),
            dn.Flatten(),
            dn.Dense(2, activation="softmax"),
        ],
        input_shape=(2, 4),
        loss="categorical_crossentropy",
        seed=7,
    )
    out["v2-f32-bidirectional-gru-seq-flatten-dense"] = to_bytes(model)

    # LSTM (last state) -> dense, with an Adam state after a short fit
    model = dn.Sequential(
        [dn.LSTM(3), dn.Dense(1, activation="sigmoid")],
        input_shape=(2, 4),
        loss="binary_crossentropy",
        seed=8,
    )
    model.fit(
        rng.normal(size=(2, 4, m)), labels(2), epochs=2, batch_size=4, optimizer=Adam(), verbose=0
    )
    out["v2-f32-lstm-dense-adam"] = to_bytes(model)

    # SimpleRNN returning the sequence -> global max pooling over time -> dense; Momentum
    model = dn.Sequential(
        [
            dn.SimpleRNN(3, return_sequences=True),
            dn.GlobalMaxPooling1D(),
            dn.Dense(2, activation="softmax"),
        ],
        input_shape=(2, 5),
        loss="categorical_crossentropy",
        seed=9,
        dtype="float64",
    )
    model.fit(
        rng.normal(size=(2, 5, m)),
        labels(2),
        epochs=1,
        batch_size=4,
        optimizer=Momentum(0.05),
        verbose=0,
    )
    out["v2-f64-simplernn-seq-gmp1d-dense-momentum"] = to_bytes(model)

    # Dropout on a (C, L, m) activation, between a convolution and average pooling "same"
    # (pool 3, stride 2 over odd lengths) -> global average pooling; RMSprop with a schedule
    # (the dropout layer's random state advances during the fit)
    model = dn.Sequential(
        [
            dn.Conv1D(2, 2, activation="tanh"),
            dn.Dropout(0.25),
            dn.AveragePooling1D(3, strides=2, padding="same"),
            dn.GlobalAveragePooling1D(),
            dn.Dense(2, activation="softmax"),
        ],
        input_shape=(1, 8),
        loss="categorical_crossentropy",
        seed=10,
    )
    model.fit(
        rng.normal(size=(1, 8, m)),
        labels(2),
        epochs=2,
        batch_size=4,
        optimizer=RMSprop(schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.9)),
        verbose=0,
    )
    out["v2-f32-conv1d-dropout-avgpool1d-same-gap1d-rmsprop"] = to_bytes(model)

    # average pooling 2-D "same" over an odd image -> global max pooling -> dense
    model = dn.Sequential(
        [
            dn.Conv2D(2, (2, 3), strides=(1, 2), activation="leaky_relu"),
            dn.AveragePooling2D(2, padding="same"),
            dn.GlobalMaxPooling2D(),
            dn.Dense(1),
        ],
        input_shape=(2, 5, 7),
        loss="mse",
        seed=11,
        dtype="float64",
    )
    out["v2-f64-conv2d-avgpool2d-same-gmp2d-dense"] = to_bytes(model)

    # dilated convolutions with "same" padding (1-D and 2-D) -> pooling -> dense
    model = dn.Sequential(
        [
            dn.Conv1D(2, 3, dilation_rate=2, padding="same", activation="relu"),
            dn.MaxPooling1D(2, strides=1),
            dn.Flatten(),
            dn.Dense(2, activation="softmax"),
        ],
        input_shape=(1, 9),
        loss="categorical_crossentropy",
        seed=12,
    )
    out["v2-f32-conv1d-dilated-same-flatten-dense"] = to_bytes(model)
    model = dn.Sequential(
        [
            dn.Conv2D(2, 2, dilation_rate=(2, 1), padding="same", activation="sigmoid"),
            dn.GlobalAveragePooling2D(),
            dn.Dense(2, activation="softmax"),
        ],
        input_shape=(1, 5, 4),
        loss="categorical_crossentropy",
        seed=13,
        dtype="float64",
    )
    out["v2-f64-conv2d-dilated-same-gap2d-dense"] = to_bytes(model)
    return out


def main(argv: list[str]) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = argv[1] if len(argv) > 1 else os.path.join(here, "corpus", "model_file")
    os.makedirs(out_dir, exist_ok=True)
    files = models()
    for name, data in files.items():
        with open(os.path.join(out_dir, f"{name}.safetensors"), "wb") as f:
            f.write(data)
    total = sum(map(len, files.values()))
    print(f"wrote {len(files)} files, {total} bytes, to {out_dir}")


if __name__ == "__main__":
    main(sys.argv)
