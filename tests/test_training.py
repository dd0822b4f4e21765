"""Training (section 7): reproducibility, convergence, divergence and the stop rules."""

from __future__ import annotations

import itertools

import deepnet as dn
import numpy as np
import numpy_net as npn
import pytest


def _params(model):
    return [(layer.W, layer.b) for layer in model.layers]


def _same(a, b):
    return all(np.array_equal(x, y) for pa, pb in zip(a, b) for x, y in zip(pa, pb))


def _regression(rng, n_x=3, n_y=2, m=20):
    X = rng.normal(size=(n_x, m))
    return X, np.tanh(rng.normal(size=(n_y, n_x)) @ X)


def _model(seed=0, dtype="float64", sizes=(3, 8, 6, 2), hidden="tanh", output="linear"):
    return npn.build(sizes, hidden, output, "mse", seed=seed, dtype=dtype)


# -- reproducibility -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_gives_bit_identical_training(dtype, rng):
    """Same seed: bit-identical initial parameters, and bit-identical parameters and costs after
    shuffled mini-batch training; a different seed gives different ones."""
    X, Y = _regression(rng)
    a, b, c = _model(5, dtype), _model(5, dtype), _model(6, dtype)
    assert _same(_params(a), _params(b))
    assert not any(np.array_equal(pa[0], pc[0]) for pa, pc in zip(_params(a), _params(c)))
    kwargs = dict(epochs=15, learning_rate=0.05, batch_size=3, shuffle=True, verbose=0)
    ha, hb, hc = a.fit(X, Y, **kwargs), b.fit(X, Y, **kwargs), c.fit(X, Y, **kwargs)
    assert _same(_params(a), _params(b))
    assert ha.cost == hb.cost
    assert not _same(_params(a), _params(c)) and ha.cost != hc.cost


def test_shuffle_changes_the_mini_batches(rng):
    """Not vacuous: with mini-batches, shuffle=True and shuffle=False train differently."""
    X, Y = _regression(rng)
    a, b = _model(1), _model(1)
    kwargs = dict(epochs=5, learning_rate=0.05, batch_size=4, verbose=0)
    a.fit(X, Y, shuffle=True, **kwargs)
    b.fit(X, Y, shuffle=False, **kwargs)
    assert not _same(_params(a), _params(b))


def test_resuming_fit_is_reproducible(rng):
    """The shuffling stream continues across calls: 3 + 2 epochs equal 5 epochs exactly."""
    X, Y = _regression(rng)
    a, b = _model(2), _model(2)
    kwargs = dict(learning_rate=0.05, batch_size=6, shuffle=True, verbose=0)
    a.fit(X, Y, epochs=3, **kwargs)
    a.fit(X, Y, epochs=2, **kwargs)
    b.fit(X, Y, epochs=5, **kwargs)
    assert _same(_params(a), _params(b))


def test_lazily_built_model_equals_one_given_n_x(rng):
    """Building at the first fit (n_x from X) uses the same seeded initialization."""
    X, Y = _regression(rng)
    lazy = dn.Sequential(
        [dn.Dense(8, "tanh"), dn.Dense(6, "tanh"), dn.Dense(2)],
        loss="mse",
        seed=4,
        dtype="float64",
    )
    assert not lazy.built
    eager = _model(4)
    lazy.fit(X, Y, epochs=3, batch_size=5, verbose=0)
    eager.fit(X, Y, epochs=3, batch_size=5, verbose=0)
    assert lazy.built and lazy.n_x == 3 and lazy.n_y == 2
    assert _same(_params(lazy), _params(eager))


# -- float32 and float64 ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_end_to_end(dtype, rng):
    """fit, predict, cost, gradients and the parameters all use the model's dtype, whatever the
    dtype of the inputs."""
    X, Y = _regression(rng)
    model = _model(0, dtype)
    for Xin, Yin in [(X, Y), (X.astype(np.float32), Y.astype(np.float32))]:
        history = model.fit(Xin, Yin, epochs=3, learning_rate=0.05, verbose=0)
        assert all(isinstance(c, float) and np.isfinite(c) for c in history.cost)
        assert model.predict(Xin).dtype == np.dtype(dtype)
        assert isinstance(model.cost(Xin, Yin), float)
        for dW, db in model.gradients(Xin, Yin):
            assert dW.dtype == db.dtype == np.dtype(dtype)
        for W, b in _params(model):
            assert W.dtype == b.dtype == np.dtype(dtype)


def test_float32_close_to_float64(rng):
    """A float32 model and its float64 copy: same predictions to ~1e-6, costs to ~1e-6, and
    gradients to ~1e-4 relative (of the gradient's norm); also after training each."""
    sizes = (4, 8, 6, 3)
    m32 = npn.build(sizes, "tanh", "softmax", "categorical_crossentropy", dtype="float32")
    m64 = m32.copy(dtype="float64")
    assert m64.dtype == "float64" and m32.dtype == "float32"
    X = rng.normal(size=(4, 30))
    Y = npn.targets("categorical_crossentropy", 3, 30, rng)

    def close(a, b):
        for (dW32, db32), (dW64, db64) in zip(a.gradients(X, Y), b.gradients(X, Y)):
            scale = np.linalg.norm(dW64) + np.linalg.norm(db64)
            assert np.linalg.norm(dW32 - dW64) + np.linalg.norm(db32 - db64) < 1e-4 * scale
        np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-5, atol=1e-6)
        assert a.cost(X, Y) == pytest.approx(b.cost(X, Y), rel=1e-5)

    close(m32, m64)
    kwargs = dict(epochs=10, learning_rate=0.1, batch_size=None, verbose=0)
    m32.fit(X, Y, **kwargs)
    m64.fit(X, Y, **kwargs)
    close(m32, m64)


# -- convergence -----------------------------------------------------------------------------


def test_xor_two_bits():
    """The lecture's XOR: a 2-8-1 network reaches 100% accuracy."""
    X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]])
    Y = np.array([[0, 1, 1, 0]])
    model = dn.Sequential(
        [dn.Dense(8, "tanh"), dn.Dense(1, "sigmoid")], n_x=2, loss="binary_crossentropy", seed=0
    )
    history = model.fit(X, Y, epochs=2000, learning_rate=1.0, batch_size=None, verbose=0)
    assert model.evaluate(X, Y)["accuracy"] == 1.0
    np.testing.assert_array_equal(model.predict(X) > 0.5, Y == 1)
    assert history.cost[-1] < 0.05 < history.cost[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parity_of_four_bits(seed):
    """4-bit parity (XOR of 4 inputs), the lecture's example for depth, with a 4-16-8-1 tanh
    network on all 16 inputs, full batch."""
    X = np.array(list(itertools.product([0, 1], repeat=4))).T
    Y = X.sum(axis=0, keepdims=True) % 2
    model = dn.Sequential(
        [dn.Dense(16, "tanh"), dn.Dense(8, "tanh"), dn.Dense(1, "sigmoid")],
        n_x=4,
        loss="binary_crossentropy",
        seed=seed,
        dtype="float64",
    )
    model.fit(X, Y, epochs=3000, learning_rate=1.0, batch_size=None, verbose=0)
    result = model.evaluate(X, Y)
    assert result["accuracy"] == 1.0
    assert result["cost"] < 0.05


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_digits_held_out_accuracy(dtype):
    """scikit-learn's 8×8 digits, X/16, one-hot, stratified 80/20 split: >= 95% held out."""
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    digits = datasets.load_digits()
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        digits.data / 16, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    Y_train, Y_test = np.eye(10)[y_train].T, np.eye(10)[y_test].T
    model = dn.Sequential(
        [dn.Dense(64, "relu"), dn.Dense(10, "softmax")],
        n_x=64,
        loss="categorical_crossentropy",
        seed=0,
        dtype=dtype,
    )
    model.fit(X_train.T, Y_train, epochs=50, learning_rate=0.1, batch_size=32, verbose=0)
    result = model.evaluate(X_test.T, Y_test)
    assert result["accuracy"] >= 0.95
    # evaluate's accuracy is the fraction of columns whose largest output is the class
    predicted = np.argmax(model.predict(X_test.T), axis=0)
    assert result["accuracy"] == pytest.approx(np.mean(predicted == y_test), abs=1e-12)


# -- divergence ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_keeps_the_last_finite_parameters(dtype, rng, capsys):
    """mse with a linear output, large inputs and α = 10 blows up: fit stops with "diverged",
    records the epoch, and leaves the parameters of the last finite epoch, i.e. those of a run
    of diverged_epoch − 1 epochs from the same seed."""
    X = 100 * rng.normal(size=(3, 20))
    Y = 100 * rng.normal(size=(1, 20))
    sizes = (3, 4, 1)
    model = npn.build(sizes, "linear", "linear", "mse", seed=0, dtype=dtype)
    with pytest.warns(dn.CostGrowthWarning, match="learning rate"):  # J grew before it broke
        history = model.fit(X, Y, epochs=100, learning_rate=10.0, batch_size=None, verbose=2)
    assert history.stop_reason == "diverged" and history.diverged
    k = history.diverged_epoch
    assert k is not None and 2 <= k < 100
    assert history.epoch == list(range(1, k)) and len(history.cost) == k - 1
    assert all(np.isfinite(c) for c in history.cost)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == k and "diverged" in lines[-1]
    for W, b in _params(model):
        assert np.isfinite(W).all() and np.isfinite(b).all()
    again = npn.build(sizes, "linear", "linear", "mse", seed=0, dtype=dtype)
    with pytest.warns(dn.CostGrowthWarning):
        h2 = again.fit(X, Y, epochs=k - 1, learning_rate=10.0, batch_size=None, verbose=0)
    assert h2.stop_reason == "epochs" and h2.cost == history.cost
    assert _same(_params(model), _params(again))


# -- stop rules ------------------------------------------------------------------------------


def _xor():
    X = np.array([[0.0, 0, 1, 1], [0, 1, 0, 1]])
    model = dn.Sequential(
        [dn.Dense(8, "tanh"), dn.Dense(1, "sigmoid")], n_x=2, loss="binary_crossentropy", seed=0
    )
    return model, X, np.array([[0.0, 1, 1, 0]])


def test_target_cost_stops_early():
    model, X, Y = _xor()
    history = model.fit(
        X, Y, epochs=5000, learning_rate=1.0, batch_size=None, target_cost=0.1, verbose=0
    )
    assert history.stop_reason == "target_cost"
    assert history.cost[-1] <= 0.1 and all(c > 0.1 for c in history.cost[:-1])
    assert len(history.cost) < 5000 and history.epoch[-1] == len(history.cost)


def test_tol_stops_when_converged():
    model, X, Y = _xor()
    tol = 1e-5
    history = model.fit(X, Y, epochs=20000, learning_rate=1.0, batch_size=None, tol=tol, verbose=0)
    assert history.stop_reason == "converged" and len(history.cost) < 20000
    diffs = np.abs(np.diff(history.cost))
    assert diffs[-1] < tol and (diffs[:-1] >= tol).all()


def test_epoch_limit():
    model, X, Y = _xor()
    history = model.fit(X, Y, epochs=37, learning_rate=0.1, target_cost=1e-9, tol=0.0, verbose=0)
    assert history.stop_reason == "epochs" and not history.diverged
    assert len(history.cost) == 37 and history.epoch == list(range(1, 38))
    assert history.diverged_epoch is None


def test_cost_history_is_j_before_each_full_batch_update(rng):
    """With one full batch, history.cost[k] is J at the parameters epoch k started from."""
    X, Y = _regression(rng)
    model = _model(3)
    costs = []
    for _ in range(4):
        costs.append(model.cost(X, Y))
        model.fit(X, Y, epochs=1, learning_rate=0.1, batch_size=None, verbose=0)
    fresh = _model(3)
    history = fresh.fit(X, Y, epochs=4, learning_rate=0.1, batch_size=None, verbose=0)
    np.testing.assert_allclose(history.cost, costs, rtol=1e-13)
    assert _same(_params(model), _params(fresh))


def test_batch_size_none_is_full_batch(rng):
    """batch_size=None is plain gradient descent on all m columns: the same as batch_size=m
    (and as any batch_size >= m), bit for bit, whatever shuffle says."""
    X, Y = _regression(rng, m=13)
    runs = []
    for batch_size, shuffle in [(None, True), (13, True), (13, False), (100, True)]:
        model = _model(8)
        history = model.fit(
            X, Y, epochs=6, learning_rate=0.1, batch_size=batch_size, shuffle=shuffle, verbose=0
        )
        assert history.params["batch_size"] == 13
        runs.append((_params(model), history.cost))
    for params, cost in runs[1:]:
        assert _same(params, runs[0][0]) and cost == runs[0][1]
    # and a smaller batch is different
    model = _model(8)
    model.fit(X, Y, epochs=6, learning_rate=0.1, batch_size=5, shuffle=False, verbose=0)
    assert not _same(_params(model), runs[0][0])


def test_ctrl_c_stops_a_long_fit_quickly_and_leaves_a_consistent_model(ctrl_c):
    """SIGINT during one long call into Rust (verbose=0): training stops between two steps
    within a fraction of a second, KeyboardInterrupt propagates, the history holds the
    completed epochs and the parameters are finite and usable."""
    import os
    import signal
    import threading
    import time

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2000))
    Y = np.eye(3)[:, rng.integers(0, 3, 2000)]
    model = dn.Sequential(
        [dn.Dense(64, activation="relu"), dn.Dense(3, activation="softmax")],
        n_x=20,
        loss="categorical_crossentropy",
    )
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, epochs=1_000_000, batch_size=16, verbose=0)
    stopped_after = time.perf_counter() - start
    timer.join()
    assert stopped_after < 0.3 + 0.5, f"took {stopped_after:.2f} s to stop"
    assert model.history.stop_reason == "interrupted"
    assert len(model.history.cost) == len(model.history.epoch) < 1_000_000
    assert all(np.isfinite(layer.W).all() for layer in model.layers)
    assert np.isfinite(model.cost(X, Y))


def test_results_are_bit_identical_across_thread_counts():
    """Large products are split over threads by output blocks and element-wise passes by
    rows, so no sum changes order: 1 and 2 threads give the same bits."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 512)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[:, rng.integers(0, 10, 512)]
    before = dn.get_num_threads()
    params = []
    try:
        for threads in (1, 2):
            dn.set_num_threads(threads)
            assert dn.get_num_threads() == threads
            model = dn.Sequential(
                [dn.Dense(256, activation="relu"), dn.Dense(10, activation="softmax")],
                n_x=300,
                loss="categorical_crossentropy",
                seed=3,
            )
            model.fit(X, Y, epochs=2, batch_size=256, verbose=0)
            params.append([(layer.W.copy(), layer.b.copy()) for layer in model.layers])
    finally:
        dn.set_num_threads(before)
    for (w1, b1), (w2, b2) in zip(*params):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)


@pytest.mark.parametrize(
    "sizes, batch, optimizer, dtype",
    [
        ((40, 100, 100, 10), 100, "sgd", "float32"),
        ((40, 100, 100, 10), 37, "adam", "float32"),
        ((64, 128, 96, 3), None, "momentum", "float64"),
        ((30, 200, 10), 64, "rmsprop", "float32"),
    ],
)
def test_small_and_odd_dense_networks_are_bit_identical_across_thread_counts(
    sizes, batch, optimizer, dtype
):
    """Networks whose products sit near the splitting thresholds (odd batch sizes, 100-wide
    layers, full batch) under every optimizer: 1, 2 and 3 threads give the same bits."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(sizes[0], 300))
    y = rng.integers(0, sizes[-1], 300)
    before = dn.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 3):
            dn.set_num_threads(threads)
            layers = [dn.Dense(n, activation="relu") for n in sizes[1:-1]]
            model = dn.Sequential(
                [*layers, dn.Dense(sizes[-1], activation="softmax")],
                n_x=sizes[0],
                loss="categorical_crossentropy",
                seed=5,
                dtype=dtype,
            )
            history = model.fit(X, y, epochs=3, batch_size=batch, optimizer=optimizer, verbose=0)
            runs.append((history.cost, model.get_weights()))
    finally:
        dn.set_num_threads(before)
    for costs, weights in runs[1:]:
        assert costs == runs[0][0]
        for a, b in zip(weights, runs[0][1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "case",
    [
        "softmax, weights, shuffled, adam",
        "sigmoid + binary, L2, frozen layer, momentum",
        "linear + mse, no bias, rmsprop, float64",
        "tanh + mse, validation and callbacks, sgd",
    ],
)
def test_the_data_parallel_step_gives_the_bits_of_the_one_thread_step(case):
    """On 2 threads a dense network with batches of at least 64 trains with the data-parallel
    step (blocks of examples, then blocks of neurons, on a team of threads); switched off,
    every step runs layer by layer. Costs, accuracies, parameters and optimizer state are the
    same bits, whatever the loss, weights, L2, frozen layers, bias or optimizer."""
    rng = np.random.default_rng(7)
    m, n_x = 300, 24
    X = rng.normal(size=(n_x, m))
    w = rng.choice([0.0, 0.5, 1.0, 2.0], size=m)
    kwargs: dict = {}
    if case.startswith("softmax"):
        layers = [dn.Dense(64, activation="relu"), dn.Dense(5, activation="softmax")]
        loss, Y = "categorical_crossentropy", rng.integers(0, 5, m)
        kwargs = dict(sample_weight=w, shuffle=True, optimizer="adam", batch_size=100)
    elif case.startswith("sigmoid"):
        layers = [
            dn.Dense(40, activation="tanh", l2=1e-3),
            dn.Dense(30, activation="relu", trainable=False),
            dn.Dense(2, activation="sigmoid"),
        ]
        loss, Y = "binary_crossentropy", (rng.random((2, m)) > 0.5).astype(float)
        kwargs = dict(optimizer="momentum", batch_size=128, shuffle=False)
    elif case.startswith("linear"):
        layers = [
            dn.Dense(50, activation="leaky_relu", use_bias=False),
            dn.Dense(3, activation="linear"),
        ]
        loss, Y = "mse", rng.normal(size=(3, m))
        kwargs = dict(optimizer="rmsprop", batch_size=96, dtype="float64")
    else:
        layers = [dn.Dense(32, activation="sigmoid"), dn.Dense(2, activation="tanh")]
        loss, Y = "mse", rng.normal(size=(2, m)) * 0.5
        kwargs = dict(
            optimizer="sgd",
            batch_size=64,
            validation_data=(X[:, :50], Y[:, :50]),
            callbacks=[dn.callbacks.EarlyStopping(monitor="val_cost", patience=100)],
        )
    dtype = kwargs.pop("dtype", "float32")
    before = dn.get_num_threads()
    runs = []
    try:
        dn.set_num_threads(2)
        for data_parallel in (True, False):
            dn._core._set_data_parallel(data_parallel)
            model = dn.Sequential(
                [dn.Dense.from_config(layer.get_config()) for layer in layers],
                n_x=n_x,
                loss=loss,
                seed=4,
                dtype=dtype,
            )
            history = model.fit(X, Y, epochs=4, verbose=0, **kwargs)
            state = model._net.optimizer_state()["state"]
            runs.append((history.history, model.get_weights(), [a for p in state for a in p]))
    finally:
        dn._core._set_data_parallel(True)
        dn.set_num_threads(before)
    (h1, w1, s1), (h2, w2, s2) = runs
    assert h1 == h2
    for a, b in itertools.chain(zip(w1, w2), zip(s1, s2)):
        np.testing.assert_array_equal(a, b)


# -- patience: scikit-learn's n_iter_no_change, checked in Rust --------------------------------


def _patience_stop(costs: list[float], patience: int, tol: float) -> int:
    """The epoch (from 1) after which the rule stops, applied by hand to a cost curve."""
    best, waited = float("inf"), 0
    for epoch, cost in enumerate(costs, 1):
        if cost < best - tol:
            best, waited = cost, 0
        else:
            waited += 1
        if waited >= patience:
            return epoch
    return len(costs)


@pytest.mark.parametrize("with_callback", [False, True])
def test_patience_stops_where_the_rule_says(rng, with_callback):
    X, Y = _regression(rng)
    kw = dict(epochs=300, learning_rate=0.05, batch_size=4, verbose=0)
    free = _model(seed=2).fit(X, Y, **kw).cost
    tol, patience = 1e-3, 4
    stop = _patience_stop(free, patience, tol)
    assert 5 < stop < 300  # the rule does stop this run, and not at once
    # a callback makes fit call Rust once per epoch: the rule's state carries over
    callbacks = [dn.callbacks.LambdaCallback()] if with_callback else None
    history = _model(seed=2).fit(X, Y, tol=tol, patience=patience, callbacks=callbacks, **kw)
    assert history.stop_reason == "converged"
    assert history.cost == free[:stop]
    assert history.params["patience"] == patience


def test_patience_must_be_a_positive_int(rng):
    X, Y = _regression(rng)
    for bad in (0, -1, 1.5, True):
        with pytest.raises((ValueError, TypeError), match="patience"):
            _model().fit(X, Y, epochs=2, verbose=0, patience=bad)
