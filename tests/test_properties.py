"""Property-based tests (hypothesis) over random architectures, shapes, dtypes and strides.

Each test states one property that must hold for every network deepnet can build:

1. the vectorized gradients (9)–(15) equal the per-example loop of section 4, (2)–(8);
2. backpropagation equals centred finite differences of J (`deepnet.gradient_check`);
3. save → load and pickle round trips are exact: bit-identical predictions, parameters and
   resumed training;
4. `predict` does not depend on how the m columns are chunked, nor on how X is laid out in
   memory.

Architectures are 1–4 dense layers of 1–12 units with any activation, optional dropout between
them, a loss the core accepts for the output activation, float32 or float64, and m in 1..50.
Every test is derandomized (the same examples on every run, so never flaky) and draws at most 150
examples, so that the file runs in about ten seconds on two cores. Cases that once broke a
property are pinned as explicit examples.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass

import deepnet as dn
import numpy as np
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from numpy_net import g as reference_g

# Derandomized: every run draws the same examples, so a failure is reproducible and a pass is
# not luck; with that there is nothing for an example database to replay.
_SETTINGS = {"derandomize": True, "deadline": None, "database": None}

#: The losses, and for each the output activations the core accepts with it: cross-entropies
#: need outputs in (0, 1) (see `Sequential`); mse takes any g^[L].
OUTPUTS_FOR_LOSS = {
    "mse": tuple(dn.ACTIVATIONS),
    "binary_crossentropy": ("sigmoid", "softmax"),
    "categorical_crossentropy": ("sigmoid", "softmax"),
}
OPTIMIZERS = {
    "sgd": lambda: "sgd",
    "momentum": lambda: "momentum",
    "rmsprop": lambda: "rmsprop",
    "adam": lambda: "adam",
    # a schedule is part of the saved optimizer too
    "adam+decay": lambda: dn.optimizers.Adam(
        learning_rate=dn.optimizers.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5)
    ),
}
#: How X may be stored: "C" a C-contiguous copy; "F" Fortran order; "TT" the transpose of a
#: C-contiguous copy of Xᵀ (column-major too, made the way a user gets it); "cols::2" the view
#: X[:, ::2] of an array twice as wide; "rows::2,cols::2" every other row and column of a larger
#: array; "cols::-1" and "rows::-1" negative strides along the example or the input axis.
LAYOUTS = ("C", "F", "TT", "cols::2", "rows::2,cols::2", "cols::-1", "rows::-1")


@dataclass(frozen=True)
class Net:
    """A random network and its data, drawn by `nets`.

    Attributes
    ----------
    n_x : int
        Number of inputs.
    dense : tuple of (int, str)
        (n^[l], g^[l]) for l = 1..L.
    dropout : tuple of float or None
        The rate of a Dropout after dense layer l (None: no dropout there), for l = 1..L-1.
    loss, dtype : str
    m : int
        Number of examples (columns of X).
    seed : int
        Seeds the initialization, the biases and the data.
    """

    n_x: int
    dense: tuple[tuple[int, str], ...]
    dropout: tuple[float | None, ...]
    loss: str
    dtype: str
    m: int
    seed: int

    def build(self) -> dn.Sequential:
        """The model, with random non-zero biases.

        deepnet initializes b = 0; random biases make (13) matter and keep layers whose input
        is all zeros (dead relu units upstream) off the relu kink at z = 0.
        """
        layers: list[dn.Layer] = []
        for l, (units, activation) in enumerate(self.dense):
            layers.append(dn.Dense(units, activation=activation))
            if l < len(self.dropout) and self.dropout[l] is not None:
                layers.append(dn.Dropout(self.dropout[l]))
        model = dn.Sequential(
            layers, n_x=self.n_x, loss=self.loss, seed=self.seed, dtype=self.dtype
        )
        rng = np.random.default_rng(self.seed)
        for layer in _dense_layers(model):
            layer.b = rng.uniform(-0.5, 0.5, size=layer.b.shape)
        return model

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """X (n_x, m) and Y (n_y, m) valid for the loss, both already of the model's dtype, so
        that deepnet and the float64 references see the same numbers."""
        rng = np.random.default_rng(self.seed + 1)
        n_y, m = self.dense[-1][0], self.m
        X = rng.normal(size=(self.n_x, m))
        if self.loss == "categorical_crossentropy":
            Y = np.zeros((n_y, m))
            Y[rng.integers(0, n_y, m), np.arange(m)] = 1.0
        elif self.loss == "binary_crossentropy":
            Y = (rng.random((n_y, m)) < 0.5).astype(np.float64)
        else:
            Y = rng.normal(size=(n_y, m))
        return X.astype(self.dtype), Y.astype(self.dtype)


@st.composite
def nets(draw, dtypes=("float32", "float64"), min_m=1, max_m=50) -> Net:
    """A random `Net`: 1–4 dense layers of 1–12 units, any hidden activation, dropout or not
    between layers (never after the last: the loss checks the last layer's activation), a loss
    and an output activation the core accepts together."""
    n_layers = draw(st.integers(1, 4))
    loss = draw(st.sampled_from(sorted(OUTPUTS_FOR_LOSS)))
    output = draw(st.sampled_from(OUTPUTS_FOR_LOSS[loss]))
    hidden = tuple(
        (draw(st.integers(1, 12)), draw(st.sampled_from(dn.ACTIVATIONS)))
        for _ in range(n_layers - 1)
    )
    # a softmax of one unit is the constant 1: nothing to compare, no gradient
    n_y = draw(st.integers(2 if output == "softmax" else 1, 12))
    dropout = tuple(draw(st.sampled_from((None, 0.2, 0.5))) for _ in range(n_layers - 1))
    return Net(
        n_x=draw(st.integers(1, 12)),
        dense=(*hidden, (n_y, output)),
        dropout=dropout,
        loss=loss,
        dtype=draw(st.sampled_from(dtypes)),
        m=draw(st.integers(min_m, max_m)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def _dense_layers(model: dn.Sequential) -> list[dn.Dense]:
    """The layers with parameters, in order (dropout has none)."""
    return [layer for layer in model.layers if layer.param_names]


def _forward64(model: dn.Sequential, X: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """(9) Z = W A_prev + b and (10) A = g(Z) in float64 NumPy (tests/numpy_net.py's g, no
    deepnet kernel), dropout being the identity outside training.

    Returns
    -------
    Zs : list of ndarray
        Z^[l] of every dense layer.
    Yhat : ndarray
        A^[L].
    """
    A = np.asarray(X, dtype=np.float64)
    Zs = []
    for layer in _dense_layers(model):
        Zs.append(layer.W.astype(np.float64) @ A + layer.b.astype(np.float64))
        A = reference_g(layer.activation, Zs[-1])
    return Zs, A


def _kink_distance(model: dn.Sequential, X: np.ndarray) -> float:
    """The smallest |z| over the units of relu and leaky_relu layers (inf if there are none).

    g′ jumps at z = 0, so where a z lies within rounding (or a finite-difference step) of 0,
    two correct computations may take different sides of the kink.
    """
    Zs, _ = _forward64(model, X)
    kinked = [
        np.abs(Z).min()
        for Z, layer in zip(Zs, _dense_layers(model))
        if layer.activation in ("relu", "leaky_relu")
    ]
    return float(min(kinked, default=np.inf))


def _layout(X: np.ndarray, layout: str) -> np.ndarray:
    """The values of X stored as `layout` says (see LAYOUTS); never a view of X itself."""
    if layout == "C":
        out = np.array(X, order="C")
    elif layout == "F":
        out = np.array(X, order="F")
    elif layout == "TT":
        out = np.ascontiguousarray(X.T).T
    elif layout == "cols::2":
        big = np.full((X.shape[0], 2 * X.shape[1]), np.nan, dtype=X.dtype)
        big[:, ::2] = X  # the NaNs between the columns must never be read
        out = big[:, ::2]
    elif layout == "rows::2,cols::2":
        big = np.full((2 * X.shape[0], 2 * X.shape[1]), np.nan, dtype=X.dtype)
        big[::2, ::2] = X
        out = big[::2, ::2]
    elif layout == "cols::-1":
        out = np.ascontiguousarray(X[:, ::-1])[:, ::-1]
    elif layout == "rows::-1":
        out = np.ascontiguousarray(X[::-1])[::-1]
    else:
        raise AssertionError(layout)
    assert np.array_equal(out, X)
    return out


def _assert_bits_equal(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    """Same dtype, shape and bytes (so also the same NaNs, if any), with the largest
    difference in the message when not."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, what
    if actual.tobytes() != expected.tobytes():
        diff = np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)))
        raise AssertionError(f"{what}: not bit-identical (largest difference {diff:.3g})")


def _cuts(m: int, points: list[int]) -> list[tuple[int, int]]:
    """[start, stop) column ranges splitting 0..m at the (sorted, distinct) points."""
    edges = [0, *sorted(set(p for p in points if 0 < p < m)), m]
    return list(zip(edges[:-1], edges[1:]))


# -- 1. vectorized = per-example ----------------------------------------------------------------


@settings(max_examples=150, **_SETTINGS)
@given(net=nets(), layout=st.sampled_from(LAYOUTS))
def test_vectorized_gradients_equal_the_per_example_loop(net, layout):
    """`model.gradients` (11)–(15), (12) dW = (1/m) dZ A_prevᵀ and (13) db = (1/m) Σ dz,
    equals the sums (5)–(6) of the per-example loop (2)–(8) of section 4, divided by m
    (`deepnet.per_example_gradients`, float64 NumPy), for X in any layout. Tolerance, relative
    to the largest gradient: 1e-10 in float64, 1e-4 in float32 (rounding of the float32
    kernels; the reference runs in float64 on the same float32 numbers)."""
    model = net.build()
    X, Y = net.data()
    _, Yhat = _forward64(model, X)
    if net.dtype == "float32":
        # float32 rounding of Z must not move a z across the relu kink...
        assume(_kink_distance(model, X) > 1e-4)
        # ...and no ŷ may reach the float32 clipping of probabilities at ε = 1e-7 (the
        # reference clips at 1e-12): there the two compute different, equally valid, numbers
        if net.loss != "mse":
            assume(1e-5 < Yhat.min() and Yhat.max() < 1 - 1e-5)
    vectorized = model.gradients(_layout(X, layout), Y)
    reference = dn.per_example_gradients(model, X, Y)

    dense = _dense_layers(model)
    # dropout layers have no parameters: their entries are empty
    pairs = [pair for pair in vectorized if len(pair)]
    assert [len(pair) for pair in vectorized] == [len(layer.param_names) for layer in model.layers]
    reference = [pair for pair in reference if len(pair)]
    assert len(pairs) == len(reference) == len(dense)

    scale = max(float(np.abs(g).max()) for pair in reference for g in pair)
    tol = (1e-10 if net.dtype == "float64" else 1e-4) * max(scale, 1e-12)
    for l, ((dW, db), (dW_ref, db_ref), layer) in enumerate(zip(pairs, reference, dense), start=1):
        assert dW.shape == layer.W.shape and db.shape == layer.b.shape == (layer.units, 1)
        assert dW.dtype == db.dtype == np.dtype(net.dtype)
        np.testing.assert_allclose(dW, dW_ref, rtol=0, atol=tol, err_msg=f"dW^[{l}]")
        np.testing.assert_allclose(db, db_ref, rtol=0, atol=tol, err_msg=f"db^[{l}]")


@settings(max_examples=10, **_SETTINGS)
@example(
    net=Net(
        n_x=2,
        dense=((3, "tanh"), (1, "linear")),
        dropout=(0.5,),
        loss="mse",
        dtype="float64",
        m=3,
        seed=0,
    )
)
@given(net=nets(dtypes=("float64",), max_m=5))
def test_per_example_gradients_align_with_model_layers(net):
    """`per_example_gradients` and `model.gradients` both give one entry per layer of
    `model.layers`, empty for a dropout layer (the reference's docstring)."""
    model = net.build()
    X, Y = net.data()
    expected = [len(layer.param_names) for layer in model.layers]
    assert [len(pair) for pair in model.gradients(X, Y)] == expected
    assert [len(pair) for pair in dn.per_example_gradients(model, X, Y)] == expected


# -- 2. gradient check --------------------------------------------------------------------------


@settings(max_examples=60, **_SETTINGS)
@given(net=nets(dtypes=("float64",), max_m=20))
def test_gradient_check_passes_for_random_architectures(net):
    """Backpropagation (11)–(15) agrees with centred finite differences of J over every W and b,
    for any architecture, activation and loss: `gradient_check` < 1e-5 (agreement is about 1e-7
    or less; a wrong factor in one layer gives more than 1e-3, see tests/test_gradcheck.py)."""
    model = net.build()
    X, Y = net.data()
    # the ±1e-6 steps must not cross a relu kink, where J is not differentiable
    assume(_kink_distance(model, X) > 1e-3)
    norm = np.sqrt(sum(float(np.sum(g**2)) for pair in model.gradients(X, Y) for g in pair))
    # at a (nearly) flat point the rounding noise of J, about 1e-16 J / ε per component, is
    # all the numeric gradient has left, and the relative difference measures only that noise
    assume(norm > 1e-4 * max(1.0, model.cost(X, Y)))
    assert dn.gradient_check(model, X, Y) < 1e-5


# -- 3. save / load / pickle --------------------------------------------------------------------


@settings(max_examples=60, **_SETTINGS)
@given(
    net=nets(),
    optimizer=st.sampled_from((None, *OPTIMIZERS)),
    epochs=st.integers(1, 3),
    batch_size=st.sampled_from((None, 1, 7, 32)),
)
def test_save_load_and_pickle_round_trips_are_exact(net, optimizer, epochs, batch_size):
    """`save` → `load` and `pickle.dumps` → `loads` give a model with bit-identical parameters
    and predictions, the same optimizer, and whose next epoch of training (optimizer state,
    shuffling stream, dropout masks) is bit-identical to the original's. Untrained models (no
    optimizer state) and models after a short fit, float32 and float64."""
    model = net.build()
    X, Y = net.data()
    if optimizer is not None:
        model.fit(
            X, Y, epochs=epochs, batch_size=batch_size, optimizer=OPTIMIZERS[optimizer](), verbose=0
        )
        assert model.optimizer is not None
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        model.save(path)
        loaded = dn.load(path)
    pickled = pickle.loads(pickle.dumps(model))

    expected = model.predict(X)
    # not vacuous: predict is the forward pass (9)–(10), here recomputed in NumPy
    tol = 1e-10 if net.dtype == "float64" else 1e-4
    _, Yhat = _forward64(model, X)
    if np.isfinite(Yhat).all():
        np.testing.assert_allclose(expected, Yhat, rtol=tol, atol=tol)
    for name, clone in (("load", loaded), ("pickle", pickled)):
        assert clone is not model and repr(clone) == repr(model)
        assert clone.dtype == model.dtype and clone.optimizer == model.optimizer
        for i, (a, b) in enumerate(zip(clone.get_weights(), model.get_weights())):
            _assert_bits_equal(a, b, f"{name}: parameter {i}")
        _assert_bits_equal(clone.predict(X), expected, f"{name}: predict")

    # training resumes exactly: one more epoch (with the model's own optimizer, or SGD for an
    # untrained one) on each gives the same bits
    for each in (model, loaded, pickled):
        each.fit(X, Y, epochs=1, batch_size=batch_size, verbose=0)
    for name, clone in (("load", loaded), ("pickle", pickled)):
        for i, (a, b) in enumerate(zip(clone.get_weights(), model.get_weights())):
            _assert_bits_equal(a, b, f"{name}: parameter {i} after one more epoch")


# -- 4. predict: chunks and strides -------------------------------------------------------------

# Small cases that broke the bit-identity before the product kernel was made layout-independent
# (src/matmul.rs): two float32 dense layers predicted on one column at a time, and one float32
# unit given a Fortran-ordered X.
_CHUNK_CASE = Net(
    n_x=2,
    dense=((3, "linear"), (1, "linear")),
    dropout=(None,),
    loss="mse",
    dtype="float32",
    m=2,
    seed=1,
)
_LAYOUT_CASE = Net(
    n_x=3, dense=((1, "linear"),), dropout=(), loss="mse", dtype="float32", m=2, seed=0
)


@settings(max_examples=100, **_SETTINGS)
@given(
    net=nets(min_m=2),
    points=st.lists(st.integers(2, 48), max_size=4),
    copies=st.booleans(),
)
def test_predict_in_chunks_of_two_or_more_columns_is_bit_identical(net, points, copies):
    """Predicting on consecutive column slices of X (views, or C-contiguous copies of them) of
    at least 2 columns each and concatenating gives the bits of predicting on all of X: the
    forward pass (9)–(10) treats every column on its own."""
    model = net.build()
    X, _ = net.data()
    expected = model.predict(X)
    # cut points that leave chunks of two columns or more (one column: the next test)
    edges = [0]
    for p in sorted(set(points)):
        if p - edges[-1] >= 2 and net.m - p >= 2:
            edges.append(p)
    parts = [X[:, a:b] for a, b in zip(edges, [*edges[1:], net.m])]
    assert all(part.shape[1] >= 2 for part in parts)
    if copies:
        parts = [np.ascontiguousarray(part) for part in parts]
    chunked = np.concatenate([model.predict(part) for part in parts], axis=1)
    _assert_bits_equal(chunked, expected, f"predict in chunks {edges}")


@settings(max_examples=10, **_SETTINGS)
@example(net=_CHUNK_CASE, points=[1])
@given(net=nets(min_m=2), points=st.lists(st.integers(1, 49), min_size=1, max_size=4))
def test_predict_is_independent_of_how_m_is_chunked(net, points):
    """Predicting on consecutive column slices of X of any width, one column included, and
    concatenating gives the bits of predicting on all of X."""
    model = net.build()
    X, _ = net.data()
    expected = model.predict(X)
    chunked = np.concatenate([model.predict(X[:, a:b]) for a, b in _cuts(net.m, points)], axis=1)
    _assert_bits_equal(chunked, expected, f"predict in chunks at {sorted(set(points))}")


@settings(max_examples=100, **_SETTINGS)
@given(net=nets(min_m=2), layout=st.sampled_from(("cols::2", "rows::2,cols::2", "cols::-1")))
def test_predict_is_independent_of_strides(net, layout):
    """X as a strided view (X[:, ::2] of a wider array, every other row and column of a larger
    one, or a negative stride along the examples) is read in place, without being changed, and
    predicted with the bits of its C-contiguous copy; float64 input to a float32 model gives the
    bits of the same values in float32. m >= 2: a single column is the chunking test above."""
    model = net.build()
    X, _ = net.data()
    expected = model.predict(np.ascontiguousarray(X))
    # not vacuous: predict is the forward pass (9)–(10), here recomputed in NumPy
    _, Yhat = _forward64(model, X)
    tol = 1e-10 if net.dtype == "float64" else 1e-4
    np.testing.assert_allclose(expected, Yhat, rtol=tol, atol=tol)

    strided = _layout(X, layout)
    memory = strided.base
    before = memory.tobytes()
    _assert_bits_equal(model.predict(strided), expected, f"predict of X {layout}")
    # the caller's memory, gaps included, is untouched (bytes: the gaps hold NaNs)
    assert memory.tobytes() == before
    if net.dtype == "float32":
        X64 = X.astype(np.float64)  # exactly X's values, so they convert back to X
        _assert_bits_equal(model.predict(X64), expected, "predict of float64 X")


@settings(max_examples=10, **_SETTINGS)
@example(net=_LAYOUT_CASE, layout="F")
@given(net=nets(), layout=st.sampled_from(("F", "TT", "rows::-1")))
def test_predict_is_independent_of_memory_order(net, layout):
    """X in Fortran order, as the transpose of a C-contiguous copy of Xᵀ, or with its rows
    reversed in memory, is predicted with the bits of its C-contiguous copy."""
    model = net.build()
    X, _ = net.data()
    expected = model.predict(np.ascontiguousarray(X))
    _assert_bits_equal(model.predict(_layout(X, layout)), expected, f"predict of X {layout}")
