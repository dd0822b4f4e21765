"""Save/load and pickling (issue 4): exact round trips, resumable training, and every kind of
malformed file rejected with ValueError (OSError for I/O) without running any code."""

import json
import os
import pickle
import struct

import deepnet as dn
import numpy as np
import pytest
from deepnet import _core


@pytest.fixture
def trained(rng):
    model = dn.Sequential(
        [
            dn.Dense(8, activation="relu", l2=1e-3),
            dn.Dropout(0.2),
            dn.Dense(3, activation="softmax"),
        ],
        n_x=5,
        loss="categorical_crossentropy",
        seed=4,
    )
    X = rng.normal(size=(5, 60)).astype(np.float32)
    labels = rng.integers(0, 3, 60)
    model.fit(X, labels, epochs=3, batch_size=16, optimizer="adam", verbose=0)
    return model, X, labels


def test_save_load_predicts_bit_identically_and_resumes(trained, tmp_path):
    model, X, labels = trained
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = dn.load(path)
    assert repr(loaded) == repr(model) and loaded.dtype == "float32"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.optimizer == model.optimizer
    # training continues exactly as the original would (optimizer state, shuffles, masks)
    h1 = model.fit(X, labels, epochs=2, batch_size=16, optimizer="adam", verbose=0)
    h2 = loaded.fit(X, labels, epochs=2, batch_size=16, optimizer="adam", verbose=0)
    assert h1.history == h2.history
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pickle_round_trip_is_exact(trained):
    model, X, labels = trained
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    assert clone._net.rng_states() == model._net.rng_states()
    assert clone is not model and clone.layers[0] is not model.layers[0]


def test_untrained_and_float64_models_round_trip(tmp_path, rng):
    model = dn.Sequential([dn.Dense(2, activation="tanh")], n_x=3, loss="mse", dtype="float64")
    path = os.fspath(tmp_path / "m.safetensors")
    model.save(path)
    loaded = dn.load(path)
    assert loaded.optimizer is None and loaded.dtype == "float64"
    X = rng.normal(size=(3, 4))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="not built yet"):
        dn.Sequential([dn.Dense(2)], loss="mse").save(path)


def test_a_failed_save_keeps_the_old_file(trained, tmp_path):
    model, _, _ = trained
    path = tmp_path / "model.safetensors"
    model.save(path)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        dn.Sequential([dn.Dense(2)], loss="mse").save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]


def _write(tmp_path, data: bytes):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda good: b"", "empty"),
        (lambda good: good[: len(good) // 2], "not a valid deepnet model file"),
        (lambda good: good[:5], "not a valid deepnet model file"),
        (
            lambda good: bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
            "not a valid deepnet model file",
        ),
        (lambda good: struct.pack("<Q", 2**40) + b"{}", "not a valid deepnet model file"),
        (lambda good: pickle.dumps({"W": [1, 2, 3]}), "not a valid deepnet model file"),
    ],
    ids=["empty", "truncated", "tiny", "random", "oversized-header", "pickle"],
)
def test_malformed_files_raise_value_error(trained, tmp_path, make, message):
    model, _, _ = trained
    good = (
        model.save(tmp_path / "good.safetensors"),
        (tmp_path / "good.safetensors").read_bytes(),
    )[1]
    with pytest.raises(ValueError, match=message):
        dn.load(_write(tmp_path, make(good)))


def test_foreign_safetensors_and_bad_metadata(tmp_path):
    w = np.zeros((2, 3), np.float32)
    cases = [
        ({}, "format None"),
        ({"format": "deepnet", "format_version": "99"}, "format version '99'"),
        (
            {"format": "deepnet", "format_version": "1", "architecture": "{not json"},
            "not valid JSON",
        ),
        ({"format": "deepnet", "format_version": "1", "architecture": "[1]"}, "not a JSON object"),
        (
            {"format": "deepnet", "format_version": "1", "architecture": json.dumps({"n_x": 3})},
            "the architecture has no '(loss|layers)'",
        ),
    ]
    for metadata, message in cases:
        path = _write(tmp_path, _core.safetensors_dumps([("layers.0.W", w)], metadata))
        with pytest.raises(ValueError, match=message):
            dn.load(path)
    arch = {
        "n_x": 3,
        "loss": "mse",
        "seed": 0,
        "dtype": "float32",
        "rng_states": [],
        "layers": [{"type": "dense", "units": 2, "activation": "linear"}],
        "optimizer": None,
    }
    meta = {"format": "deepnet", "format_version": "1", "architecture": json.dumps(arch)}
    # W of the wrong shape, a missing b, an unknown layer type, a dtype mismatch
    bad_tensors = [
        (
            [
                ("layers.0.W", np.zeros((3, 2), np.float32)),
                ("layers.0.b", np.zeros((2, 1), np.float32)),
            ],
            r"expected shape \(2, 3\)",
        ),
        ([("layers.0.W", w)], "'layers.0.b' is missing"),
        ([("layers.0.W", np.zeros((2, 3))), ("layers.0.b", np.zeros((2, 1)))], "is float64"),
    ]
    for tensors, message in bad_tensors:
        with pytest.raises(ValueError, match=message):
            dn.load(_write(tmp_path, _core.safetensors_dumps(tensors, meta)))
    arch["layers"] = [{"type": "__import__('os').system('echo hi')"}]
    meta["architecture"] = json.dumps(arch)
    with pytest.raises(ValueError, match="unknown layer type"):
        dn.load(_write(tmp_path, _core.safetensors_dumps([], meta)))


def test_paths_must_be_paths(trained):
    model, _, _ = trained
    with pytest.raises(TypeError, match="path: expected a str or os.PathLike, got int"):
        dn.load(0)  # open(0) would read standard input
    with pytest.raises(TypeError, match="got NoneType"):
        model.save(None)


def test_io_errors_are_os_errors(tmp_path):
    with pytest.raises(OSError):
        dn.load(tmp_path / "missing.safetensors")
    with pytest.raises(OSError):
        dn.load(tmp_path)  # a directory


def test_unbuilt_models_pickle_too():
    model = dn.Sequential([dn.Dense(3, activation="relu", l2=0.1), dn.Dropout(0.5)], loss="mse")
    clone = pickle.loads(pickle.dumps(model))
    assert repr(clone) == repr(model) and not clone.built
