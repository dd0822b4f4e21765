"""Every bad input raises ValueError or TypeError whose message names what was expected and
what was given."""

from __future__ import annotations

import re

import deepnet as dn
import numpy as np
import numpy_net as npn
import pytest
from deepnet import ops

ACTS = re.escape(str(list(dn.ACTIVATIONS)))
LOSSES = re.escape(str(list(dn.LOSSES)))


@pytest.fixture
def model():
    """n_x = 3, n_y = 2: W^[1] is (5, 3), b^[1] (5, 1), W^[2] (2, 5)."""
    return npn.build((3, 5, 2), "tanh", "sigmoid", "binary_crossentropy", seed=0)


@pytest.fixture
def XY():
    return np.zeros((3, 5)), np.zeros((2, 5))


def _calls(model, X, Y):
    """Every Sequential method that takes X (and Y)."""
    return {
        "predict": lambda: model.predict(X),
        "cost": lambda: model.cost(X, Y),
        "evaluate": lambda: model.evaluate(X, Y),
        "gradients": lambda: model.gradients(X, Y),
        "fit": lambda: model.fit(X, Y, epochs=1, verbose=0),
    }


METHODS = ["predict", "cost", "evaluate", "gradients", "fit"]
XY_METHODS = METHODS[1:]


# -- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_x_rows_differ_from_n_x(model, method):
    call = _calls(model, np.zeros((4, 5)), np.zeros((2, 5)))[method]
    with pytest.raises(ValueError, match=r"X: expected shape \(3, m\).*got \(4, 5\)"):
        call()


def test_transposed_x_gets_a_hint(model):
    with pytest.raises(ValueError, match=r"expected shape \(3, m\).*got \(5, 3\).*transposed"):
        model.predict(np.zeros((5, 3)))


@pytest.mark.parametrize("method", XY_METHODS)
def test_x_and_y_column_counts_differ(model, method):
    call = _calls(model, np.zeros((3, 5)), np.zeros((2, 4)))[method]
    with pytest.raises(ValueError, match=r"Y: expected shape \(2, 5\).*got \(2, 4\)"):
        call()


@pytest.mark.parametrize("method", XY_METHODS)
def test_y_rows_differ_from_n_y(model, method):
    call = _calls(model, np.zeros((3, 5)), np.zeros((3, 5)))[method]
    with pytest.raises(ValueError, match=r"Y: expected shape \(2, 5\).*got \(3, 5\)"):
        call()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "X,given",
    [
        (np.zeros(3), r"1-D array of shape \(3,\)"),
        (np.zeros((3, 5, 1)), r"3-D array of shape \(3, 5, 1\)"),
        (np.float64(1.0), r"0-D array of shape \(\)"),
    ],
    ids=["1-D", "3-D", "0-D"],
)
def test_x_not_2d(model, method, X, given):
    with pytest.raises(ValueError, match=rf"X: expected a 2-D array of shape \(n_x, m\).*{given}"):
        _calls(model, X, np.zeros((2, 5)))[method]()


@pytest.mark.parametrize("method", XY_METHODS)
@pytest.mark.parametrize(
    "Y,given",
    [(np.zeros(5), r"1-D array of shape \(5,\)"), (np.zeros((2, 5, 1)), r"3-D array")],
    ids=["1-D", "3-D"],
)
def test_y_not_2d(model, method, Y, given):
    with pytest.raises(ValueError, match=rf"Y: expected a 2-D array of shape \(n_y, m\).*{given}"):
        _calls(model, np.zeros((3, 5)), Y)[method]()


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("W", np.zeros((3, 5)), r"W of layer 1: expected shape \(5, 3\), got \(3, 5\)"),
        ("W", np.zeros((5, 4)), r"W of layer 1: expected shape \(5, 3\), got \(5, 4\)"),
        ("W", np.zeros(15), r"W of layer 1: expected a 2-D array of shape \(5, 3\).*1-D"),
        ("b", np.zeros((1, 5)), r"b of layer 1: expected shape \(5, 1\), got \(1, 5\)"),
        ("b", np.zeros(5), r"b of layer 1: expected a 2-D array of shape \(5, 1\).*\(5,\)"),
        ("W", [[1.0, 2.0]], r"W of layer 1: expected shape \(5, 3\), got \(1, 2\)"),
    ],
)
def test_assigning_a_parameter_of_the_wrong_shape(model, name, value, message):
    before = model.layers[0].W, model.layers[0].b
    with pytest.raises(ValueError, match=message):
        setattr(model.layers[0], name, value)
    assert np.array_equal(model.layers[0].W, before[0])
    assert np.array_equal(model.layers[0].b, before[1])


def test_assigning_w_of_the_second_layer_names_it(model):
    with pytest.raises(ValueError, match=r"W of layer 2: expected shape \(2, 5\), got \(5, 2\)"):
        model.layers[1].W = np.zeros((5, 2))


# -- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", METHODS)
def test_nan_or_inf_in_x(model, method, bad):
    X = np.zeros((3, 5))
    X[1, 2] = bad
    with pytest.raises(ValueError, match=r"X contains NaN or inf \(first at index \(1, 2\)\)"):
        _calls(model, X, np.zeros((2, 5)))[method]()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("method", XY_METHODS)
def test_nan_or_inf_in_y(model, method, bad):
    Y = np.zeros((2, 5), dtype=np.float32)
    Y[0, 4] = bad
    with pytest.raises(ValueError, match=r"Y contains NaN or inf.*\(0, 4\).*expected finite"):
        _calls(model, np.zeros((3, 5)), Y)[method]()


def test_nan_in_an_assigned_parameter(model):
    W = np.ones((5, 3))
    W[4, 0] = np.nan
    with pytest.raises(ValueError, match=r"W of layer 1 contains NaN or inf.*\(4, 0\)"):
        model.layers[0].W = W


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "X,given",
    [
        (np.zeros((3, 0)), r"non-empty array, got shape \(3, 0\)"),
        (np.zeros((0, 5)), r"non-empty array, got shape \(0, 5\)"),
        ([], r"2-D array.*got a 1-D array of shape \(0,\)"),
    ],
    ids=["no-columns", "no-rows", "empty-list"],
)
def test_empty_x(model, method, X, given):
    with pytest.raises(ValueError, match=rf"X: expected a {given}"):
        _calls(model, X, np.zeros((2, 5)))[method]()


@pytest.mark.parametrize("method", XY_METHODS)
def test_empty_y(model, method):
    with pytest.raises(ValueError, match=r"Y: expected a non-empty array, got shape \(2, 0\)"):
        _calls(model, np.zeros((3, 5)), np.zeros((2, 0)))[method]()


NON_NUMERIC = [
    (np.full((3, 5), "a"), "<U1"),
    (np.zeros((3, 5), dtype=object), "object"),
    (np.zeros((3, 5), dtype=complex), "complex128"),
    ([["a", "b"], ["c", "d"], ["e", "f"]], "<U1"),
    ([[1, None], [2, 3], [4, 5]], "object"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "X,dtype", NON_NUMERIC, ids=["str", "object", "complex", "str-list", "None"]
)
def test_non_numeric_x(model, method, X, dtype):
    with pytest.raises(TypeError, match=rf"X: expected a numeric array .*got dtype {dtype}"):
        _calls(model, X, np.zeros((2, 5)))[method]()


@pytest.mark.parametrize("method", XY_METHODS)
@pytest.mark.parametrize("dtype", ["<U1", "object", "complex64"])
def test_non_numeric_y(model, method, dtype):
    Y = np.zeros((2, 5)).astype(dtype)
    with pytest.raises(TypeError, match=rf"Y: expected a numeric array .*got dtype {dtype}"):
        _calls(model, np.zeros((3, 5)), Y)[method]()


@pytest.mark.parametrize("dtype", ["<U3", "object", "complex128"])
def test_non_numeric_parameter(model, dtype):
    with pytest.raises(TypeError, match=rf"b of layer 1: expected a numeric.*got dtype {dtype}"):
        model.layers[0].b = np.zeros((5, 1)).astype(dtype)


def test_failed_calls_leave_an_unbuilt_model_unbuilt():
    model = dn.Sequential([dn.Dense(2, "sigmoid")], loss="binary_crossentropy")
    for X in [np.zeros(3), np.full((3, 2), "x"), np.array([[np.nan]])]:
        with pytest.raises((TypeError, ValueError)):
            model.predict(X)
    assert not model.built


# -- names and hyperparameters ---------------------------------------------------------------


def test_unknown_activation():
    with pytest.raises(ValueError, match=rf"activation: expected one of {ACTS}, got 'gelu'"):
        dn.Dense(3, activation="gelu")
    with pytest.raises(ValueError, match=rf"expected one of {ACTS}, got 'ReLU'"):
        dn.Dense(3, activation="ReLU")
    with pytest.raises(TypeError, match=rf"expected one of {ACTS}, got None"):
        dn.Dense(3, activation=None)


def test_unknown_loss():
    with pytest.raises(ValueError, match=rf"loss: expected one of {LOSSES}, got 'hinge'"):
        dn.Sequential([dn.Dense(1, "sigmoid")], loss="hinge")
    with pytest.raises(TypeError, match=rf"loss: expected one of {LOSSES}, got 3"):
        dn.Sequential([dn.Dense(1, "sigmoid")], loss=3)
    with pytest.raises(ValueError, match=rf"loss: a loss is required, one of {LOSSES}"):
        dn.Sequential([dn.Dense(1, "sigmoid")])


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy"])
@pytest.mark.parametrize("output", ["relu", "tanh", "linear", "leaky_relu"])
def test_cross_entropy_needs_a_probability_output(loss, output):
    with pytest.raises(ValueError, match=rf'"sigmoid" or "softmax", got "{output}"'):
        dn.Sequential([dn.Dense(3, "tanh"), dn.Dense(2, output)], n_x=2, loss=loss)


@pytest.mark.parametrize(
    "units,error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_units(units, error):
    with pytest.raises(error, match=rf"Dense units: expected a positive integer, got {units!r}"):
        dn.Dense(units)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (dict(learning_rate=0), ValueError, r"learning_rate: expected a positive.*got 0\.0"),
        (dict(learning_rate=-0.1), ValueError, r"learning_rate: expected a positive.*-0\.1"),
        (dict(learning_rate=np.nan), ValueError, r"learning_rate: expected .*finite.*nan"),
        (dict(learning_rate=np.inf), ValueError, r"learning_rate: expected .*finite.*inf"),
        (dict(learning_rate="0.1"), TypeError, r"learning_rate: expected a positive.*'0\.1'"),
        (dict(epochs=0), ValueError, r"epochs: expected a positive integer, got 0"),
        (dict(epochs=-5), ValueError, r"epochs: expected a positive integer, got -5"),
        (dict(epochs=10.0), TypeError, r"epochs: expected a positive integer, got 10\.0"),
        (dict(epochs=True), TypeError, r"epochs: expected a positive integer, got True"),
        (dict(batch_size=0), ValueError, r"batch_size: expected a positive integer, got 0"),
        (dict(batch_size=-1), ValueError, r"batch_size: expected a positive integer, got -1"),
        (dict(batch_size=1.5), TypeError, r"batch_size: expected a positive integer, got 1\.5"),
        (dict(batch_size="32"), TypeError, r"batch_size: expected a positive integer, got '32'"),
        (dict(verbose=3), ValueError, r"verbose: expected 0, 1 or 2, got 3"),
        (dict(verbose=-1), ValueError, r"verbose: expected 0, 1 or 2, got -1"),
        (dict(verbose="2"), ValueError, r"verbose: expected 0, 1 or 2, got '2'"),
        (dict(verbose=None), ValueError, r"verbose: expected 0, 1 or 2, got None"),
        (dict(tol=-1e-3), ValueError, r"tol: expected None or a finite number >= 0, got -0\.001"),
        (dict(tol="x"), TypeError, r"tol: expected None or a number >= 0, got 'x'"),
        (dict(target_cost=np.nan), ValueError, r"target_cost: expected .* >= 0, got nan"),
        (dict(target_cost=-1), ValueError, r"target_cost: expected .* >= 0, got -1\.0"),
    ],
)
def test_bad_fit_arguments(model, XY, kwargs, error, message):
    before = [layer.W for layer in model.layers]
    with pytest.raises(error, match=message):
        model.fit(*XY, **{"verbose": 0, **kwargs})
    assert all(np.array_equal(W, layer.W) for W, layer in zip(before, model.layers))


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (
            dict(dtype="float16"),
            ValueError,
            r"dtype: expected 'float32' or 'float64', got 'float16'",
        ),
        (dict(dtype="int32"), ValueError, r"dtype: expected 'float32' or 'float64', got 'int32'"),
        (
            dict(dtype="double!"),
            TypeError,
            r"dtype: expected 'float32' or 'float64', got 'double!'",
        ),
        (dict(seed=-1), ValueError, r"seed: expected a non-negative integer, got -1"),
        (dict(seed="0"), ValueError, r"seed: expected a non-negative integer, got '0'"),
        (dict(n_x=0), ValueError, r"n_x: expected a positive integer, got 0"),
        (dict(n_x=2.0), TypeError, r"n_x: expected a positive integer, got 2\.0"),
    ],
)
def test_bad_model_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        dn.Sequential([dn.Dense(2, "sigmoid")], loss="mse", **kwargs)


def test_bad_layer_lists():
    with pytest.raises(ValueError, match="layers: expected at least one layer, got an empty list"):
        dn.Sequential([], loss="mse")
    with pytest.raises(TypeError, match="layers: expected a list of layers, got Dense"):
        dn.Sequential(dn.Dense(2), loss="mse")
    with pytest.raises(TypeError, match=r"layers\[1\]: expected a deepnet layer .*got 'relu'"):
        dn.Sequential([dn.Dense(2), "relu"], loss="mse")
    shared = dn.Dense(2)
    dn.Sequential([shared], loss="mse")
    with pytest.raises(ValueError, match="already belongs to another model"):
        dn.Sequential([shared], loss="mse")


# -- deepnet.ops -----------------------------------------------------------------------------


def test_ops_shape_errors():
    W, b, A = np.zeros((4, 3)), np.zeros((4, 1)), np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"A_prev: expected 3 rows .*got shape \[2, 5\]"):
        ops.dense_forward(W, b, np.zeros((2, 5)), "tanh")
    with pytest.raises(ValueError, match=r"b: expected shape \[4, 1\], got \[3, 1\]"):
        ops.dense_forward(W, np.zeros((3, 1)), A, "tanh")
    with pytest.raises(ValueError, match=r"A_prev: expected a 2-D array, got a 1-D array"):
        ops.dense_forward(W, b, np.zeros(3), "tanh")
    Z = np.zeros((4, 5))
    with pytest.raises(ValueError, match=r"dA: expected shape \[4, 5\], got \[4, 4\]"):
        ops.dense_backward(np.zeros((4, 4)), Z, Z, A, W, "tanh")
    with pytest.raises(ValueError, match=r"dZ: expected shape \[4, 5\], got \[4, 4\]"):
        ops.dense_backward(np.zeros((4, 4)), Z, Z, A, W, "tanh", upstream_is_dz=True)
    with pytest.raises(ValueError, match=r"Z: expected shape \[4, 5\], got \[5, 4\]"):
        ops.dense_backward(Z, np.zeros((5, 4)), Z, A, W, "tanh")
    with pytest.raises(ValueError, match=r"Y: expected shape \[2, 2\], got \[2, 3\]"):
        ops.cost(np.zeros((2, 2)), np.zeros((2, 3)), "mse")
    with pytest.raises(ValueError, match=r"grad: expected shape \(2, 2\) .*got \(2, 3\)"):
        ops.update(np.zeros((2, 2)), np.zeros((2, 3)), 0.1)


def test_ops_value_and_type_errors():
    Z = np.zeros((2, 2))
    with pytest.raises(ValueError, match=rf"activation: expected one of {ACTS}, got 'gelu'"):
        ops.activation(Z, "gelu")
    with pytest.raises(ValueError, match=rf"activation: expected one of {ACTS}, got 'elu'"):
        ops.dense_forward(Z, np.zeros((2, 1)), Z, "elu")
    with pytest.raises(ValueError, match=rf"loss: expected one of {LOSSES}, got 'hinge'"):
        ops.loss_gradient(Z, Z, "hinge")
    with pytest.raises(ValueError, match=r"Z contains NaN or inf"):
        ops.activation(np.array([[np.nan]]), "tanh")
    with pytest.raises(TypeError, match=r"A_prev: expected a numeric array .*got dtype object"):
        ops.dense_forward(Z, np.zeros((2, 1)), np.zeros((2, 2), dtype=object), "tanh")
    with pytest.raises(ValueError, match=r"A_prev: expected a non-empty array, got shape"):
        ops.dense_forward(Z, np.zeros((2, 1)), np.zeros((2, 0)), "tanh")
    with pytest.raises(TypeError, match=r"param: expected a writeable numpy array .*got list"):
        ops.update([[0.0]], [[0.0]], 0.1)
    with pytest.raises(TypeError, match=r"param: .*float32 or float64, got ndarray of dtype int"):
        ops.update(np.zeros((2, 2), dtype=int), Z, 0.1)
    read_only = Z.copy()
    read_only.flags.writeable = False
    with pytest.raises(TypeError, match=r"param: expected a writeable .*not writeable"):
        ops.update(read_only, Z, 0.1)
    with pytest.raises(ValueError, match=r"learning_rate: expected a positive .*got 0\.0"):
        ops.update(Z.copy(), Z, 0)
    with pytest.raises(ValueError, match=r"grad contains NaN or inf"):
        ops.update(Z.copy(), np.array([[np.inf, 0], [0, 0]]), 0.1)
