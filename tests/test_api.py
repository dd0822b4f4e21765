"""The public API: accepted input layouts, parameters as numpy arrays, summary, History and
the verbose modes."""

from __future__ import annotations

import re

import deepnet as dn
import numpy as np
import numpy_net as npn
import pytest
from deepnet import ops

SIZES = (3, 5, 4, 2)


def _model(dtype="float64", seed=0):
    return npn.build(SIZES, "tanh", "sigmoid", "binary_crossentropy", seed=seed, dtype=dtype)


def _int_data(rng, m=8):
    """Integer-valued X, Y: every layout below holds exactly these values."""
    X = rng.integers(-3, 4, size=(SIZES[0], m))
    Y = rng.integers(0, 2, size=(SIZES[-1], m))
    return X, Y


def _layouts(A):
    """The same values as float64 C-contiguous, Fortran, strided (positive and negative steps),
    float32, int and nested lists."""
    A64 = np.ascontiguousarray(A, dtype=np.float64)
    wide = np.zeros((A.shape[0], 2 * A.shape[1]))
    wide[:, ::2] = A64
    rev = np.ascontiguousarray(A64[::-1, ::-1])
    return {
        "C": A64,
        "F": np.asfortranarray(A64),
        "strided": wide[:, ::2],
        "reversed": rev[::-1, ::-1],
        "float32": A64.astype(np.float32),
        "float32-F": np.asfortranarray(A64.astype(np.float32)),
        "int": A.astype(np.int64),
        "int32-strided": np.repeat(A.astype(np.int32), 2, axis=1)[:, ::2],
        "list": A.tolist(),
    }


LAYOUTS = ["C", "F", "strided", "reversed", "float32", "float32-F", "int", "int32-strided", "list"]


def _snapshot(value):
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else repr(value)


def _unchanged(value, snap):
    if isinstance(value, np.ndarray):
        return np.array_equal(value, snap) and value.dtype == snap.dtype
    return repr(value) == snap


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_input_layouts_give_the_same_results(layout, dtype, rng):
    """Every layout gives the results of the contiguous float array, for predict, cost,
    evaluate, gradients and fit, and the caller's arrays are never modified."""
    Xi, Yi = _int_data(rng)
    X, Y = _layouts(Xi)[layout], _layouts(Yi)[layout]
    X_snap, Y_snap = _snapshot(X), _snapshot(Y)
    Xc, Yc = Xi.astype(np.float64), Yi.astype(np.float64)
    ref, model = _model(dtype), _model(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-13, atol=1e-14)
    approx = dict(rel=tol["rtol"], abs=tol["atol"])
    np.testing.assert_allclose(model.predict(X), ref.predict(Xc), **tol)
    assert model.cost(X, Y) == pytest.approx(ref.cost(Xc, Yc), **approx)
    assert model.evaluate(X, Y) == pytest.approx(ref.evaluate(Xc, Yc), **approx)
    for (dW, db), (rW, rb) in zip(model.gradients(X, Y), ref.gradients(Xc, Yc)):
        np.testing.assert_allclose(dW, rW, **tol)
        np.testing.assert_allclose(db, rb, **tol)
    kwargs = dict(epochs=4, learning_rate=0.5, batch_size=3, shuffle=True, verbose=0)
    h = model.fit(X, Y, **kwargs)
    h_ref = ref.fit(Xc, Yc, **kwargs)
    np.testing.assert_allclose(h.cost, h_ref.cost, **tol)
    for layer, ref_layer in zip(model.layers, ref.layers):
        np.testing.assert_allclose(layer.W, ref_layer.W, **tol)
        np.testing.assert_allclose(layer.b, ref_layer.b, **tol)
    dn.per_example_gradients(model, X, Y)
    dn.gradient_check(model, X, Y)
    assert _unchanged(X, X_snap) and _unchanged(Y, Y_snap)


def test_arrays_of_the_model_dtype_are_not_modified_by_training(rng):
    """float64 C-contiguous arrays go to Rust without a copy: fit with shuffling must still
    leave them as they were, and keep them writeable."""
    X = rng.normal(size=(3, 17))
    Y = (rng.random((2, 17)) < 0.5).astype(np.float64)
    Xs, Ys = X.copy(), Y.copy()
    model = _model()
    model.fit(X, Y, epochs=5, batch_size=4, shuffle=True, verbose=0)
    model.predict(X)
    model.evaluate(X, Y)
    np.testing.assert_array_equal(X, Xs)
    np.testing.assert_array_equal(Y, Ys)
    assert X.flags.writeable and Y.flags.writeable


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ops_accept_layouts_and_do_not_modify_inputs(layout, rng):
    """ops.dense_forward/dense_backward/activation/cost/loss_gradient read any layout and
    never write into their arguments (ops.update writes param only, by design)."""
    Ai = rng.integers(-3, 4, size=(3, 6))
    Wi = rng.integers(-2, 3, size=(4, 3))
    bi = rng.integers(-1, 2, size=(4, 1))
    Yi = rng.integers(0, 2, size=(4, 6))
    A, W, b, Y = (_layouts(v)[layout] for v in (Ai, Wi, bi, Yi))
    snaps = [_snapshot(v) for v in (A, W, b, Y)]
    # the kernels compute in the dtype of their first array (W, Z or Ŷ): float64 unless float32
    ftype = np.float32 if "float32" in layout else np.float64
    Ac, Wc, bc, Yc = (v.astype(ftype) for v in (Ai, Wi, bi, Yi))
    tol = dict(rtol=1e-6, atol=1e-7) if ftype == np.float32 else dict(rtol=1e-14, atol=1e-15)
    Z, S = ops.dense_forward(W, b, A, "sigmoid")
    Zc, Sc = ops.dense_forward(Wc, bc, Ac, "sigmoid")
    assert Z.dtype == S.dtype == ftype
    np.testing.assert_allclose(Z, Zc, **tol)
    np.testing.assert_allclose(S, Sc, **tol)
    np.testing.assert_allclose(ops.activation(A, "tanh"), ops.activation(Ac, "tanh"), **tol)
    dA = ops.loss_gradient(S, Y, "binary_crossentropy")
    np.testing.assert_allclose(dA, ops.loss_gradient(Sc, Yc, "binary_crossentropy"), **tol)
    assert ops.cost(S, Y, "mse") == pytest.approx(ops.cost(Sc, Yc, "mse"), rel=tol["rtol"])
    got = ops.dense_backward(Y, Z, S, A, W, "sigmoid")
    want = ops.dense_backward(Yc, Zc, Sc, Ac, Wc, "sigmoid")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **tol)
    # the same layouts passed as the first array, too
    np.testing.assert_allclose(ops.activation(W, "relu"), np.maximum(Wc, 0), **tol)
    np.testing.assert_allclose(ops.loss_gradient(Y, Y, "mse"), 0.0, atol=0)
    assert all(_unchanged(v, s) for v, s in zip((A, W, b, Y), snaps))


def test_nested_lists_and_ints_build_a_lazy_model():
    model = dn.Sequential([dn.Dense(3, "relu"), dn.Dense(1, "sigmoid")], loss="binary_crossentropy")
    X = [[0, 1, 2, 3], [1, 1, 0, 0]]
    out = model.predict(X)
    assert model.n_x == 2 and out.shape == (1, 4) and out.dtype == np.float32


# -- parameters ------------------------------------------------------------------------------


def test_parameter_shapes_follow_the_lecture():
    """W^[l] is (n^[l], n^[l-1]) and b^[l] is (n^[l], 1)."""
    sizes = (7, 5, 4, 3, 2)
    model = npn.build(sizes, "relu", "softmax", "categorical_crossentropy", dtype="float32")
    for l, layer in enumerate(model.layers, start=1):
        assert layer.W.shape == (sizes[l], sizes[l - 1])
        assert layer.b.shape == (sizes[l], 1)
        assert layer.W.dtype == layer.b.dtype == np.float32
        assert layer.n_params == sizes[l] * (sizes[l - 1] + 1)
    assert model.n_x == 7 and model.n_y == 2


def test_initialization_scales(rng):
    """He (variance 2/n^[l-1]) for relu-like layers, Glorot otherwise; biases start at 0."""
    model = npn.build((400, 300, 200), "relu", "tanh", "mse")
    W1, W2 = model.layers[0].W, model.layers[1].W
    assert np.var(W1) == pytest.approx(2 / 400, rel=0.05)
    assert np.var(W2) == pytest.approx(2 / (300 + 200), rel=0.1)
    assert not model.layers[0].b.any() and not model.layers[1].b.any()


def test_assigned_parameters_change_predictions(rng):
    """Assigning W and b: predict equals an independent NumPy forward (9)–(10) with them."""
    model = npn.build((3, 4, 5, 2), "leaky_relu", "softmax", "categorical_crossentropy")
    X = rng.normal(size=(3, 9))
    before = model.predict(X)
    new = [(rng.normal(size=(n, k)), rng.normal(size=(n, 1))) for n, k in [(4, 3), (5, 4), (2, 5)]]
    for layer, (W, b) in zip(model.layers, new):
        layer.W = W
        layer.b = b.tolist()  # nested lists are accepted too
    for layer, (W, b) in zip(model.layers, new):
        np.testing.assert_array_equal(layer.W, W)
        np.testing.assert_array_equal(layer.b, b)
    _, As = npn.forward(new, ["leaky_relu", "leaky_relu", "softmax"], X)
    after = model.predict(X)
    np.testing.assert_allclose(after, As[-1], rtol=1e-13, atol=1e-15)
    assert not np.allclose(after, before)


def test_assignment_copies_and_reading_is_a_read_only_copy(rng):
    model = _model()
    layer = model.layers[0]
    W = rng.normal(size=(5, 3))
    layer.W = W
    W[0, 0] = 123.0  # the caller's array is not shared with the model
    assert layer.W[0, 0] != 123.0
    read = layer.W
    assert not read.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        read[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        layer.b[0, 0] = 1.0
    X = rng.normal(size=(3, 6))
    Y = (rng.random((2, 6)) < 0.5).astype(float)
    snapshot = read.copy()
    model.fit(X, Y, epochs=3, verbose=0)
    np.testing.assert_array_equal(read, snapshot)  # a copy: training does not change it
    assert not np.array_equal(layer.W, snapshot)


def test_float32_parameters_assigned_from_float64(rng):
    model = _model("float32")
    W = rng.normal(size=(5, 3))
    model.layers[0].W = W
    assert model.layers[0].W.dtype == np.float32
    np.testing.assert_array_equal(model.layers[0].W, W.astype(np.float32))


def test_unbuilt_layer_has_no_parameters():
    model = dn.Sequential([dn.Dense(3), dn.Dense(1, "sigmoid")], loss="binary_crossentropy")
    with pytest.raises(RuntimeError, match="no parameters yet"):
        model.layers[0].W  # noqa: B018


def test_copy_is_independent(rng):
    model = _model()
    clone = model.copy()
    for a, b in zip(model.layers, clone.layers):
        np.testing.assert_array_equal(a.W, b.W)
    clone.layers[0].W = np.zeros((5, 3))
    assert model.layers[0].W.any()


def test_cost_and_predict_match_numpy(rng):
    """model.cost is J of the NumPy forward's Ŷ; model.predict is that Ŷ."""
    for loss, output in npn.LOSS_OUTPUTS:
        model = npn.build((3, 4, 3), "tanh", output, loss, rng=rng)
        X = rng.normal(size=(3, 6))
        Y = npn.targets(loss, 3, 6, rng)
        _, As = npn.forward(npn.params_of(model), npn.activations_of(model), X)
        np.testing.assert_allclose(model.predict(X), As[-1], rtol=1e-13, atol=1e-15)
        assert model.cost(X, Y) == pytest.approx(npn.cost(loss, As[-1], Y), rel=1e-12)


def test_evaluate_binary_accuracy():
    """Binary accuracy: the fraction of outputs on the right side of 0.5."""
    model = dn.Sequential([dn.Dense(1, "sigmoid")], n_x=1, loss="binary_crossentropy")
    model.layers[0].W = [[1.0]]
    model.layers[0].b = [[0.0]]
    X = np.array([[-2.0, -1.0, 1.0, 2.0]])
    Y = np.array([[0.0, 1.0, 1.0, 1.0]])
    result = model.evaluate(X, Y)
    assert result["accuracy"] == 0.75
    assert "accuracy" not in npn.build((1, 1), "tanh", "linear", "mse").evaluate(X, Y)


# -- summary, History, verbose ---------------------------------------------------------------


def test_summary_lists_every_layer_and_the_parameter_count():
    sizes = (5, 16, 8, 3)
    model = npn.build(sizes, "relu", "softmax", "categorical_crossentropy", dtype="float32")
    captured = []
    model.summary(print_fn=captured.append)
    assert len(captured) == 1
    text = captured[0]
    assert "n_x = 5" in text and "L = 3" in text and "categorical_crossentropy" in text
    assert "float32" in text
    lines = text.splitlines()
    acts = ["relu", "relu", "softmax"]
    for l in range(1, 4):
        n = sizes[l] * (sizes[l - 1] + 1)
        row = [ln for ln in lines if re.match(rf"{l}\s+dense\s", ln)]
        assert len(row) == 1, text
        cells = row[0].split()
        # the output shape (n^[l], m), then g^[l]
        assert cells[2:5] == [f"({sizes[l]},", "m)", acts[l - 1]]
        assert f"({sizes[l]}, {sizes[l - 1]})" in row[0] and f"({sizes[l]}, 1)" in row[0]
        assert cells[-1] == f"{n:,}"
    total = sum(sizes[l] * (sizes[l - 1] + 1) for l in range(1, 4))
    assert total == sum(layer.W.size + layer.b.size for layer in model.layers) == 259
    assert re.search(rf"total parameters: {total:,}\b", text)


def test_summary_prints_with_print_by_default(capsys):
    model = npn.build((784, 128, 10), "relu", "softmax", "categorical_crossentropy")
    assert model.summary() is None
    out = capsys.readouterr().out
    assert "total parameters: 101,770" in out  # 128·785 + 10·129
    assert "(128, 784)" in out and "(10, 128)" in out


def test_summary_of_an_unbuilt_model():
    model = dn.Sequential([dn.Dense(4, "tanh"), dn.Dense(2, "softmax")], loss="mse")
    captured = []
    model.summary(print_fn=captured.append)
    assert "not built yet" in captured[0] and "n_x = ?" in captured[0]
    assert "tanh" in captured[0] and "softmax" in captured[0]


def test_repr():
    model = _model()
    assert repr(model) == (
        "Sequential([Dense(5, activation='tanh'), Dense(4, activation='tanh'), "
        "Dense(2, activation='sigmoid')], n_x=3, loss='binary_crossentropy', dtype='float64')"
    )


def test_history_fields_and_repr(rng):
    model = _model()
    X = rng.normal(size=(3, 10))
    Y = (rng.random((2, 10)) < 0.5).astype(float)
    history = model.fit(X, Y, epochs=4, learning_rate=0.2, batch_size=3, verbose=0)
    assert model.history is history and isinstance(history, dn.History)
    assert history.params == {
        "optimizer": "SGD(learning_rate=0.2)",
        "validation": False,
        "epochs": 4,
        "learning_rate": 0.2,
        "batch_size": 3,
        "shuffle": True,
        "target_cost": None,
        "tol": None,
        "patience": None,
        "m": 10,
        "sample_weight": False,
    }
    assert history.epoch == [1, 2, 3, 4] and history.cost is history.history["cost"]
    assert len(history.cost) == 4 and all(isinstance(c, float) for c in history.cost)
    assert history.stop_reason == "epochs" and not history.diverged
    assert history.diverged_epoch is None
    assert repr(history) == (
        f"History(epochs=4, stop_reason='epochs', final cost={history.cost[-1]:.6g})"
    )
    assert repr(dn.History({})) == "History(epochs=0, stop_reason='epochs')"


def test_verbose_2_prints_one_line_per_epoch(rng, capsys):
    model = _model()
    X = rng.normal(size=(3, 10))
    Y = (rng.random((2, 10)) < 0.5).astype(float)
    history = model.fit(X, Y, epochs=12, learning_rate=0.2, verbose=2)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 12 and err == ""
    for k, (line, cost) in enumerate(zip(lines, history.cost), start=1):
        match = re.fullmatch(rf"Epoch\s+{k}/12 - cost: (\S+)( - \w+: \S+)*", line)
        assert match, line
        assert float(match.group(1)) == pytest.approx(cost, rel=1e-3)


def test_verbose_0_prints_nothing(rng, capsys):
    model = _model()
    X = rng.normal(size=(3, 10))
    Y = (rng.random((2, 10)) < 0.5).astype(float)
    model.fit(X, Y, epochs=5, verbose=0)
    assert capsys.readouterr() == ("", "")


def test_verbose_1_shows_a_progress_bar_not_lines(rng, capsys):
    model = _model()
    X = rng.normal(size=(3, 10))
    Y = (rng.random((2, 10)) < 0.5).astype(float)
    # not a terminal (captured): the bar turns itself off, as the issue asks
    model.fit(X, Y, epochs=5, verbose=1)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    # asked for explicitly, it shows
    model.fit(X, Y, epochs=5, verbose=0, callbacks=[dn.callbacks.ProgressBar(force=True)])
    out, err = capsys.readouterr()
    assert "Epoch" not in out
    assert "5/5" in err


def test_public_names():
    assert set(dn.ACTIVATIONS) == {
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "linear",
        "softmax",
        "hard_sigmoid",
    }
    assert set(dn.LOSSES) == {"binary_crossentropy", "categorical_crossentropy", "mse"}
    assert isinstance(dn.__version__, str) and dn.__version__
    for name in dn.__all__:
        assert hasattr(dn, name)


@pytest.mark.parametrize("loss,output", [("categorical_crossentropy", "softmax"), ("mse", "tanh")])
def test_predict_and_cost_over_many_columns(loss, output, rng):
    """More columns than one inference chunk (4,096): predict and cost still equal the NumPy
    forward (9)–(10) and J over all m = 9,000 examples."""
    model = npn.build((3, 4, 3), "relu", output, loss, rng=rng)
    X = rng.normal(size=(3, 9000))
    Y = npn.targets(loss, 3, 9000, rng)
    _, As = npn.forward(npn.params_of(model), npn.activations_of(model), X)
    np.testing.assert_allclose(model.predict(X), As[-1], rtol=1e-13, atol=1e-15)
    assert model.cost(X, Y) == pytest.approx(npn.cost(loss, As[-1], Y), rel=1e-12)


def test_a_single_example(rng):
    """m = 1 works for every method; a full-batch step is (16)–(17) with that example's
    gradient."""
    model = _model()
    x = rng.normal(size=(3, 1))
    y = np.array([[1.0], [0.0]])
    (dW1, db1), (dW2, db2), (dW3, db3) = model.gradients(x, y)
    expected = [layer.W - 0.5 * g for layer, g in zip(model.layers, (dW1, dW2, dW3))]
    model.fit(x, y, epochs=1, learning_rate=0.5, verbose=0)
    for layer, W in zip(model.layers, expected):
        np.testing.assert_allclose(layer.W, W, rtol=1e-14, atol=1e-16)
    assert model.predict(x).shape == (2, 1)
