"""model.forward(X): the lecture's cache, Z^[l] and A^[l] of every layer (A^[0] = X)."""

from __future__ import annotations

import deepnet as dn
import numpy as np
import pytest


def _relu(z):
    return np.maximum(z, 0)


def test_dense_cache_is_equations_9_and_10(rng):
    model = dn.Sequential(
        [dn.Dense(6, activation="relu"), dn.Dropout(0.5), dn.Dense(3, activation="softmax")],
        n_x=4,
        loss="categorical_crossentropy",
        seed=1,
        dtype="float64",
    )
    X = rng.normal(size=(4, 9))
    cache = model.forward(X)
    assert len(cache.Z) == len(cache.A) == 4
    assert cache.Z[0] is None and cache.Z[2] is None  # dropout has no Z
    assert np.array_equal(cache.A[0], X)
    W1, b1 = model.layers[0].W, model.layers[0].b
    np.testing.assert_allclose(cache.Z[1], W1 @ X + b1, rtol=1e-12)  # (9)
    np.testing.assert_allclose(cache.A[1], _relu(cache.Z[1]), rtol=0)  # (10)
    assert np.array_equal(cache.A[2], cache.A[1])  # inference: dropout passes A on
    W3, b3 = model.layers[2].W, model.layers[2].b
    np.testing.assert_allclose(cache.Z[3], W3 @ cache.A[2] + b3, rtol=1e-12)
    e = np.exp(cache.Z[3] - cache.Z[3].max(axis=0))
    np.testing.assert_allclose(cache.A[3], e / e.sum(axis=0), rtol=1e-12)
    assert np.array_equal(cache.A[3], model.predict(X))


def test_conv_and_recurrent_layers_keep_the_example_axis_last(rng):
    model = dn.Sequential(
        [
            dn.Conv1D(4, 3, activation="relu"),
            dn.MaxPooling1D(2),
            dn.Flatten(),
            dn.Dense(2, activation="softmax"),
        ],
        input_shape=(1, 10),
        loss="categorical_crossentropy",
        seed=0,
    )
    X = rng.random((1, 10, 7))
    cache = model.forward(X)
    shapes = [a.shape for a in cache.A]
    assert shapes == [(1, 10, 7), (4, 8, 7), (4, 4, 7), (16, 7), (2, 7)]
    assert [z is None for z in cache.Z] == [True, False, True, True, False]
    assert cache.A[1].dtype == np.float32
    np.testing.assert_array_equal(cache.A[1], _relu(cache.Z[1]))
    np.testing.assert_array_equal(cache.A[3], cache.A[2].reshape(16, 7))  # flatten, c·L + l
    gru = dn.Sequential([dn.GRU(3), dn.Dense(1)], input_shape=(2, 4), loss="mse", seed=0)
    cache = gru.forward(rng.random((2, 4, 5)))
    assert [a.shape for a in cache.A] == [(2, 4, 5), (3, 5), (1, 5)]
    assert cache.Z[1] is None and cache.Z[2].shape == (1, 5)


def test_many_examples_are_computed_in_chunks_with_the_same_result(rng):
    model = dn.Sequential([dn.Dense(3, activation="tanh"), dn.Dense(1)], n_x=2, loss="mse")
    X = rng.normal(size=(2, 9000)).astype(np.float32)  # more than one chunk of 4,096
    cache = model.forward(X)
    parts = [model.forward(X[:, i : i + 1000]) for i in range(0, 9000, 1000)]
    for l in (1, 2):
        joined = np.concatenate([p.A[l] for p in parts], axis=1)
        np.testing.assert_array_equal(cache.A[l], joined)
        np.testing.assert_array_equal(cache.Z[l], np.concatenate([p.Z[l] for p in parts], 1))


def test_bad_input_is_refused_like_predict(rng):
    model = dn.Sequential([dn.Dense(3), dn.Dense(1)], n_x=2, loss="mse")
    with pytest.raises(ValueError, match="transposed"):
        model.forward(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        model.forward(np.array([[np.nan], [0.0]]))
    X = rng.normal(size=(2, 3))
    before = X.copy()
    model.forward(X)
    assert np.array_equal(X, before)
