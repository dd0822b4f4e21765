"""Sample weights: J = Σ w_i L_i / Σ w_i computed in Rust, with its gradients, in fit, cost and
gradients; and fits running at once in several threads."""

from __future__ import annotations

import threading

import deepnet as dn
import numpy as np
import pytest


def _dense(seed=1, loss="categorical_crossentropy", n_x=5, n_y=3, dtype="float64"):
    out = {"categorical_crossentropy": "softmax", "binary_crossentropy": "sigmoid", "mse": "linear"}
    return dn.Sequential(
        [dn.Dense(7, activation="tanh"), dn.Dense(n_y, activation=out[loss])],
        n_x=n_x,
        loss=loss,
        seed=seed,
        dtype=dtype,
    )


def _conv(seed=1):
    return dn.Sequential(
        [
            dn.Conv1D(3, 3, activation="relu"),
            dn.MaxPooling1D(2),
            dn.Flatten(),
            dn.Dense(3, activation="softmax"),
        ],
        input_shape=(2, 9),
        loss="categorical_crossentropy",
        seed=seed,
        dtype="float64",
    )


def _gru(seed=1):
    return dn.Sequential(
        [dn.GRU(4), dn.Dense(1)], input_shape=(2, 5), loss="mse", seed=seed, dtype="float64"
    )


def _data(model, rng, m=12):
    X = rng.normal(size=(*model.input_shape, m))
    if model.loss == "mse":
        return X, rng.normal(size=(model.n_y, m))
    if model.loss == "binary_crossentropy":
        return X, (rng.random((model.n_y, m)) < 0.5).astype(float)
    return X, rng.integers(0, model.n_y, m)


def _repeat(X, Y, w):
    Y = np.asarray(Y)
    return np.repeat(X, w, axis=-1), np.repeat(Y, w, axis=-1)


BUILDERS = {
    "dense-categorical": lambda s: _dense(s),
    "dense-binary": lambda s: _dense(s, "binary_crossentropy", n_y=2),
    "dense-mse": lambda s: _dense(s, "mse", n_y=2),
    "conv1d": _conv,
    "gru": _gru,
}


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_integer_weights_give_the_gradients_of_repeated_examples(kind, rng):
    weighted, repeated = BUILDERS[kind](3), BUILDERS[kind](3)
    X, Y = _data(weighted, rng)
    w = rng.integers(0, 4, X.shape[-1])
    w[0] = 2
    Xr, Yr = _repeat(X, Y, w)
    assert weighted.cost(X, Y, sample_weight=w) == pytest.approx(repeated.cost(Xr, Yr), 1e-12)
    for gw, gr in zip(weighted.gradients(X, Y, sample_weight=w), repeated.gradients(Xr, Yr)):
        for a, b in zip(gw, gr):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_weighted_cost_is_the_weighted_mean_of_the_losses(rng):
    model = _dense(loss="binary_crossentropy", n_y=2)
    X, Y = _data(model, rng, m=9)
    w = rng.random(9)
    P = model.predict(X)
    losses = -(Y * np.log(P) + (1 - Y) * np.log(1 - P)).sum(axis=0)
    assert model.cost(X, Y, sample_weight=w) == pytest.approx((w * losses).sum() / w.sum())
    # scaling every weight changes nothing
    assert model.cost(X, Y, sample_weight=7 * w) == pytest.approx(model.cost(X, Y, w), 1e-12)


def test_full_batch_training_with_weights_equals_training_on_repeated_examples(rng):
    weighted, repeated = _dense(4), _dense(4)
    X, y = _data(weighted, rng, m=15)
    w = rng.integers(0, 5, 15)
    Xr, yr = _repeat(X, y, w)
    kw = dict(epochs=100, batch_size=None, optimizer="adam", learning_rate=1e-2, verbose=0)
    hw = weighted.fit(X, y, sample_weight=w, **kw)
    hr = repeated.fit(Xr, yr, **kw)
    np.testing.assert_allclose(hw.cost, hr.cost, rtol=1e-10)
    np.testing.assert_allclose(hw.history["accuracy"], hr.history["accuracy"], rtol=1e-12)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-9)


def test_unit_weights_train_bit_for_bit_as_no_weights(rng):
    a, b = _conv(2), _conv(2)
    X, y = _data(a, rng, m=20)
    kw = dict(epochs=3, batch_size=6, optimizer="adam", learning_rate=1e-2, verbose=0)
    ha = a.fit(X, y, **kw)
    hb = b.fit(X, y, sample_weight=np.ones(20), **kw)
    assert ha.cost == hb.cost
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def test_zero_weight_removes_the_example(rng):
    a, b = _dense(5), _dense(5)
    X, y = _data(a, rng, m=10)
    w = np.ones(10)
    w[[2, 7]] = 0
    X[:, 2] = 1e6  # what a removed example holds does not matter
    keep = w > 0
    kw = dict(epochs=20, batch_size=None, optimizer="sgd", learning_rate=0.3, verbose=0)
    a.fit(X, y, sample_weight=w, **kw)
    b.fit(X[:, keep], y[keep], **kw)
    np.testing.assert_allclose(a.predict(X[:, keep]), b.predict(X[:, keep]), rtol=1e-12)


def test_history_cost_is_weighted(rng):
    model = _dense(6)
    X, y = _data(model, rng, m=8)
    w = rng.random(8) + 0.1
    before = model.cost(X, y, sample_weight=w)
    history = model.fit(X, y, epochs=1, batch_size=None, verbose=0, sample_weight=w)
    assert history.cost[0] == pytest.approx(before, 1e-12)
    assert history.params["sample_weight"] is True


def test_validation_split_drops_the_held_out_weights(rng):
    model = _dense(7)
    X, y = _data(model, rng, m=10)
    w = np.r_[np.ones(8), 0.0, 0.0]
    history = model.fit(X, y, epochs=2, verbose=0, sample_weight=w, validation_split=0.2)
    assert len(history.history["val_cost"]) == 2
    with pytest.raises(ValueError, match="training part"):
        model.fit(
            X, y, epochs=1, verbose=0, sample_weight=np.r_[np.zeros(8), 1, 1], validation_split=0.2
        )


@pytest.mark.parametrize(
    "w, error, match",
    [
        (np.ones(9), ValueError, r"one weight per example \(10\), got 9"),
        (np.ones((10, 1)), ValueError, "expected a 1-D array"),
        (-np.ones(10), ValueError, "expected weights >= 0"),
        (np.r_[np.ones(9), np.nan], ValueError, "NaN or inf"),
        (np.zeros(10), ValueError, "every weight is 0"),
        (np.array(["a"] * 10), TypeError, "numeric array"),
        (np.full(10, 1e300), ValueError, "overflow float32"),
    ],
)
def test_bad_weights_are_refused_before_training(w, error, match, rng):
    model = _dense(8, dtype="float32")
    X, y = _data(model, rng, m=10)
    before = model.get_weights()
    for call in (
        lambda: model.fit(X, y, epochs=1, verbose=0, sample_weight=w),
        lambda: model.cost(X, y, sample_weight=w),
        lambda: model.gradients(X, y, sample_weight=w),
    ):
        with pytest.raises(error, match=match):
            call()
    assert all(np.array_equal(p, q) for p, q in zip(before, model.get_weights()))


def test_weights_are_not_modified(rng):
    model = _dense(9)
    X, y = _data(model, rng, m=10)
    w = rng.random(10)
    copy = w.copy()
    model.fit(X, y, epochs=2, batch_size=3, verbose=0, sample_weight=w)
    assert np.array_equal(w, copy)


def test_fits_in_threads_at_once_equal_fits_one_after_another(rng):
    """Concurrent fits share deepnet's threads (each uses get_num_threads() // k of them):
    the results are those of the same fits run one after another, bit for bit."""
    X, y = _data(_dense(0), rng, m=300)
    kw = dict(epochs=5, batch_size=16, optimizer="adam", learning_rate=1e-2, verbose=0)
    alone = []
    for seed in range(4):
        model = _dense(seed)
        model.fit(X, y, **kw)
        alone.append(model.get_weights())
    together: list = [None] * 4
    barrier = threading.Barrier(4, timeout=60)

    def run(seed: int) -> None:
        model = _dense(seed)
        barrier.wait()  # all four are in flight at once
        model.fit(X, y, **kw)
        together[seed] = model.get_weights()

    threads = [threading.Thread(target=run, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together):
        assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_validation_data_may_carry_weights(rng):
    model = _dense(10)
    X, y = _data(model, rng, m=12)
    Xv, yv = _data(model, rng, m=6)
    wv = np.r_[np.ones(3), np.zeros(3)]
    history = model.fit(X, y, epochs=1, verbose=0, validation_data=(Xv, yv, wv))
    assert history.history["val_cost"][0] == pytest.approx(model.cost(Xv[:, :3], yv[:3]), 1e-12)
    right = np.argmax(model.predict(Xv[:, :3]), axis=0) == yv[:3]
    assert history.history["val_accuracy"][0] == pytest.approx(right.mean())
    with pytest.raises(ValueError, match="validation_data: sample_weight"):
        model.fit(X, y, epochs=1, verbose=0, validation_data=(Xv, yv, -wv))
    with pytest.raises(TypeError, match="of length 4"):
        model.fit(X, y, epochs=1, verbose=0, validation_data=(Xv, yv, wv, wv))
