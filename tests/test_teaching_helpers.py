"""The teaching helpers (per_example_gradients, gradient_check, deepnet.ops) accept what the
model accepts and explain their errors; fit warns when J grows by orders of magnitude; the
conventions stated in the docstrings are the ones the code follows."""

from __future__ import annotations

import warnings

import deepnet as dn
import numpy as np
import pytest
from deepnet import ops

LABEL_DTYPES = [np.int64, np.int32, np.int8, np.uint8, np.uint64, bool]


def _classifier(loss: str, n_y: int, dtype: str = "float64") -> dn.Sequential:
    out = "softmax" if loss == "categorical_crossentropy" else "sigmoid"
    return dn.Sequential(
        [dn.Dense(4, activation="tanh"), dn.Dense(n_y, activation=out)],
        n_x=3,
        loss=loss,
        seed=1,
        dtype=dtype,
    )


# -- 1. the helpers take what the model takes ------------------------------------------------


@pytest.mark.parametrize("label_dtype", LABEL_DTYPES)
@pytest.mark.parametrize("loss,n_y", [("categorical_crossentropy", 3), ("binary_crossentropy", 1)])
def test_per_example_gradients_take_integer_labels(loss, n_y, label_dtype, rng):
    """Integer labels (m,) give the per-example loop (5)–(6) of the one-hot (or row) targets,
    and it equals the vectorized (12)–(13) to 1e-10."""
    model = _classifier(loss, n_y)
    X = rng.normal(size=(3, 7))
    labels = rng.integers(0, 2 if n_y == 1 else n_y, 7).astype(label_dtype)
    Y = np.eye(n_y)[:, labels.astype(int)] if n_y > 1 else labels.astype(float)[None, :]
    by_labels = dn.per_example_gradients(model, X, labels)
    by_targets = dn.per_example_gradients(model, X, Y)
    vectorized = model.gradients(X, labels)
    for (dW, db), (dW_y, db_y), (dW_v, db_v) in zip(by_labels, by_targets, vectorized):
        np.testing.assert_array_equal(dW, dW_y)
        np.testing.assert_array_equal(db, db_y)
        np.testing.assert_allclose(dW, dW_v, rtol=0, atol=1e-10)
        np.testing.assert_allclose(db, db_v, rtol=0, atol=1e-10)
    assert max(np.abs(g).max() for pair in by_labels for g in pair) > 1e-4  # not vacuous


@pytest.mark.parametrize("label_dtype", LABEL_DTYPES)
def test_gradient_check_takes_integer_labels(label_dtype, rng):
    model = _classifier("categorical_crossentropy", 3, dtype="float32")
    X = rng.normal(size=(3, 6)).astype(np.float32)
    labels = np.array([0, 1, 2, 1, 0, 2]).astype(label_dtype if label_dtype is not bool else int)
    assert dn.gradient_check(model, X, labels) < 1e-7


def test_per_example_gradients_take_lists_and_integer_x(rng):
    model = _classifier("binary_crossentropy", 1)
    X = rng.integers(-2, 3, size=(3, 5))
    labels = [0, 1, 1, 0, 1]
    got = dn.per_example_gradients(model, X.tolist(), labels)
    want = model.gradients(X.astype(float), np.array([labels], dtype=float))
    for (dW, db), (dW_v, db_v) in zip(got, want):
        np.testing.assert_allclose(dW, dW_v, rtol=0, atol=1e-10)
        np.testing.assert_allclose(db, db_v, rtol=0, atol=1e-10)


@pytest.mark.parametrize("helper", [dn.per_example_gradients, dn.gradient_check])
def test_helpers_give_the_models_messages(helper, rng):
    """The same errors, word for word, as fit for the same bad input."""
    model = _classifier("categorical_crossentropy", 3)
    X = rng.normal(size=(3, 4))
    bad = [
        (X.T, [0, 1, 2, 0]),  # X transposed
        (X, np.array([0, 1, 3, 0])),  # a label out of range
        (X, np.array([0.0, 1.0, 2.0, 0.0])),  # float labels of shape (m,)
        (X, np.array([0, 1, 2])),  # one label short
    ]
    for Xb, Yb in bad:
        with pytest.raises((ValueError, TypeError)) as from_fit:
            model.fit(Xb, Yb, epochs=1, verbose=0)
        with pytest.raises(type(from_fit.value)) as from_helper:
            helper(model, Xb, Yb)
        assert str(from_helper.value) == str(from_fit.value)
    assert "did you pass X transposed?" in str(pytest.raises(ValueError, helper, model, X.T, [0]))


def _dense_case(rng):
    W, b, X = rng.normal(size=(4, 3)), rng.normal(size=(4, 1)), rng.normal(size=(3, 5))
    Z, A = ops.dense_forward(W, b, X, "tanh")
    return W, b, X, Z, A


def test_a_transposed_argument_is_named(rng):
    W, b, X, Z, A = _dense_case(rng)
    hint = r"W is \(n\^\[l\], n\^\[l-1\]\).*A_prev \(n\^\[l-1\], m\)"
    cases = [
        (lambda: ops.dense_forward(W, b, X.T, "tanh"), r"A_prev: .*did you pass X \(or A_prev\) "),
        (lambda: ops.dense_forward(W.T, b, X, "tanh"), r"W: .*did you pass W transposed\? "),
        (lambda: ops.dense_forward(W, b.T, X, "tanh"), r"b: .*did you pass b transposed\? "),
        (lambda: ops.dense_backward(A, Z, A, X.T, W, "tanh"), r"did you pass X \(or A_prev\) "),
        (lambda: ops.dense_backward(A.T, Z, A, X, W, "tanh"), r"dA: .*did you pass dA transposed"),
        (
            lambda: ops.dense_backward(A.T, Z, A, X, W, "tanh", upstream_is_dz=True),
            r"dZ: .*did you pass dZ transposed",
        ),
        (lambda: ops.dense_backward(A, Z.T, A, X, W, "tanh"), r"Z: .*did you pass Z transposed"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message + ".*" + hint):
            call()
    with pytest.raises(ValueError, match=r"Y: expected shape \[4, 5\], got \[5, 4\]: did you"):
        ops.cost(A, A.T, "mse")
    with pytest.raises(ValueError, match=r"Y: .*did you pass Y transposed\? Ŷ and Y are"):
        ops.loss_gradient(A, A.T, "mse")
    with pytest.raises(ValueError, match=r"grad: .*got \(3, 4\): did you pass grad transposed"):
        ops.update(W.copy(), W.T.copy(), 0.1)
    Wx, Wh, bx = rng.normal(size=(2, 3)), rng.normal(size=(2, 2)), np.zeros((2, 1))
    with pytest.raises(ValueError, match=r"x: expected 3 rows .*did you pass x transposed"):
        ops.recurrent_step("simple_rnn", X.T, None, Wx, Wh, bx, bx)


def test_a_mismatch_that_is_not_a_transpose_keeps_the_kernels_message(rng):
    W, b, X, Z, A = _dense_case(rng)
    with pytest.raises(ValueError, match=r"A_prev: expected 3 rows .*got shape \[2, 5\]$"):
        ops.dense_forward(W, b, X[:2], "tanh")
    with pytest.raises(ValueError, match=r"^dA: expected shape \[4, 5\], got \[4, 4\]$"):
        ops.dense_backward(A[:, :4], Z, A, X, W, "tanh")
    # square matrices: a transpose has the right shape, nothing to say
    Wsq = rng.normal(size=(3, 3))
    ops.dense_forward(Wsq, np.zeros((3, 1)), rng.normal(size=(3, 3)), "relu")


def test_update_of_a_layers_read_only_parameter_says_what_to_do(rng):
    model = dn.Sequential([dn.Dense(2)], n_x=3, loss="mse", dtype="float64")
    layer = model.layers[0]
    dW = np.ones((2, 3))
    with pytest.raises(TypeError, match=r"read-only .*W = layer\.W\.copy\(\).*layer\.W = W"):
        ops.update(layer.W, dW, 0.1)
    # ...and what it says works
    W = layer.W.copy()
    before = W.copy()
    ops.update(W, dW, 0.1)  # (16)
    layer.W = W
    np.testing.assert_array_equal(layer.W, before - 0.1)


# -- 2. fit warns when J grows by orders of magnitude ------------------------------------------


def _blow_up_case(rng):
    """Linear regression whose Hessian has eigenvalues near 2: with α = 1.25 each step
    multiplies the error by about −1.5, so J grows about 2.25× per epoch and stays finite for
    a dozen epochs (the issue: J reached 42,909 with stop_reason == "epochs", no warning)."""
    X = rng.normal(size=(3, 50))
    Y = (np.array([[1.0, -2.0, 0.5]]) @ X) + 0.1
    model = dn.Sequential([dn.Dense(1)], n_x=3, loss="mse", seed=0, dtype="float64")
    return model, X, Y


def test_fit_warns_once_when_j_grows_a_hundredfold(rng):
    model, X, Y = _blow_up_case(rng)
    with pytest.warns(dn.CostGrowthWarning) as caught:
        history = model.fit(X, Y, epochs=12, learning_rate=1.25, batch_size=None, verbose=0)
    assert history.stop_reason == "epochs"  # training went on
    assert len(history.epoch) == 12
    J = history.cost
    first = next(k for k in range(12) if J[k] >= 100 * J[0])
    assert J[-1] > 1e4 * J[0] and all(J[k] < 100 * J[0] for k in range(first))
    growth = [w for w in caught if w.category is dn.CostGrowthWarning]
    assert len(growth) == 1  # once per fit
    text = str(growth[0].message)
    assert f"in epoch {first + 1}" in text
    assert "α = 1.25" in text and "try α/10 (learning_rate=0.125)" in text
    assert growth[0].filename == __file__  # points at the call to fit
    assert issubclass(dn.CostGrowthWarning, RuntimeWarning)


def test_fit_warns_epoch_by_epoch_too(rng):
    model, X, Y = _blow_up_case(rng)
    seen: list[int] = []

    class Count(dn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    with pytest.warns(dn.CostGrowthWarning, match=r"the learning rate α = .* of SGD"):
        model.fit(X, Y, epochs=12, learning_rate=1.25, batch_size=None, verbose=0,
                  callbacks=[Count()])  # fmt: skip
    assert seen == list(range(1, 13))


def test_a_normal_training_does_not_warn(rng):
    model, X, Y = _blow_up_case(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(X, Y, epochs=50, learning_rate=0.1, batch_size=8, verbose=0)
    assert history.cost[-1] < history.cost[0] / 100


def test_a_j_that_falls_and_rises_a_little_does_not_warn(rng):
    """Growth is measured against the first epoch: a J that rises from a tiny minimum is not
    a blow-up."""
    model, X, Y = _blow_up_case(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error", dn.CostGrowthWarning)
        model.fit(X, Y, epochs=200, learning_rate=0.3, batch_size=5, verbose=0)
        history = model.fit(X, Y, epochs=20, learning_rate=0.9, batch_size=5, verbose=0)
    assert max(history.cost) < 100 * history.cost[0] or history.cost[0] == 0


@pytest.mark.parametrize("per_epoch", [False, True])
def test_the_warning_made_an_error_stops_fit(per_epoch, rng):
    model, X, Y = _blow_up_case(rng)
    extra = {"callbacks": [dn.callbacks.Callback()]} if per_epoch else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", dn.CostGrowthWarning)
        with pytest.raises(dn.CostGrowthWarning) as raised:
            model.fit(X, Y, epochs=12, learning_rate=1.25, batch_size=None, verbose=0, **extra)
    history = model.history
    assert history is not None
    assert history.stop_reason == "error" and history.error is raised.value
    J = history.cost
    first = next(k for k in range(len(J)) if J[k] >= 100 * J[0])
    # epoch by epoch it stops at the epoch itself; in one Rust call, after the last epoch
    assert len(J) == (first + 1 if per_epoch else 12)
    assert history.epoch == list(range(1, len(J) + 1))


def test_a_schedule_is_named_in_the_warning(rng):
    model, X, Y = _blow_up_case(rng)
    schedule = dn.optimizers.schedules.StepDecay(1.25, drop=0.999, epochs_per_drop=100)
    with pytest.warns(dn.CostGrowthWarning, match=r"α = StepDecay\(.*try α/10\."):
        model.fit(X, Y, epochs=12, learning_rate=schedule, batch_size=None, verbose=0)


# -- 3. the stated conventions are the code's ----------------------------------------------


def test_each_loss_is_the_stated_formula():
    yhat = np.array([[0.3, 0.8], [0.6, 0.1]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    bce = -(y * np.log(yhat) + (1 - y) * np.log(1 - yhat)).sum(axis=0).mean()  # sum over k
    cce = -(y * np.log(yhat)).sum(axis=0).mean()
    mse = ((yhat - y) ** 2).mean(axis=0).mean()  # mean over k
    assert ops.cost(yhat, y, "binary_crossentropy") == pytest.approx(bce, rel=1e-14)
    assert ops.cost(yhat, y, "categorical_crossentropy") == pytest.approx(cce, rel=1e-14)
    assert ops.cost(yhat, y, "mse") == pytest.approx(mse, rel=1e-14)


@pytest.mark.parametrize("loss", dn.LOSSES)
def test_loss_gradient_is_m_times_dj_dyhat(loss, rng):
    """Column i is the per-example ∂L/∂ŷ^(i) = m·∂J/∂Ŷ (finite differences of ops.cost)."""
    m = 4
    yhat = rng.uniform(0.2, 0.8, size=(2, m))
    y = np.eye(2)[:, rng.integers(0, 2, m)]
    grad = ops.loss_gradient(yhat, y, loss)
    eps = 1e-6
    numeric = np.zeros_like(yhat)
    for k in np.ndindex(yhat.shape):
        up, down = yhat.copy(), yhat.copy()
        up[k] += eps
        down[k] -= eps
        numeric[k] = (ops.cost(up, y, loss) - ops.cost(down, y, loss)) / (2 * eps)
    np.testing.assert_allclose(grad, m * numeric, rtol=1e-6, atol=1e-8)


def test_g_prime_at_the_kinks():
    z = np.zeros((1, 1))
    assert ops.activation_derivative(z, "relu")[0, 0] == 0.0
    assert ops.activation_derivative(z, "leaky_relu")[0, 0] == pytest.approx(0.2)


def test_l2_penalty_is_half_lambda_w_squared_independent_of_m(rng):
    model = dn.Sequential([dn.Dense(2, l2=0.3)], n_x=3, loss="mse", dtype="float64")
    plain = dn.Sequential([dn.Dense(2)], n_x=3, loss="mse", dtype="float64")
    W = model.layers[0].W
    np.testing.assert_array_equal(plain.layers[0].W, W)  # same seed, same parameters
    for m in (1, 10):
        X, Y = rng.normal(size=(3, m)), rng.normal(size=(2, m))
        data = ((model.predict(X) - Y) ** 2).mean()
        assert model.cost(X, Y) == pytest.approx(data + 0.15 * (W**2).sum(), rel=1e-12)
        dW, _ = model.gradients(X, Y)[0]
        dW0, _ = plain.gradients(X, Y)[0]
        np.testing.assert_allclose(dW - dW0, 0.3 * W, rtol=1e-12, atol=1e-14)


def test_history_j_is_the_batch_size_weighted_mean_of_batch_costs(rng):
    """m = 10 in batches of 4, 4, 2 (no shuffling): J of epoch 1 is (4 J_1 + 4 J_2 + 2 J_3)/10,
    each J_b at the parameters before its update."""
    X, Y = rng.normal(size=(3, 10)), rng.normal(size=(1, 10))
    model = dn.Sequential([dn.Dense(1)], n_x=3, loss="mse", seed=0, dtype="float64")
    by_hand = model.copy()
    history = model.fit(X, Y, epochs=1, learning_rate=0.1, batch_size=4, shuffle=False, verbose=0)
    total = 0.0
    for start in (0, 4, 8):
        Xb, Yb = X[:, start : start + 4], Y[:, start : start + 4]
        total += Xb.shape[1] * by_hand.cost(Xb, Yb)
        by_hand.fit(Xb, Yb, epochs=1, learning_rate=0.1, batch_size=None, verbose=0)
    assert history.cost[0] == pytest.approx(total / 10, rel=1e-12)


def test_gradient_check_above_1e3_at_a_kink_is_not_a_bug(rng):
    """The documented case: an example whose relu states are exactly 0 (x = 0, b = 0) puts the
    finite difference across the kink; without that example the check passes."""
    model = dn.Sequential(
        [dn.Dense(3, activation="relu"), dn.Dense(1)], n_x=2, loss="mse", dtype="float64"
    )
    model.layers[0].b = np.zeros((3, 1))
    X = np.array([[0.0, 1.0, -0.5, 0.7], [0.0, -0.3, 0.8, 0.4]])
    Y = rng.normal(size=(1, 4))
    assert dn.gradient_check(model, X, Y) > 1e-3
    assert dn.gradient_check(model, X[:, 1:], Y[:, 1:]) < 1e-7


@pytest.mark.parametrize(
    "obj,phrases",
    [
        (ops, ["m·∂J/∂Ŷ", "relu′(0) = 0", "(λ/2)‖W‖²", "(1/n_y) Σ_k", "lecture:"]),
        (dn.Sequential.cost, ["a sum over", "a mean over the outputs", "λ_course / m"]),
        (dn.Sequential.gradients, ["m·∂J/∂Ŷ", "relu′(0) = 0", "not divided by m"]),
        (dn.Sequential.fit, ["weighted by batch size", "CostGrowthWarning", '"error"']),
        (dn.gradient_check, ["above 1e-3", "kink", "smaller `epsilon`"]),
    ],
)
def test_help_states_the_conventions(obj, phrases):
    for phrase in phrases:
        assert phrase in obj.__doc__
