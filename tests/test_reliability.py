"""The package's promises under hostile or careless use: losses that are right or refuse,
values outside the model's dtype, sizes beyond the limits, callbacks that fail, optimizer
state that does not fit, and failed calls that change nothing."""

from __future__ import annotations

import deepnet as dn
import numpy as np
import pytest
from deepnet import _core, ops


def _classifier(n_x=4, n_y=3, dtype="float64", seed=0):
    return dn.Sequential(
        [dn.Dense(5, activation="tanh"), dn.Dense(n_y, activation="softmax")],
        n_x=n_x,
        loss="categorical_crossentropy",
        dtype=dtype,
        seed=seed,
    )


def _data(rng, n_x=4, m=7):
    return rng.normal(size=(n_x, m))


# -- (11)·(15) for cross-entropy: right for every valid target, or refused -------------------


@pytest.mark.parametrize(
    "targets",
    ["one_hot", "label_smoothed", "halved", "partial", "integer_labels"],
)
def test_categorical_cross_entropy_gradient_matches_finite_differences(rng, targets):
    """dZ^[L] = Ŷ·Σ_k y_k − Y is the exact gradient whatever the columns of Y sum to; with
    the old shortcut Ŷ − Y, Y·0.5 gave a relative error of 0.53."""
    model = _classifier()
    X = _data(rng)
    labels = np.array([0, 1, 2, 1, 0, 2, 2])
    one_hot = np.eye(3)[:, labels]
    Y = {
        "one_hot": one_hot,
        "label_smoothed": one_hot * 0.9 + 0.1 / 3,
        "halved": one_hot * 0.5,
        "partial": rng.uniform(0, 0.4, size=(3, 7)),
        "integer_labels": labels,
    }[targets]
    assert dn.gradient_check(model, X, Y) < 1e-6


def test_binary_cross_entropy_gradient_matches_finite_differences_for_soft_targets(rng):
    model = dn.Sequential(
        [dn.Dense(4, activation="tanh"), dn.Dense(2, activation="sigmoid")],
        n_x=3,
        loss="binary_crossentropy",
        dtype="float64",
    )
    assert dn.gradient_check(model, _data(rng, 3, 6), rng.uniform(0, 1, size=(2, 6))) < 1e-6


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy"])
@pytest.mark.parametrize("bad", [-0.5, 1.5])
def test_cross_entropy_targets_outside_0_1_are_refused(rng, loss, bad):
    act = "sigmoid" if loss == "binary_crossentropy" else "softmax"
    model = dn.Sequential([dn.Dense(3, activation=act)], n_x=4, loss=loss)
    X = _data(rng)
    Y = np.zeros((3, 7))
    Y[1, 2] = bad
    before = model.get_weights()
    for call in (
        lambda: model.fit(X, Y, epochs=1, verbose=0),
        lambda: model.cost(X, Y),
        lambda: model.gradients(X, Y),
        lambda: ops.cost(np.full((3, 7), 0.3), Y, loss),
    ):
        with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
            call()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_mse_takes_any_finite_target(rng):
    model = dn.Sequential([dn.Dense(1)], n_x=4, loss="mse")
    model.fit(_data(rng), rng.normal(size=(1, 7)) * 100, epochs=1, verbose=0)


# -- values beyond the model's dtype ----------------------------------------------------------


def test_float64_values_beyond_float32_are_refused_not_turned_into_inf(rng):
    model = dn.Sequential([dn.Dense(2)], n_x=3, loss="mse")  # float32
    X = _data(rng, 3, 4)
    X[1, 2] = 1e39
    for call in (
        lambda: model.predict(X),
        lambda: model.fit(X, np.zeros((2, 4)), epochs=1, verbose=0),
        lambda: model.cost(X, np.zeros((2, 4))),
    ):
        with pytest.raises(ValueError, match="overflow float32"):
            call()
    W = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="overflow float32"):
        ops.update(W, np.full((2, 3), -1e300), 0.1)
    assert np.all(W == 0)


# -- sizes beyond the limits: an exception, before anything is allocated -----------------------


@pytest.mark.parametrize("units", [10**12, 10**19, 2**64, _core.MAX_EXTENT + 1])
def test_huge_layers_are_a_value_error(units):
    with pytest.raises(ValueError, match="at most 16777216"):
        dn.Sequential([dn.Dense(units)], n_x=2, loss="mse")
    with pytest.raises(ValueError, match="at most 16777216"):
        dn.Sequential([dn.Dense(2)], n_x=units, loss="mse")


def test_a_network_beyond_the_parameter_limit_is_refused_before_allocation():
    # 2^24 · 2^7 = 2^31 weights: every extent is allowed, the tensor is not
    with pytest.raises(ValueError, match="more than 1073741824 elements"):
        dn.Sequential([dn.Dense(2**24)], n_x=2**7, loss="mse")


def test_epochs_beyond_any_machine_integer_still_train(rng):
    model = dn.Sequential([dn.Dense(1)], n_x=4, loss="mse")
    history = model.fit(_data(rng), np.zeros((1, 7)), epochs=10**30, target_cost=1e9, verbose=0)
    assert history.stop_reason == "target_cost" and len(history.epoch) == 1


# -- callbacks --------------------------------------------------------------------------------


class _Boom(dn.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            raise ZeroDivisionError("boom")


def test_a_callback_that_raises_is_recorded_in_the_history(rng):
    model = dn.Sequential([dn.Dense(1)], n_x=4, loss="mse")
    with pytest.raises(ZeroDivisionError, match="boom"):
        model.fit(_data(rng), np.zeros((1, 7)), epochs=5, verbose=0, callbacks=[_Boom()])
    assert model.history.stop_reason == "error"
    assert isinstance(model.history.error, ZeroDivisionError)
    assert len(model.history.epoch) == 2


def test_stop_reason_from_a_callback_must_be_a_string(rng):
    def stop(epoch, logs):
        model.stop_training, model.stop_reason = True, 42

    model = dn.Sequential([dn.Dense(1)], n_x=4, loss="mse")
    cb = dn.callbacks.LambdaCallback(on_epoch_end=stop)
    with pytest.raises(TypeError, match="stop_reason"):
        model.fit(_data(rng), np.zeros((1, 7)), epochs=3, verbose=0, callbacks=[cb])
    assert model.history.stop_reason == "error"


# -- optimizer state --------------------------------------------------------------------------


def test_optimizer_state_of_the_wrong_shape_is_refused_and_changes_nothing(rng):
    model = _classifier()
    X, labels = _data(rng), np.array([0, 1, 2, 1, 0, 2, 2])
    model.fit(X, labels, epochs=2, optimizer="adam", verbose=0)
    state = model._net.optimizer_state()
    arrays = [list(slots) for slots in state["state"]]
    arrays[3][1] = np.zeros((7, 7))  # v of the last parameter: not only slot 0 of param 0
    with pytest.raises(ValueError, match=r"optimizer\.3\.v"):
        model._net.set_optimizer_state(5, 1, arrays)
    after = model._net.optimizer_state()
    assert after["iterations"] == state["iterations"]
    for old, new in zip(state["state"], after["state"]):
        for a, b in zip(old, new):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="optimizer_iterations"):
        model._net.set_optimizer_state(2**60, 1, [list(s) for s in state["state"]])


def test_adam_step_count_does_not_wrap(rng):
    """t = 2^32 − 1 used to wrap to 0 in the bias correction 1 − β^t (a division by 0)."""
    model = _classifier()
    X, labels = _data(rng), np.array([0, 1, 2, 1, 0, 2, 2])
    model.fit(X, labels, epochs=1, optimizer="adam", verbose=0)
    state = model._net.optimizer_state()
    model._net.set_optimizer_state(2**32 - 1, 1, [list(s) for s in state["state"]])
    model.fit(X, labels, epochs=3, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert model._net.optimizer_counters[0] == 2**32 - 1 + 3


# -- ops --------------------------------------------------------------------------------------


def test_update_refuses_overlapping_arrays():
    W = np.ones((3, 2))
    with pytest.raises(ValueError, match="shares memory with param"):
        ops.update(W, W, 0.1)
    with pytest.raises(ValueError, match="shares memory with param"):
        ops.update(W[:, :1], W[:, :1], 0.1)
    ops.update(W[:, :1], W[:, 1:].copy(), 0.1)  # disjoint: fine
    np.testing.assert_allclose(W[:, 0], 0.9)
