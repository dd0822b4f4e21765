"""deepnet.ops: each kernel against NumPy, the Ŷ − Y shortcut against the chain rule, and the
loop of section 7 written by hand against Sequential.fit."""

from __future__ import annotations

import deepnet as dn
import numpy as np
import numpy_net as npn
import pytest
from deepnet import ops

ELEMENTWISE = [a for a in dn.ACTIVATIONS if a != "softmax"]


def _Z(rng, shape=(4, 6), dtype=np.float64):
    Z = rng.normal(scale=2.0, size=shape)
    Z[np.abs(Z) < 1e-3] = 0.5  # keep away from the relu kink
    return Z.astype(dtype)


# -- forward ---------------------------------------------------------------------------------


@pytest.mark.parametrize("act", dn.ACTIVATIONS)
def test_activation_matches_numpy(act, rng):
    """(10) A = g(Z), element by element (softmax per column)."""
    Z = _Z(rng)
    np.testing.assert_allclose(ops.activation(Z, act), npn.g(act, Z), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_activation_derivative_matches_numpy_and_finite_differences(act, rng):
    """g'(Z), the factor of (11): the formula and (g(Z + h) − g(Z − h)) / 2h."""
    Z = _Z(rng)
    d = ops.activation_derivative(Z, act)
    np.testing.assert_allclose(d, npn.g_prime(act, Z), rtol=1e-14, atol=1e-15)
    h = 1e-6
    numeric = (ops.activation(Z + h, act) - ops.activation(Z - h, act)) / (2 * h)
    np.testing.assert_allclose(d, numeric, rtol=1e-7, atol=1e-9)


def test_activation_values_by_hand():
    Z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(ops.activation(Z, "relu"), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(ops.activation(Z, "leaky_relu"), [[-0.4, 0.0, 3.0]], rtol=1e-15)
    np.testing.assert_allclose(ops.activation(Z, "sigmoid")[0, 1], 0.5, rtol=1e-15)
    np.testing.assert_array_equal(ops.activation(Z, "linear"), Z)
    # softmax normalises each column: a column of one row is always 1
    np.testing.assert_array_equal(ops.activation(Z, "softmax"), [[1.0, 1.0, 1.0]])


def test_softmax_and_sigmoid_are_stable_for_large_states():
    Z = np.array([[1000.0, -1000.0], [0.0, 0.0], [-1000.0, 1000.0]])
    A = ops.activation(Z, "softmax")
    np.testing.assert_allclose(A, [[1, 0], [0, 0], [0, 1]], atol=1e-300)
    np.testing.assert_allclose(A.sum(axis=0), 1.0, rtol=1e-15)
    S = ops.activation(np.array([[-1000.0, 1000.0]]), "sigmoid")
    assert np.isfinite(S).all()
    np.testing.assert_allclose(S, [[0.0, 1.0]], atol=1e-300)


def test_softmax_has_no_elementwise_derivative():
    with pytest.raises(ValueError, match="softmax.*Jacobian"):
        ops.activation_derivative(np.zeros((3, 2)), "softmax")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", dn.ACTIVATIONS)
def test_dense_forward_matches_numpy(act, dtype, rng):
    """(9) Z = W A_prev + b (b broadcast over the m columns) and (10) A = g(Z)."""
    W, b, A_prev = (rng.normal(size=s).astype(dtype) for s in [(4, 3), (4, 1), (3, 6)])
    Z, A = ops.dense_forward(W, b, A_prev, act)
    assert Z.shape == A.shape == (4, 6) and Z.dtype == A.dtype == dtype
    Z64 = W.astype(np.float64) @ A_prev.astype(np.float64) + b.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(Z, Z64, rtol=tol, atol=tol)
    np.testing.assert_allclose(A, npn.g(act, Z64), rtol=tol, atol=tol)


# -- cost and (15) ---------------------------------------------------------------------------


def _outputs(loss, rng, n_y=3, m=5):
    if loss == "mse":
        Yhat = rng.normal(size=(n_y, m))
    elif loss == "categorical_crossentropy":
        Yhat = npn.g("softmax", rng.normal(size=(n_y, m)))
    else:
        Yhat = rng.uniform(0.05, 0.95, size=(n_y, m))
    return Yhat, npn.targets(loss, n_y, m, rng)


@pytest.mark.parametrize("loss", dn.LOSSES)
def test_cost_matches_numpy(loss, rng):
    """J = (1/m) Σ_i L(ŷ^(i), y^(i))."""
    Yhat, Y = _outputs(loss, rng)
    assert ops.cost(Yhat, Y, loss) == pytest.approx(npn.cost(loss, Yhat, Y), rel=1e-13)


def test_cost_values_by_hand():
    Yhat, Y = np.array([[0.9, 0.2]]), np.array([[1.0, 0.0]])
    bce = -(np.log(0.9) + np.log(0.8)) / 2
    assert ops.cost(Yhat, Y, "binary_crossentropy") == pytest.approx(bce, rel=1e-14)
    assert ops.cost(Yhat, Y, "mse") == pytest.approx((0.01 + 0.04) / 2, rel=1e-13)
    P = np.array([[0.7, 0.1], [0.2, 0.3], [0.1, 0.6]])
    Yc = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    cce = -(np.log(0.7) + np.log(0.6)) / 2
    assert ops.cost(P, Yc, "categorical_crossentropy") == pytest.approx(cce, rel=1e-14)


def test_cross_entropy_of_certain_wrong_outputs_is_finite():
    """Probabilities are clipped before the log: ŷ = 0 for y = 1 gives a large, finite J."""
    J = ops.cost(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]), "binary_crossentropy")
    assert np.isfinite(J) and J == pytest.approx(-np.log(1e-12), rel=1e-6)
    assert np.isfinite(ops.loss_gradient(np.array([[0.0]]), np.array([[1.0]]), "mse")).all()


@pytest.mark.parametrize("loss", dn.LOSSES)
def test_loss_gradient_is_the_per_example_derivative(loss, rng):
    """(15) dA^[L] column i is (8) ∂L/∂ŷ^(i): it equals m · ∂J/∂Ŷ by finite differences."""
    Yhat, Y = _outputs(loss, rng)
    dA = ops.loss_gradient(Yhat, Y, loss)
    np.testing.assert_allclose(dA, npn.loss_gradient(loss, Yhat, Y), rtol=1e-13)
    h, m = 1e-6, Y.shape[1]
    numeric = np.zeros_like(Yhat)
    for k in np.ndindex(Yhat.shape):
        plus, minus = Yhat.copy(), Yhat.copy()
        plus[k] += h
        minus[k] -= h
        numeric[k] = m * (ops.cost(plus, Y, loss) - ops.cost(minus, Y, loss)) / (2 * h)
    np.testing.assert_allclose(dA, numeric, rtol=1e-6, atol=1e-8)


# -- backward --------------------------------------------------------------------------------


@pytest.mark.parametrize("act", dn.ACTIVATIONS)
def test_dense_backward_matches_numpy(act, rng):
    """(11) dZ = dA * g'(Z) (softmax: full Jacobian), (12) dW = (1/m) dZ A_prevᵀ,
    (13) db = (1/m) Σ_i dz^(i), (14) dA_prev = Wᵀ dZ."""
    W, b, A_prev = rng.normal(size=(4, 3)), rng.normal(size=(4, 1)), rng.normal(size=(3, 6))
    Z, A = ops.dense_forward(W, b, A_prev, act)
    dA = rng.normal(size=(4, 6))
    dW, db, dA_prev = ops.dense_backward(dA, Z, A, A_prev, W, act)
    dZ = npn.dz_from_da(act, dA, Z)
    np.testing.assert_allclose(dW, dZ @ A_prev.T / 6, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(db, dZ.sum(axis=1, keepdims=True) / 6, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dA_prev, W.T @ dZ, rtol=1e-12, atol=1e-14)
    assert (dW.shape, db.shape, dA_prev.shape) == ((4, 3), (4, 1), (3, 6))


def test_dense_backward_first_layer_skips_14(rng):
    W, b, X = rng.normal(size=(2, 3)), rng.normal(size=(2, 1)), rng.normal(size=(3, 4))
    Z, A = ops.dense_forward(W, b, X, "tanh")
    dW, db, dA_prev = ops.dense_backward(np.ones((2, 4)), Z, A, X, W, "tanh", first_layer=True)
    assert dA_prev is None
    dZ = 1 - np.tanh(Z) ** 2
    np.testing.assert_allclose(dW, dZ @ X.T / 4, rtol=1e-12)
    np.testing.assert_allclose(db, dZ.mean(axis=1, keepdims=True), rtol=1e-12)


def test_dense_backward_with_dz_skips_11(rng):
    """upstream_is_dz: the given array is dZ itself, so g' is not applied."""
    W, b, X = rng.normal(size=(2, 3)), rng.normal(size=(2, 1)), rng.normal(size=(3, 4))
    Z, A = ops.dense_forward(W, b, X, "sigmoid")
    dZ = rng.normal(size=(2, 4))
    dW, db, dA_prev = ops.dense_backward(dZ, Z, A, X, W, "sigmoid", upstream_is_dz=True)
    np.testing.assert_allclose(dW, dZ @ X.T / 4, rtol=1e-12)
    np.testing.assert_allclose(db, dZ.mean(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(dA_prev, W.T @ dZ, rtol=1e-12)


@pytest.mark.parametrize(
    "loss,act", [("categorical_crossentropy", "softmax"), ("binary_crossentropy", "sigmoid")]
)
def test_output_shortcut_equals_chain_rule(loss, act, rng):
    """The product (11)·(15) collapses to dZ^[L] = Ŷ − Y for softmax with categorical
    cross-entropy and for sigmoid with binary cross-entropy: the chain rule through
    ops.loss_gradient and g' (the full Jacobian for softmax) gives the same dW, db, dA_prev."""
    n_y, m = 4, 7
    W, b, A_prev = rng.normal(size=(n_y, 3)), rng.normal(size=(n_y, 1)), rng.normal(size=(3, m))
    Z, Yhat = ops.dense_forward(W, b, A_prev, act)
    Y = npn.targets(loss, n_y, m, rng)
    dA = ops.loss_gradient(Yhat, Y, loss)  # (15)
    chain = ops.dense_backward(dA, Z, Yhat, A_prev, W, act, upstream_is_dz=False)
    short = ops.dense_backward(Yhat - Y, Z, Yhat, A_prev, W, act, upstream_is_dz=True)
    for c, s in zip(chain, short):
        np.testing.assert_allclose(c, s, rtol=1e-10, atol=1e-12)
    # the collapsed dZ is also what numpy's chain rule gives
    np.testing.assert_allclose(npn.dz_from_da(act, dA, Z), Yhat - Y, rtol=1e-10, atol=1e-12)


# -- update ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_update_in_place(dtype, rng):
    """(16)–(17): param −= α · grad, in place; grad is not touched."""
    param = rng.normal(size=(3, 4)).astype(dtype)
    grad = rng.normal(size=(3, 4)).astype(dtype)
    expected = param - dtype(0.25) * grad
    grad_before, ident = grad.copy(), id(param)
    assert ops.update(param, grad, learning_rate=0.25) is None
    assert id(param) == ident and param.dtype == dtype
    np.testing.assert_allclose(param, expected, rtol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(grad, grad_before)


def test_update_of_a_strided_view_writes_through(rng):
    base = np.zeros((4, 6))
    view = base[:, ::2]
    ops.update(view, np.ones((4, 3)), learning_rate=0.5)
    np.testing.assert_array_equal(base[:, ::2], -0.5)
    np.testing.assert_array_equal(base[:, 1::2], 0.0)


@pytest.mark.parametrize("act", dn.ACTIVATIONS)
def test_float32_kernels_close_to_float64(act, rng):
    W, b, A_prev = rng.normal(size=(4, 3)), rng.normal(size=(4, 1)), rng.normal(size=(3, 6))
    f32 = [x.astype(np.float32) for x in (W, b, A_prev)]
    Z32, A32 = ops.dense_forward(*f32, act)
    Z64, A64 = ops.dense_forward(W, b, A_prev, act)
    assert A32.dtype == np.float32
    np.testing.assert_allclose(A32, A64, rtol=1e-5, atol=1e-6)
    dA = rng.normal(size=(4, 6))
    g32 = ops.dense_backward(dA.astype(np.float32), Z32, A32, f32[2], f32[0], act)
    g64 = ops.dense_backward(dA, Z64, A64, A_prev, W, act)
    for x, y in zip(g32, g64):
        assert x.dtype == np.float32
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


# -- section 7 by hand = Sequential.fit ------------------------------------------------------


def _hand_epoch(params, acts, loss, X, Y, lr):
    """One step of section 7 with deepnet.ops on (X, Y); returns J before the update."""
    cache = []
    A = X
    for (W, b), act in zip(params, acts):
        Z, A_next = ops.dense_forward(W, b, A, act)  # (9)-(10)
        cache.append((Z, A_next, A))
        A = A_next
    J = ops.cost(A, Y, loss)
    paired = (loss, acts[-1]) in {
        ("categorical_crossentropy", "softmax"),
        ("binary_crossentropy", "sigmoid"),
    }
    upstream = A - Y if paired else ops.loss_gradient(A, Y, loss)  # (15) or Ŷ − Y
    grads = []
    for l in reversed(range(len(params))):
        Z, A_l, A_prev = cache[l]
        dW, db, upstream = ops.dense_backward(
            upstream,
            Z,
            A_l,
            A_prev,
            params[l][0],
            acts[l],
            upstream_is_dz=paired and l == len(params) - 1,
            first_layer=l == 0,
        )
        grads.append((l, dW, db))
    for l, dW, db in grads:  # (16)-(17)
        ops.update(params[l][0], dW, learning_rate=lr)
        ops.update(params[l][1], db, learning_rate=lr)
    return J


CONFIGS = [
    ((4, 6, 5, 3), "relu", "softmax", "categorical_crossentropy"),
    ((3, 5, 4, 2), "tanh", "linear", "mse"),
    ((3, 4, 4, 2), "leaky_relu", "sigmoid", "binary_crossentropy"),
]


@pytest.mark.parametrize("sizes,hidden,output,loss", CONFIGS)
def test_hand_written_loop_equals_fit_full_batch(sizes, hidden, output, loss, rng):
    """Steps 1–6 of section 7 with ops, from the model's own initial W, b, equal
    fit(batch_size=None, shuffle=False) to ~1e-12 after a few epochs, J per epoch included."""
    model = npn.build(sizes, hidden, output, loss, seed=3)
    params = npn.params_of(model)  # writeable float64 copies
    acts = npn.activations_of(model)
    m, epochs, lr = 12, 5, 0.3
    X = rng.normal(size=(sizes[0], m))
    Y = npn.targets(loss, sizes[-1], m, rng)
    costs = [_hand_epoch(params, acts, loss, X, Y, lr) for _ in range(epochs)]
    history = model.fit(
        X, Y, epochs=epochs, learning_rate=lr, batch_size=None, shuffle=False, verbose=0
    )
    for (W, b), layer in zip(params, model.layers):
        np.testing.assert_allclose(layer.W, W, rtol=0, atol=1e-12)
        np.testing.assert_allclose(layer.b, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(history.cost, costs, rtol=1e-10)
    assert costs[-1] < costs[0]  # it did learn something


@pytest.mark.parametrize("shuffle", [False, True])
def test_hand_written_mini_batches_equal_fit(shuffle, rng):
    """Mini-batches of 4 columns (the last one shorter), visited in order or in the shuffled
    orders the model announces (peek_orders); the epoch's J is the mean of the batch costs
    weighted by their sizes."""
    sizes, loss, seed = (3, 5, 2), "categorical_crossentropy", 11
    model = npn.build(sizes, "tanh", "softmax", loss, seed=seed)
    params, acts = npn.params_of(model), npn.activations_of(model)
    m, bs, lr, epochs = 10, 4, 0.5, 3
    X = rng.normal(size=(sizes[0], m))
    Y = npn.targets(loss, sizes[-1], m, rng)
    orders = model._net.peek_orders(m, epochs)
    assert all(sorted(o) == list(range(m)) for o in orders)  # each a permutation
    costs = []
    for epoch in range(epochs):
        order = np.array(orders[epoch]) if shuffle else np.arange(m)
        total = 0.0
        for start in range(0, m, bs):
            idx = order[start : start + bs]
            total += len(idx) * _hand_epoch(params, acts, loss, X[:, idx], Y[:, idx], lr)
        costs.append(total / m)
    history = model.fit(
        X, Y, epochs=epochs, learning_rate=lr, batch_size=bs, shuffle=shuffle, verbose=0
    )
    for (W, b), layer in zip(params, model.layers):
        np.testing.assert_allclose(layer.W, W, rtol=0, atol=1e-12)
        np.testing.assert_allclose(layer.b, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(history.cost, costs, rtol=1e-10)
