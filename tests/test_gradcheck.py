"""Gradient checking: backpropagation (11)–(15) against centred finite differences of J."""

from __future__ import annotations

import deepnet as dn
import numpy as np
import pytest
from numpy_net import LOSS_OUTPUTS, build, params_of, targets

SIZES = (3, 4, 4, 3)  # two hidden layers, so (14) passes dA through a hidden g'
M = 5


def _problem(hidden, loss, output, rng, dtype="float64"):
    model = build(SIZES, hidden, output, loss, seed=7, dtype=dtype, rng=rng)
    X = rng.normal(size=(SIZES[0], M))
    return model, X, targets(loss, SIZES[-1], M, rng)


@pytest.mark.parametrize("loss,output", LOSS_OUTPUTS)
@pytest.mark.parametrize("hidden", dn.ACTIVATIONS)
def test_gradient_check_every_activation_and_loss(hidden, loss, output, rng):
    """Every activation as hidden g^[l] with every loss; for mse every activation also as
    g^[L]; for the cross-entropies sigmoid and softmax outputs. Float64: < 1e-7."""
    model, X, Y = _problem(hidden, loss, output, rng)
    assert dn.gradient_check(model, X, Y) < 1e-7


def _numeric_gradient(model, X, Y, eps=1e-6):
    """Finite differences computed here, independently of deepnet.gradcheck."""
    out = []
    for layer in model.layers:
        pair = []
        for name in ("W", "b"):
            theta = np.array(getattr(layer, name))
            grad = np.zeros_like(theta)
            for k in np.ndindex(theta.shape):
                for sign in (1, -1):
                    shifted = theta.copy()
                    shifted[k] += sign * eps
                    setattr(layer, name, shifted)
                    grad[k] += sign * model.cost(X, Y) / (2 * eps)
            setattr(layer, name, theta)
            pair.append(grad)
        out.append(pair)
    return out


@pytest.mark.parametrize(
    "hidden,loss,output",
    [
        ("tanh", "categorical_crossentropy", "softmax"),
        ("relu", "binary_crossentropy", "sigmoid"),
        ("softmax", "mse", "softmax"),
    ],
)
def test_own_finite_differences_agree_with_gradients(hidden, loss, output, rng):
    """J(θ ± ε e_k) differences computed in the test itself match model.gradients to 1e-7."""
    model, X, Y = _problem(hidden, loss, output, rng)
    numeric = _numeric_gradient(model, X, Y)
    for (dW, db), (nW, nb) in zip(model.gradients(X, Y), numeric):
        np.testing.assert_allclose(dW, nW, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(db, nb, rtol=1e-6, atol=1e-8)


def test_gradient_check_of_a_float32_model_uses_a_float64_copy(rng):
    """A float32 model is checked on a float64 copy, so the bound is still 1e-7; the model
    itself is left as it was."""
    model, X, Y = _problem("tanh", "categorical_crossentropy", "softmax", rng, dtype="float32")
    before = params_of(model)
    assert dn.gradient_check(model, X, Y) < 1e-7
    assert model.dtype == "float32"
    for (W, b), layer in zip(before, model.layers):
        assert np.array_equal(W, layer.W) and np.array_equal(b, layer.b)


def test_gradient_check_leaves_the_model_unchanged(rng):
    model, X, Y = _problem("sigmoid", "mse", "linear", rng)
    before = params_of(model)
    dn.gradient_check(model, X, Y)
    for (W, b), layer in zip(before, model.layers):
        assert np.array_equal(W, layer.W) and np.array_equal(b, layer.b)


def test_gradient_check_detects_a_wrong_gradient(rng, monkeypatch):
    """The check is not vacuous: a backward pass that forgets a factor of 2 on one layer's dW
    is reported far above 1e-3."""
    model, X, Y = _problem("tanh", "mse", "linear", rng)
    true_gradients = dn.Sequential.gradients

    def wrong(self, X, Y):
        grads = true_gradients(self, X, Y)
        return [(2 * grads[0][0], grads[0][1]), *grads[1:]]

    monkeypatch.setattr(dn.Sequential, "gradients", wrong)
    assert dn.gradient_check(model, X, Y) > 1e-3
