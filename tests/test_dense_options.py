"""Dense(use_bias=..., trainable=...): Keras' names, for networks built by hand (section 2)."""

from __future__ import annotations

import deepnet as dn
import numpy as np
import pytest


def _model(first: dn.Dense, dtype: str = "float64") -> dn.Sequential:
    return dn.Sequential(
        [first, dn.Dense(1, activation="sigmoid")],
        n_x=2,
        loss="binary_crossentropy",
        seed=0,
        dtype=dtype,
    )


def test_without_bias_the_layer_has_only_w(rng):
    model = _model(dn.Dense(3, activation="tanh", use_bias=False))
    layer = model.layers[0]
    assert layer.param_names == ("W",) and layer.get_config()["use_bias"] is False
    with pytest.raises(AttributeError, match="'b'"):
        _ = layer.b
    X, y = rng.random((2, 7)), rng.integers(0, 2, 7)
    cache = model.forward(X)
    np.testing.assert_allclose(cache.Z[1], layer.W @ X, rtol=1e-12)  # (9) without b
    grads = model.gradients(X, y)
    assert [tuple(g.shape for g in pair) for pair in grads] == [((3, 2),), ((1, 3), (1, 1))]
    assert dn.gradient_check(model, X, y) < 1e-6
    assert model._net.n_params == 6 + 4
    with pytest.raises(ValueError, match="expected 1 arrays"):
        layer.set_weights([np.zeros((3, 2)), np.zeros((3, 1))])


def test_a_frozen_layer_keeps_its_weights_through_every_optimizer(rng):
    X, y = rng.random((2, 20)), rng.integers(0, 2, 20)
    for optimizer in ("sgd", "momentum", "rmsprop", "adam"):
        model = _model(dn.Dense(3, activation="relu", trainable=False))
        model.layers[0].W = np.array([[1.0, -1.0], [0.5, 0.5], [-1.0, 2.0]])
        frozen = model.layers[0].get_weights()
        trained = model.layers[1].get_weights()
        model.fit(X, y, epochs=3, batch_size=4, optimizer=optimizer, verbose=0)
        assert all(np.array_equal(a, b) for a, b in zip(frozen, model.layers[0].get_weights()))
        assert not np.array_equal(trained[0], model.layers[1].W), optimizer


def test_options_survive_save_load_pickle_and_summary(rng, tmp_path):
    import pickle

    model = _model(dn.Dense(3, activation="tanh", use_bias=False, trainable=False), "float32")
    X, y = rng.random((2, 9)), rng.integers(0, 2, 9)
    model.fit(X, y, epochs=2, optimizer="adam", verbose=0)
    for again in (
        dn.Sequential.from_bytes(model.to_bytes()),
        pickle.loads(pickle.dumps(model)),
    ):
        first = again.layers[0]
        assert (first.use_bias, first.trainable, first.param_names) == (False, False, ("W",))
        assert np.array_equal(again.predict(X), model.predict(X))
        again.fit(X, y, epochs=1, verbose=0)  # still frozen after loading
        assert np.array_equal(again.layers[0].W, model.layers[0].W)
    text = model._summary_text()
    assert "dense (frozen)" in text and "(trainable: 4, frozen: 6)" in text
    assert repr(model.layers[0]) == ("Dense(3, activation='tanh', use_bias=False, trainable=False)")


def test_bad_options_are_refused():
    for bad in (None, 1, "yes"):
        with pytest.raises(TypeError, match="use_bias: expected True or False"):
            dn.Dense(2, use_bias=bad)
        with pytest.raises(TypeError, match="trainable: expected True or False"):
            dn.Dense(2, trainable=bad)


def test_the_teaching_helpers_know_a_layer_without_bias(rng):
    model = _model(dn.Dense(3, activation="tanh", use_bias=False, trainable=False))
    X, y = rng.random((2, 6)), rng.integers(0, 2, 6)
    by_hand = dn.per_example_gradients(model, X, y)  # the loop (2)-(8), with b = 0
    assert [len(pair) for pair in by_hand] == [1, 2]
    for ours, reference in zip(model.gradients(X, y), by_hand):
        for a, b in zip(ours, reference):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    text = model.explain(X, y, print_fn=lambda s: None)
    assert "Z[1] = W[1] A[0]   (use_bias=False)" in text and "db[1]" not in text
    assert "not for layer 1: frozen (trainable=False)" in text
