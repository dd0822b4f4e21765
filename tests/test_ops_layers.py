"""deepnet.ops for the layers of section 3: convolution, pooling and one recurrent step by hand,
against the layers `fit` runs and against finite differences; and dense_backward's m."""

from __future__ import annotations

import deepnet as dn
import numpy as np
import pytest
from deepnet import ops


def _numeric(f, x, eps=1e-6):
    """Central differences of the scalar f at every element of x (changed in place, restored)."""
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        old = x[k]
        x[k] = old + eps
        plus = f()
        x[k] = old - eps
        minus = f()
        x[k] = old
        g[k] = (plus - minus) / (2 * eps)
    return g


@pytest.mark.parametrize(
    "w_shape,x_shape,kwargs",
    [
        ((3, 2, 4), (2, 11, 5), dict(strides=2, padding="same")),
        ((3, 2, 3), (2, 9, 4), dict(padding=1, dilation_rate=2)),
        ((2, 2, 3, 2), (2, 6, 5, 3), dict(strides=(2, 1), padding="valid")),
    ],
)
def test_conv_by_hand_is_the_layer_and_its_gradients_are_exact(rng, w_shape, x_shape, kwargs):
    W, b, X = rng.normal(size=w_shape), rng.normal(size=(w_shape[0], 1)), rng.normal(size=x_shape)
    Z, A = ops.conv_forward(W, b, X, "tanh", **kwargs)
    cls = dn.Conv1D if len(w_shape) == 3 else dn.Conv2D
    kernel = w_shape[2] if len(w_shape) == 3 else w_shape[2:]
    model = dn.Sequential(
        [cls(w_shape[0], kernel, activation="tanh", **kwargs), dn.Flatten()],
        input_shape=x_shape[:-1],
        loss="mse",
        dtype="float64",
    )
    model.layers[0].W, model.layers[0].b = W, b
    np.testing.assert_array_equal(model.predict(X), A.reshape(-1, x_shape[-1]))
    np.testing.assert_allclose(np.tanh(Z), A, rtol=1e-14)
    R = rng.normal(size=A.shape)  # J = Σ R ⊙ A, so dA = R
    dW, db, dX = ops.conv_backward(R, X, W, b, "tanh", **kwargs)

    def J():
        return float((R * ops.conv_forward(W, b, X, "tanh", **kwargs)[1]).sum())

    m = x_shape[-1]
    # (12)–(13) carry the 1/m of J's mean; J here is a sum over the examples
    np.testing.assert_allclose(dW * m, _numeric(J, W), atol=1e-6)
    np.testing.assert_allclose(db * m, _numeric(J, b), atol=1e-6)
    np.testing.assert_allclose(dX, _numeric(J, X), atol=1e-6)
    assert ops.conv_backward(R, X, W, b, "tanh", first_layer=True, **kwargs)[2] is None


@pytest.mark.parametrize("kind", ["max", "average", "global_max", "global_average"])
@pytest.mark.parametrize("shape", [(2, 9, 3), (2, 5, 6, 3)])
def test_pooling_by_hand_matches_finite_differences(rng, kind, shape):
    X = rng.normal(size=shape)
    kwargs = {} if kind.startswith("global") else dict(pool_size=2, strides=1, padding="same")
    A = ops.pool_forward(X, kind, **kwargs)
    R = rng.normal(size=A.shape)
    dX = ops.pool_backward(R, X, kind, **kwargs)
    np.testing.assert_allclose(
        dX, _numeric(lambda: float((R * ops.pool_forward(X, kind, **kwargs)).sum()), X), atol=1e-6
    )


@pytest.mark.parametrize("cell,g", [("simple_rnn", 1), ("gru", 3), ("lstm", 4)])
def test_one_recurrent_step_by_hand_matches_finite_differences(rng, cell, g):
    u, n_x, m = 3, 2, 4
    Wx, Wh = rng.normal(size=(g * u, n_x)), rng.normal(size=(g * u, u))
    bx, bh = rng.normal(size=(g * u, 1)), rng.normal(size=(g * u, 1))
    x, h = rng.normal(size=(n_x, m)), rng.normal(size=(u, m))
    c = rng.normal(size=(u, m)) if cell == "lstm" else None
    R = rng.normal(size=(u, m))

    def J():
        return float((R * ops.recurrent_step(cell, x, h, Wx, Wh, bx, bh, c_prev=c)["h"]).sum())

    step = ops.recurrent_step(cell, x, h, Wx, Wh, bx, bh, c_prev=c)
    grads = ops.recurrent_step_backward(cell, R, step, x, h, Wx, Wh, bx, bh, c_prev=c)
    for name, p in [("dWx", Wx), ("dWh", Wh), ("dbx", bx), ("dbh", bh)]:
        np.testing.assert_allclose(grads[name] * m, _numeric(J, p), atol=1e-6, err_msg=name)
    np.testing.assert_allclose(grads["dx"], _numeric(J, x), atol=1e-6)
    np.testing.assert_allclose(grads["dh_prev"], _numeric(J, h), atol=1e-6)
    if c is not None:
        np.testing.assert_allclose(grads["dc_prev"], _numeric(J, c), atol=1e-6)


def test_a_gru_layer_is_its_steps(rng):
    """The layer's time loop runs the same step kernel: h_T by hand equals predict."""
    u, n_x, T, m = 4, 2, 5, 3
    model = dn.Sequential([dn.GRU(u)], input_shape=(n_x, T), loss="mse", dtype="float64")
    X = rng.normal(size=(n_x, T, m))
    Wx, Wh, bx, bh = model.layers[0].get_weights()
    h = None
    for t in range(T):
        h = ops.recurrent_step("gru", X[:, t, :], h, Wx, Wh, bx, bh)["h"]
    np.testing.assert_allclose(model.predict(X), h, rtol=1e-13)


def test_dense_backward_divides_by_the_m_it_is_given(rng):
    W, X = rng.normal(size=(3, 4)), rng.normal(size=(4, 6))
    Z, A = ops.dense_forward(W, np.zeros((3, 1)), X, "linear")
    dZ = rng.normal(size=Z.shape)
    dW6, db6, _ = ops.dense_backward(dZ, Z, A, X, W, "linear", upstream_is_dz=True)
    dW2, db2, _ = ops.dense_backward(dZ, Z, A, X, W, "linear", upstream_is_dz=True, m=2)
    np.testing.assert_allclose(dW2, dW6 * 3)
    np.testing.assert_allclose(db2, db6 * 3)
    with pytest.raises(ValueError, match="m: expected a positive integer"):
        ops.dense_backward(dZ, Z, A, X, W, "linear", m=0)
