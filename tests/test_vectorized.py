"""Section 4 versus section 5: the per-example loop (2)–(8) and the vectorized (9)–(15) give the
same gradients, and both equal an independent NumPy chain rule."""

from __future__ import annotations

import deepnet as dn
import numpy as np
import pytest
from numpy_net import LOSS_OUTPUTS, build, gradients, max_abs_diff, params_of, targets

# n_x, n^[1], ..., n^[L]: three architectures of 3 to 5 layers (n_y >= 2 so softmax is not
# constant)
ARCHITECTURES = [(3, 4, 5, 2), (4, 6, 3, 5, 3), (2, 3, 4, 3, 4, 2)]


def _data(sizes, loss, rng, m=7):
    X = rng.normal(size=(sizes[0], m))
    return X, targets(loss, sizes[-1], m, rng)


@pytest.mark.parametrize("sizes", ARCHITECTURES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("loss,output", LOSS_OUTPUTS)
@pytest.mark.parametrize("hidden", dn.ACTIVATIONS)
def test_per_example_loop_equals_vectorized(sizes, hidden, loss, output, rng):
    """Σ_i of (5)–(6) divided by m equals (12)–(13) to 1e-10 in float64."""
    model = build(sizes, hidden, output, loss, seed=len(sizes), rng=rng)
    X, Y = _data(sizes, loss, rng)
    vectorized = model.gradients(X, Y)
    per_example = dn.per_example_gradients(model, X, Y)
    assert len(vectorized) == len(per_example) == len(sizes) - 1
    for l, ((dW, db), (dW_i, db_i)) in enumerate(zip(vectorized, per_example), start=1):
        assert dW.shape == (sizes[l], sizes[l - 1]) and db.shape == (sizes[l], 1)
        assert dW.dtype == db.dtype == np.float64
        np.testing.assert_allclose(dW, dW_i, rtol=0, atol=1e-10)
        np.testing.assert_allclose(db, db_i, rtol=0, atol=1e-10)
    # not vacuous: the gradient is not all zeros
    assert max(np.abs(g).max() for pair in vectorized for g in pair) > 1e-6


@pytest.mark.parametrize("loss,output", LOSS_OUTPUTS)
@pytest.mark.parametrize("hidden", dn.ACTIVATIONS)
def test_vectorized_equals_numpy_chain_rule(hidden, loss, output, rng):
    """model.gradients equals (11)–(15) written in NumPy with the plain chain rule (softmax
    through its full Jacobian), also where deepnet uses the dZ^[L] = Ŷ − Y shortcut."""
    sizes = (3, 4, 4, 3)
    model = build(sizes, hidden, output, loss, seed=1, rng=rng)
    X, Y = _data(sizes, loss, rng, m=6)
    expected = gradients(params_of(model), [hidden, hidden, output], loss, X, Y)
    assert max_abs_diff(model.gradients(X, Y), expected) < 1e-10


def test_gradients_do_not_change_the_parameters(rng):
    model = build((3, 5, 4, 2), "tanh", "softmax", "categorical_crossentropy", rng=rng)
    before = params_of(model)
    X, Y = _data((3, 5, 4, 2), "categorical_crossentropy", rng)
    first = model.gradients(X, Y)
    dn.per_example_gradients(model, X, Y)
    second = model.gradients(X, Y)
    for (W, b), layer in zip(before, model.layers):
        assert np.array_equal(W, layer.W) and np.array_equal(b, layer.b)
    assert max_abs_diff(first, second) == 0.0


def test_gradient_of_one_example_batch_is_its_per_example_term(rng):
    """With m = 1, (12) dW = dz aᵀ is exactly (5) for that example: the mean of the single-
    column gradients equals the gradient of the whole batch (J is a mean)."""
    sizes = (3, 4, 3, 2)
    model = build(sizes, "sigmoid", "sigmoid", "binary_crossentropy", rng=rng)
    X, Y = _data(sizes, "binary_crossentropy", rng, m=5)
    columns = [model.gradients(X[:, i : i + 1], Y[:, i : i + 1]) for i in range(5)]
    mean = [
        tuple(np.mean([c[l][k] for c in columns], axis=0) for k in range(2))
        for l in range(len(sizes) - 1)
    ]
    assert max_abs_diff(model.gradients(X, Y), mean) < 1e-12
