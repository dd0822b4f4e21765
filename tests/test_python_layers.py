"""Layers written in Python (section 3's building blocks, issue 10): a subclass of dn.Layer with a
NumPy forward and backward mixes with the compiled layers, trains with every optimizer, and
round-trips through model files and pickles, found again by its registered name."""

from __future__ import annotations

import pickle
import threading

import deepnet as dn
import numpy as np
import pytest
from deepnet.layers.base import PYTHON_LAYERS

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")


class Square(dn.Layer):
    """A = A_prev², element-wise: no parameters."""

    kind = "test_square"  # unique: the docs' examples define a Square of their own

    def forward(self, A_prev, training):
        return A_prev**2

    def backward(self, dA, A_prev):
        return 2 * A_prev * dA


class HandDense(dn.Layer):
    """A linear dense layer written with the lecture's (9), (12)–(14)."""

    kind = "hand_dense"

    def __init__(self, units):
        self.units = units

    def build(self, input_shape, rng):
        n_prev = input_shape[0]
        self.add_param("W", rng.normal(0.0, np.sqrt(1.0 / n_prev), (self.units, n_prev)))
        self.add_param("b", np.zeros((self.units, 1)))

    def compute_output_shape(self, input_shape):
        return (self.units,)

    def forward(self, A_prev, training):
        return self.W @ A_prev + self.b  # (9) with g = identity

    def backward(self, dZ, A_prev):
        m = A_prev.shape[-1]
        dW = dZ @ A_prev.T / m  # (12)
        db = dZ.sum(axis=1, keepdims=True) / m  # (13)
        return self.W.T @ dZ, {"W": dW, "b": db}  # (14)


class ChannelScale(dn.Layer):
    """A[c, ...] = a_c · A_prev[c, ...]: one parameter per channel, for any input rank."""

    def build(self, input_shape, rng):
        self.add_param("a", 1.0 + 0.1 * rng.normal(size=(input_shape[0], 1)))

    def _a(self, A):
        return self.a.reshape(self.a.shape[0], *([1] * (A.ndim - 1)))

    def forward(self, A_prev, training):
        return self._a(A_prev) * A_prev

    def backward(self, dA, A_prev):
        m = A_prev.shape[-1]
        axes = tuple(range(1, A_prev.ndim))
        da = (dA * A_prev).sum(axis=axes).reshape(-1, 1) / m
        return self._a(A_prev) * dA, [da]


def _data(rng, n_x=3, m=24):
    X = rng.normal(size=(n_x, m))
    y = (X[0] ** 2 + X[1] > 0.7).astype(int)
    return X, y


def test_square_layer_gradients_match_finite_differences(rng):
    X, y = _data(rng)
    model = dn.Sequential(
        [dn.Dense(4, activation="tanh"), Square(), dn.Dense(1, activation="sigmoid")],
        n_x=3,
        loss="binary_crossentropy",
        dtype="float64",
    )
    assert dn.gradient_check(model, X, y) < 1e-7
    # dA[1] = 2 A[1] ⊙ dA[2]: compare with the chain rule done by hand on the cache
    cache = model.forward(X)
    np.testing.assert_array_equal(cache.A[2], cache.A[1] ** 2)
    assert cache.Z[2] is None


def test_hand_written_dense_equals_the_compiled_dense_under_every_optimizer(rng):
    X, y = _data(rng)
    for optimizer in OPTIMIZERS:
        ours = dn.Sequential(
            [HandDense(5), dn.Dense(1, activation="sigmoid")],
            n_x=3,
            loss="binary_crossentropy",
            dtype="float64",
        )
        theirs = dn.Sequential(
            [dn.Dense(5), dn.Dense(1, activation="sigmoid")],
            n_x=3,
            loss="binary_crossentropy",
            dtype="float64",
        )
        theirs.set_weights(ours.get_weights())
        for (gw, gb), (hw, hb) in zip(ours.gradients(X, y), theirs.gradients(X, y)):
            np.testing.assert_allclose(gw, hw, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(gb, hb, rtol=1e-12, atol=1e-15)
        kwargs = dict(epochs=15, batch_size=8, optimizer=optimizer, verbose=0)
        h1, h2 = ours.fit(X, y, **kwargs), theirs.fit(X, y, **kwargs)
        np.testing.assert_allclose(h1.cost, h2.cost, rtol=1e-10)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        assert h1.cost[-1] < h1.cost[0]


def test_a_python_layer_between_conv_and_dense(rng):
    X = rng.normal(size=(2, 12, 10))
    y = rng.integers(0, 3, 10)
    model = dn.Sequential(
        [
            dn.Conv1D(3, 3, activation="tanh"),
            ChannelScale(),
            dn.Flatten(),
            Square(),
            dn.Dense(3, activation="softmax"),
        ],
        input_shape=(2, 12),
        loss="categorical_crossentropy",
        dtype="float64",
    )
    assert model.layers[1].output_shape == (3, 10)
    assert dn.gradient_check(model, X, y) < 1e-6
    history = model.fit(X, y, epochs=20, optimizer="adam", verbose=0, batch_size=4)
    assert history.cost[-1] < history.cost[0]


def test_float32_models_hand_the_layer_float32_arrays(rng):
    seen = []

    class Spy(dn.Layer):
        def forward(self, A_prev, training):
            seen.append((A_prev.dtype, training))
            return A_prev

        def backward(self, dA, A_prev):
            seen.append((dA.dtype, None))
            return dA.astype(np.float64)  # converted to the model's dtype

    X, y = _data(rng)
    model = dn.Sequential(
        [Spy(), dn.Dense(1, activation="sigmoid")], n_x=3, loss="binary_crossentropy"
    )
    model.fit(X, y, epochs=1, batch_size=None, verbose=0)
    model.predict(X)
    assert seen == [(np.float32, True), (np.float32, None), (np.float32, False)]


def test_a_subclass_missing_a_method_is_a_type_error_naming_it():
    class OnlyForward(dn.Layer):
        def forward(self, A_prev, training):
            return A_prev

    class OnlyBackward(dn.Layer):
        def backward(self, dA, A_prev):
            return dA

    with pytest.raises(TypeError, match=r"OnlyForward must define backward\(self, dA, A_prev\)"):
        OnlyForward()
    with pytest.raises(TypeError, match=r"OnlyBackward must define forward\(self, A_prev"):
        OnlyBackward()
    with pytest.raises(TypeError, match="Layer is a base class"):
        dn.Layer()


def test_names_are_not_deepnet_layers_and_a_saved_name_is_unique():
    with pytest.raises(TypeError, match="'dense' is the name of a deepnet layer"):

        class Mine(dn.Layer):
            kind = "dense"

    def define(module):
        cls = type(
            "Twin",
            (dn.Layer,),
            {
                "__module__": module,
                "forward": lambda self, A_prev, training: A_prev,
                "backward": lambda self, dA, A_prev: dA,
            },
        )
        return cls

    first = define("module_a")
    model = dn.Sequential([first(), dn.Dense(1)], n_x=2, loss="mse")
    data = model.to_bytes()
    second = define("module_b")  # another class of the same name, elsewhere: both kept
    try:
        model.predict(np.ones((2, 3)))  # running needs no name
        with pytest.raises(ValueError, match="2 layer classes are registered as 'Twin'"):
            model.to_bytes()
        with pytest.raises(ValueError, match="module_a.Twin, module_b.Twin"):
            dn.Sequential.from_bytes(data)
    finally:
        PYTHON_LAYERS.pop("Twin")
    del second


def test_save_and_load_find_the_class_by_name(rng, tmp_path):
    X, y = _data(rng)
    model = dn.Sequential(
        [HandDense(4), Square(), ChannelScale(), dn.Dense(1, activation="sigmoid")],
        n_x=3,
        loss="binary_crossentropy",
        seed=3,
    )
    model.fit(X, y, epochs=3, optimizer="adam", verbose=0, batch_size=8)
    path = tmp_path / "model.safetensors"
    model.save(path)
    again = dn.load(path)
    assert [type(layer) for layer in again.layers] == [HandDense, Square, ChannelScale, dn.Dense]
    assert again.layers[0].units == 4
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    # training resumes where it stopped, optimizer state included
    h1 = model.fit(X, y, epochs=3, verbose=0, batch_size=8)
    h2 = again.fit(X, y, epochs=3, verbose=0, batch_size=8)
    assert h1.cost == h2.cost
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the file holds names and numbers, never code
    arch = dn.io.decode(model.to_bytes())[1]
    assert arch["layers"][0] == {
        "type": "python",
        "kind": "hand_dense",
        "config": {"units": 4},
        "input_shape": [3],
        "output_shape": [4],
        "params": [{"name": "W", "shape": [4, 3]}, {"name": "b", "shape": [4, 1]}],
    }


def test_loading_without_the_class_names_it(monkeypatch, rng):
    model = dn.Sequential([Square(), dn.Dense(1)], n_x=3, loss="mse")
    data = model.to_bytes()
    monkeypatch.delitem(PYTHON_LAYERS, "test_square")
    with pytest.raises(ValueError, match="registered as 'test_square'.*import"):
        dn.Sequential.from_bytes(data)


def test_loading_after_the_class_changed_its_parameters_is_an_error():
    def define(units):
        class Changing(dn.Layer):
            def build(self, input_shape, rng):
                self.add_param("W", np.ones((units, input_shape[0])))

            def compute_output_shape(self, input_shape):
                return (units,)

            def forward(self, A_prev, training):
                return self.W @ A_prev

            def backward(self, dA, A_prev):
                return self.W.T @ dA, [dA @ A_prev.T / A_prev.shape[-1]]

        return Changing

    model = dn.Sequential([define(2)(), dn.Dense(1)], n_x=3, loss="mse")
    data = model.to_bytes()
    define(5)  # the same class (module and name), redefined: it replaces the first
    with pytest.raises(ValueError, match="the file has output_shape \\[2\\]"):
        dn.Sequential.from_bytes(data)


def test_hostile_python_layer_specs_are_value_errors():
    model = dn.Sequential([Square(), dn.Dense(1)], n_x=3, loss="mse")
    spec = model.layers[0].spec()
    for bad in (
        {**spec, "input_shape": [4]},
        {**spec, "output_shape": [2**40]},
        {**spec, "params": [{"name": "W", "shape": [2**20, 2**20]}]},
        {**spec, "params": [{"name": "not a name", "shape": [2]}]},
        {**spec, "kind": ""},
        {**spec, "code": "import os"},
    ):
        with pytest.raises(ValueError):
            dn._core.Network(
                dn.io.json.dumps([bad, {"type": "dense", "units": 1, "activation": "linear"}]),
                [3],
                "mse",
            )


def test_pickles_carry_the_class_by_reference(rng):
    X, y = _data(rng)
    unbuilt = dn.Sequential([HandDense(3), dn.Dense(1)], loss="mse")
    copy = pickle.loads(pickle.dumps(unbuilt))
    assert isinstance(copy.layers[0], HandDense) and copy.layers[0].units == 3
    model = dn.Sequential([HandDense(3), Square(), dn.Dense(1)], n_x=3, loss="mse")
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_exceptions_reach_the_caller_as_raised_and_fit_leaves_the_model_as_it_was(rng):
    X, y = _data(rng)

    class Fragile(dn.Layer):
        calls = 0

        def forward(self, A_prev, training):
            Fragile.calls += 1
            if Fragile.calls == 4:
                raise ZeroDivisionError("boom in forward")
            return A_prev

        def backward(self, dA, A_prev):
            return dA

    model = dn.Sequential(
        [dn.Dense(3), Fragile(), dn.Dense(1, activation="sigmoid")],
        n_x=3,
        loss="binary_crossentropy",
    )
    before = model.get_weights()
    with pytest.raises(ZeroDivisionError, match="boom in forward") as info:
        model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert "layer 2" in "".join(getattr(info.value, "__notes__", ["layer 2"]))
    assert model.history.stop_reason == "error"
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.predict(X)  # still usable


def test_bad_results_are_errors_naming_the_method(rng):
    X, y = _data(rng)

    class WrongShape(dn.Layer):
        def forward(self, A_prev, training):
            return A_prev[:2]

        def backward(self, dA, A_prev):
            return dA

    class NotAnArray(dn.Layer):
        def forward(self, A_prev, training):
            return "A"

        def backward(self, dA, A_prev):
            return dA

    class NoGrads(dn.Layer):
        def build(self, input_shape, rng):
            self.add_param("a", np.ones((input_shape[0], 1)))

        def forward(self, A_prev, training):
            return self.a * A_prev

        def backward(self, dA, A_prev):
            return self.a * dA

    def model(layer):
        return dn.Sequential([layer, dn.Dense(1)], n_x=3, loss="mse")

    with pytest.raises(ValueError, match=r"WrongShape.forward.*\(3, 24\).*compute_output_shape"):
        model(WrongShape()).predict(X)
    with pytest.raises(TypeError, match="NotAnArray.forward returned A: expected a numpy array"):
        model(NotAnArray()).predict(X)
    with pytest.raises(TypeError, match=r"NoGrads.backward: a layer with parameters \('a',\)"):
        model(NoGrads()).gradients(X, y)


def test_a_layer_calling_its_own_model_gets_an_error_not_a_deadlock(rng):
    X, y = _data(rng)

    class Reentrant(dn.Layer):
        def forward(self, A_prev, training):
            self._model.predict(A_prev[:, :1])
            return A_prev

        def backward(self, dA, A_prev):
            return dA

    model = dn.Sequential([Reentrant(), dn.Dense(1)], n_x=3, loss="mse")
    with pytest.raises(RuntimeError, match="cannot call its own model"):
        model.predict(X)
    with pytest.raises(RuntimeError, match="cannot call its own model"):
        model.fit(X, y, epochs=1, verbose=0)


def test_parameters_read_and_assign_like_compiled_ones(rng):
    X, y = _data(rng)
    model = dn.Sequential([HandDense(2), dn.Dense(1)], n_x=3, loss="mse", dtype="float64")
    layer = model.layers[0]
    assert layer.param_names == ("W", "b") and layer.n_params == 8
    layer.W = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(model.forward(X).A[1], layer.W @ X + layer.b)
    with pytest.raises(ValueError, match="expected shape"):
        layer.W = np.zeros((3, 3))
    text = []
    model.summary(print_fn=text.append)
    assert "hand_dense (Python)" in text[0] and "W (2, 3), b (2, 1)" in text[0]
    assert "HandDense.forward(A[0])" in model.explain(X, y, print_fn=lambda s: None)


def test_a_frozen_python_layer_keeps_its_parameters(rng):
    X, y = _data(rng)
    layer = ChannelScale()
    layer.trainable = False
    model = dn.Sequential([layer, dn.Dense(1)], n_x=3, loss="mse")
    before = layer.a.copy()
    model.fit(X, y, epochs=5, optimizer="adam", verbose=0)
    np.testing.assert_array_equal(layer.a, before)
    again = dn.Sequential.from_bytes(model.to_bytes())
    assert again.layers[0].trainable is False


def test_concurrent_fits_on_threads_equal_sequential_ones(rng):
    X, y = _data(rng)

    def make():
        return dn.Sequential(
            [ChannelScale(), dn.Dense(4, activation="relu"), Square(), dn.Dense(1)],
            n_x=3,
            loss="mse",
            seed=1,
        )

    expected = make().fit(X, y, epochs=10, batch_size=6, verbose=0).cost
    results = [None] * 4

    def run(i):
        results[i] = make().fit(X, y, epochs=10, batch_size=6, verbose=0).cost

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [expected] * 4


def test_keyboard_interrupt_in_a_python_layer_stops_fit(rng):
    X, y = _data(rng)

    class Interrupting(dn.Layer):
        calls = 0

        def forward(self, A_prev, training):
            Interrupting.calls += 1
            if Interrupting.calls == 3:
                raise KeyboardInterrupt
            return A_prev

        def backward(self, dA, A_prev):
            return dA

    model = dn.Sequential([Interrupting(), dn.Dense(1)], n_x=3, loss="mse")
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, epochs=3, batch_size=8, verbose=0)
    assert model.history.stop_reason == "interrupted"
    model.predict(X)


def test_a_network_of_compiled_layers_trains_in_one_rust_call(rng):
    X, y = _data(rng)
    model = dn.Sequential([dn.Dense(4, activation="relu"), dn.Dense(1)], n_x=3, loss="mse")

    class Counting:
        def __init__(self, net):
            self.net, self.fits = net, 0

        def __getattr__(self, name):
            return getattr(self.net, name)

        def fit(self, *args):
            self.fits += 1
            return self.net.fit(*args)

    model._net = counting = Counting(model._net)
    model.fit(X, y, epochs=50, batch_size=4, verbose=0)
    assert counting.fits == 1
    assert model.optimizer is not None


def test_copies_keep_the_class_and_helpers_refuse_what_they_do_not_cover(rng):
    X, y = _data(rng)
    model = dn.Sequential(
        [dn.Dense(3, activation="tanh"), Square(), dn.Dense(1)], n_x=3, loss="mse"
    )

    def redefine():
        class Square(dn.Layer):  # same name, other module path: both registered
            kind = "test_square"

            def forward(self, A_prev, training):
                return A_prev

            def backward(self, dA, A_prev):
                return dA

    try:
        redefine()
        copy = model.copy()  # the very class, not whatever the name now finds
        assert type(copy.layers[1]) is Square
        np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    finally:
        PYTHON_LAYERS["test_square"] = [Square]
    with pytest.raises(TypeError, match="layer 2 is written in Python"):
        dn.per_example_gradients(model, X, y)
    frozen = ChannelScale()
    frozen.trainable = False
    assert frozen.clone().trainable is False


def test_add_param_refuses_names_the_layer_already_uses():
    class Shadowing(dn.Layer):
        def build(self, input_shape, rng):
            self.add_param("trainable", np.ones((1,)))

        def forward(self, A_prev, training):
            return A_prev

        def backward(self, dA, A_prev):
            return dA

    with pytest.raises(ValueError, match="'trainable' is already an attribute"):
        dn.Sequential([Shadowing(), dn.Dense(1)], n_x=2, loss="mse")


def test_a_file_whose_arguments_break_the_class_is_a_value_error():
    model = dn.Sequential([HandDense(2), dn.Dense(1)], n_x=3, loss="mse")
    arch = dn.io.decode(model.to_bytes())[1]
    assert arch["layers"][0]["config"] == {"units": 2}
    # the stored arguments edited: units no longer matches the stored shapes
    data = model.to_bytes().replace(b'{\\"units\\": 2}', b'{\\"units\\": 9}')
    assert data != model.to_bytes()
    with pytest.raises(ValueError, match="output_shape"):
        dn.Sequential.from_bytes(data)
    data = model.to_bytes().replace(b'{\\"units\\": 2}', b'{\\"unit\\": 2} ')
    with pytest.raises(ValueError, match="from_config"):
        dn.Sequential.from_bytes(data)


@pytest.mark.filterwarnings("ignore:.*epoch limit")
def test_sklearn_clones_a_template_with_python_layers(rng):
    pytest.importorskip("sklearn")
    from deepnet.sklearn import DeepNetRegressor
    from sklearn.base import clone

    X = rng.normal(size=(30, 3))
    y = X[:, 0] ** 2
    est = DeepNetRegressor(layers=[HandDense(4), Square(), dn.Dense(1)], epochs=5)
    fitted = clone(est).fit(X, y)
    assert isinstance(fitted.model_.layers[0], HandDense)
    assert fitted.predict(X).shape == (30,)
