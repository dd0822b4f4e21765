"""Sequential.explain: one training step as the lecture writes it, with the model's shapes."""

from __future__ import annotations

import deepnet as dn
import numpy as np
import pytest
from deepnet.explain import explain


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def test_a_dense_step_names_every_equation_with_its_shapes(rng):
    model = dn.Sequential(
        [dn.Dense(64, activation="relu"), dn.Dense(10, activation="softmax")],
        n_x=64,
        loss="categorical_crossentropy",
        seed=0,
        dtype="float64",
    )
    X, y = rng.random((64, 32)), rng.integers(0, 10, 32)
    printed: list[str] = []
    text = model.explain(X, y, print_fn=printed.append)
    assert printed == [text]
    lines = _lines(text)
    assert "(9) Z[1] = W[1] A[0] + b[1] (64, 64)·(64, 32) + (64, 1) → (64, 32)" in lines
    assert "(10) A[1] = relu(Z[1]) (64, 32)" in lines
    assert "(10) A[2] = softmax(Z[2]) = Ŷ (10, 32)" in lines
    assert any(line.startswith("(15)·(11) dZ[2] = Ŷ − Y") for line in lines)
    assert "(14) dA[1] = W[2]ᵀ dZ[2] (64, 10)·(10, 32) → (64, 32)" in lines
    assert "(14) not computed for the first layer" in lines
    assert "(16) W[l] = W[l] − α dW[l]" in lines and "(17) b[l] = b[l] − α db[l]" in lines
    # the numbers are the model's: J and the size of every gradient
    assert f"= {model.cost(X, y):.6g}" in text
    (dW1, db1), (dW2, _) = model.gradients(X, y)
    assert f"(64, 32)·(32, 64) → (64, 64) ‖·‖ = {np.linalg.norm(dW1):.4g}" in " ".join(lines)
    assert f"‖·‖ = {np.linalg.norm(dW2):.4g}" in text
    # backward is written from the output down
    assert text.index("dW[2]") < text.index("dW[1]")


def test_explaining_changes_nothing(rng):
    model = dn.Sequential(
        [dn.Dense(4, activation="tanh"), dn.Dropout(0.5), dn.Dense(1, activation="sigmoid")],
        n_x=3,
        loss="binary_crossentropy",
        seed=1,
    )
    X, y = rng.random((3, 10)), rng.integers(0, 2, 10)
    model.fit(X, y, epochs=2, optimizer="adam", verbose=0)
    weights, counters = model.get_weights(), model._net.optimizer_counters
    states = model._net.rng_states()
    text = explain(model, X, y, print_fn=lambda s: None)
    assert "adam, α = 0.001" in text and "(16)–(17)" in text
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert model._net.optimizer_counters == counters and model._net.rng_states() == states


@pytest.mark.parametrize(
    "layers, input_shape, expect",
    [
        (
            [dn.Conv1D(4, 3, activation="relu"), dn.MaxPooling1D(2), dn.Flatten(), dn.Dense(1)],
            (2, 10),
            [
                "(9) Z[1] = W[1] ∗ A[0] + b[1]",
                "(4, 2, 3) ∗ (2, 10, 8) + (4, 1) → (4, 8, 8)",
                "A[2] = maxpool(A[1]) (4, 8, 8) → (4, 4, 8)",
                "A[3] = flatten(A[2])",
                "dA[1] = dA[2] routed to each window's maximum (4, 4, 8) → (4, 8, 8)",
            ],
        ),
        (
            [dn.GRU(3, return_sequences=True), dn.Bidirectional(dn.LSTM(2)), dn.Dense(1)],
            (2, 4),
            [
                "h_t = GRU(x_t, h_(t−1)), t = 1..4",
                "(2, 4, 8) → (3, 4, 8)",
                "Bidirectional(LSTM)",
                "backpropagation through time",
                "(12)–(13) dforward_Wx[2] → (8, 3)",
                "(14) dA[1] = the input gradient of every step (3, 4, 8)",
            ],
        ),
    ],
)
def test_conv_pooling_and_recurrent_steps(rng, layers, input_shape, expect):
    model = dn.Sequential(layers, input_shape=input_shape, loss="mse", seed=0)
    text = " ".join(
        _lines(
            explain(
                model, rng.random((*input_shape, 8)), rng.random((1, 8)), print_fn=lambda s: None
            )
        )
    )
    for fragment in expect:
        assert fragment in text, fragment


def test_bad_input_gets_the_models_messages(rng):
    model = dn.Sequential([dn.Dense(2), dn.Dense(1)], n_x=3, loss="mse")
    with pytest.raises(ValueError, match="transposed"):
        explain(model, np.zeros((5, 3)), np.zeros((1, 5)))
