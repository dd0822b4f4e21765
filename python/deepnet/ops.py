"""The compiled kernels, one call per equation, for writing the loop of section 7 by hand.

These are the functions `Sequential.fit` runs; here each allocates and returns its outputs.
Arrays are (features, m) with one column per example. The dtype of the first array (float32 or
float64) decides what the kernel computes in; the other arrays are converted to it. A shape
that is wrong by exactly a transpose (X.T for X, W.T for W) is named as such in the error.

Conventions
-----------
The same for these kernels, `Sequential` and `deepnet.gradient_check`. A line marked
"lecture:" says where the lecture leaves the choice open or differs.

- Cost: J = (1/m) Σ_i L(ŷ^(i), y^(i)), the mean over the m examples, with the per-example
  loss L of each loss (k runs over the n_y outputs):

  ========================  ==========================================  ==================
  loss                      L(ŷ, y)                                     ∂L/∂ŷ, (8)
  ========================  ==========================================  ==================
  binary_crossentropy       −Σ_k [y_k log ŷ_k + (1 − y_k) log(1 − ŷ_k)]  (ŷ − y)/(ŷ(1 − ŷ))
  categorical_crossentropy  −Σ_k y_k log ŷ_k                            −y/ŷ
  mse                       (1/n_y) Σ_k (ŷ_k − y_k)²                    2(ŷ − y)/n_y
  ========================  ==========================================  ==================

  lecture: it defines no particular loss; binary cross-entropy sums over the outputs (Keras'
  averages them), mse averages over them (as Keras and scikit-learn report it).
  `cost` clips probabilities to [ε, 1 − ε] before the log (ε = 1e-7 in float32, 1e-12 in
  float64) and has no L2 penalty; `Sequential.cost` adds the penalty and, for sigmoid with
  binary and softmax with categorical cross-entropy, computes J from Z^[L] without clipping.
- `loss_gradient` returns, in column i, the per-example ∂L(ŷ^(i), y^(i))/∂ŷ^(i) of (8):
  that is m·∂J/∂Ŷ, not ∂J/∂Ŷ. The 1/m of J's mean is applied once, in (12)–(13)
  (`dense_backward`). lecture: (15) writes dA^[L] = ∂J/∂Ŷ; with (12)–(13) dividing by m it
  can only mean this per-example derivative, which deepnet makes explicit.
- g′ at the kinks: relu′(0) = 0 and leaky_relu′(0) = 0.2, the slope (g′(z) tests z > 0);
  leaky_relu(z) = 0.2 z for z ≤ 0. lecture: says nothing about kinks (this is PyTorch's
  and TensorFlow's choice). softmax has no element-wise g′ (its Jacobian is full).
- L2 (``Dense(..., l2=λ)``, also on convolution and recurrent weights, never on b): J gains
  (λ/2)‖W‖² per layer and (12) gains λW, independent of m and of the batch size (weight
  decay, PyTorch's convention). lecture: it has no regularization; the (λ/(2m))‖W‖² of many
  course notes is deepnet's λ = λ_course / m.
- J of an epoch (`History.cost`): see `Sequential.fit`; `deepnet.gradient_check`'s
  threshold: see its docstring.

Examples
--------
Section 7 written out for XOR with a 2-4-1 network:

>>> import numpy as np
>>> from deepnet import ops
>>> rng = np.random.default_rng(0)
>>> X = np.array([[0., 0., 1., 1.], [0., 1., 0., 1.]]); Y = np.array([[0., 1., 1., 0.]])
>>> W1, b1 = rng.normal(size=(4, 2)), np.zeros((4, 1))        # 1. initialize
>>> W2, b2 = rng.normal(size=(1, 4)), np.zeros((1, 1))
>>> for epoch in range(3000):
...     Z1, A1 = ops.dense_forward(W1, b1, X, "tanh")          # 2. forward, (9)-(10)
...     Z2, A2 = ops.dense_forward(W2, b2, A1, "sigmoid")
...     J = ops.cost(A2, Y, "binary_crossentropy")              # 3. cost
...     dW2, db2, dA1 = ops.dense_backward(A2 - Y, Z2, A2, A1, W2, "sigmoid", upstream_is_dz=True)
...     dW1, db1, _ = ops.dense_backward(dA1, Z1, A1, X, W1, "tanh", first_layer=True)
...     for p, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
...         ops.update(p, g, learning_rate=0.5)                 # 5. update, (16)-(17)
>>> bool(J < 0.05), (A2 > 0.5).astype(int).tolist()
(True, [[0, 1, 1, 0]])
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from deepnet import _core
from deepnet._validation import (
    as_float_array,
    check_name,
    check_positive_float,
    check_positive_int,
)

ACTIVATIONS: tuple[str, ...] = tuple(_core.ACTIVATIONS)
LOSSES: tuple[str, ...] = tuple(_core.LOSSES)


def _dtype_of(value: Any) -> str:
    dtype = np.asarray(value).dtype
    return dtype.name if dtype.name in ("float32", "float64") else "float64"


def _arrays(dtype: str, **arrays: Any) -> list[np.ndarray]:
    return [as_float_array(v, name, dtype, 2) for name, v in arrays.items()]


_DENSE_SHAPES = (
    "W is (n^[l], n^[l-1]), b (n^[l], 1), and A_prev, dA, Z and A have one column per "
    "example: A_prev (n^[l-1], m), the others (n^[l], m)"
)


def _not_transposed(name: str, arr: np.ndarray, expected: tuple[int, ...], shapes: str) -> None:
    """The kernel's shape error plus a hint when `arr` has exactly the transpose of the
    `expected` shape (any other mismatch is left to the kernel's own message)."""
    if arr.shape != expected and arr.shape == expected[::-1]:
        raise ValueError(
            f"{name}: expected shape {list(expected)}, got {list(arr.shape)}: did you pass "
            f"{name} transposed? {shapes}"
        )


def _check_dense(W: np.ndarray, b: np.ndarray | None, A_prev: np.ndarray) -> int:
    """The dense shapes that are wrong by exactly a transpose, with a hint; returns m."""
    n, n_prev = W.shape
    rows, cols = A_prev.shape
    if rows != n_prev and cols == n_prev:
        raise ValueError(
            f"A_prev: expected {n_prev} rows (the columns of W, n^[l-1]), got shape "
            f"{list(A_prev.shape)}: did you pass X (or A_prev) transposed? {_DENSE_SHAPES}"
        )
    if rows != n_prev and rows == n:
        raise ValueError(
            f"W: expected {rows} columns (the rows of A_prev, n^[l-1]), got shape "
            f"{list(W.shape)}: did you pass W transposed? {_DENSE_SHAPES}"
        )
    if b is not None:
        _not_transposed("b", b, (n, 1), _DENSE_SHAPES)
    return cols


def dense_forward(W: Any, b: Any, A_prev: Any, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """(9) Z = W·A_prev + b and (10) A = g(Z).

    Parameters
    ----------
    W : array of shape (n, n_prev)
    b : array of shape (n, 1)
    A_prev : array of shape (n_prev, m)
    activation : str

    Returns
    -------
    Z, A : ndarrays of shape (n, m)
    """
    check_name(activation, "activation", ACTIVATIONS)
    W, b, A_prev = _arrays(_dtype_of(W), W=W, b=b, A_prev=A_prev)
    _check_dense(W, b, A_prev)
    return _core.dense_forward(W, b, A_prev, activation)


def dense_backward(
    dA: Any,
    Z: Any,
    A: Any,
    A_prev: Any,
    W: Any,
    activation: str,
    *,
    upstream_is_dz: bool = False,
    first_layer: bool = False,
    m: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(11) dZ = dA * g′(Z), (12) dW = (1/m) dZ·A_prevᵀ, (13) db = (1/m) Σ_i dz^(i),
    (14) dA_prev = Wᵀ·dZ.

    The 1/m of (12)–(13) is here, because J is the mean over the m examples: dA is the
    per-example ∂L/∂a (what `loss_gradient` returns), not ∂J/∂A. m is the number of columns
    of A_prev unless given: pass it when the columns are not the examples (e.g. an im2col
    matrix of positions × examples, where J is still a mean over m).

    Parameters
    ----------
    dA : array of shape (n, m)
        dA^[l]; or dZ^[l] itself when `upstream_is_dz` (e.g. Ŷ − Y for sigmoid with binary or
        softmax with categorical cross-entropy), in which case (11) is skipped.
    Z, A : arrays of shape (n, m)
        The layer's cache from `dense_forward`.
    A_prev : array of shape (n_prev, m)
    W : array of shape (n, n_prev)
    activation : str
    first_layer : bool, default False
        Skip (14), as the lecture does for layer 1.
    m : int, optional
        What (12)–(13) divide by; default the number of columns of A_prev.

    Returns
    -------
    dW : ndarray of shape (n, n_prev)
    db : ndarray of shape (n, 1)
    dA_prev : ndarray of shape (n_prev, m), or None when `first_layer`
    """
    check_name(activation, "activation", ACTIVATIONS)
    dtype = _dtype_of(W)
    dA, Z, A, A_prev, W = _arrays(dtype, dA=dA, Z=Z, A=A, A_prev=A_prev, W=W)
    m_cols = _check_dense(W, None, A_prev)
    upstream = "dZ" if upstream_is_dz else "dA"
    for name, arr in ((upstream, dA), ("Z", Z), ("A", A)):
        _not_transposed(name, arr, (W.shape[0], m_cols), _DENSE_SHAPES)
    if m is not None:
        m = check_positive_int(m, "m")
    return _core.dense_backward(
        dA, Z, A, A_prev, W, activation, bool(upstream_is_dz), bool(first_layer), m
    )


def activation(Z: Any, name: str) -> np.ndarray:
    """(10) A = g(Z), element by element (softmax: per column)."""
    check_name(name, "activation", ACTIVATIONS)
    return _core.activate(*_arrays(_dtype_of(Z), Z=Z), name, False)


def activation_derivative(Z: Any, name: str) -> np.ndarray:
    """g′(Z) element by element, the factor of (11). Not defined for softmax (full Jacobian).

    At the kink z = 0: relu′(0) = 0 and leaky_relu′(0) = 0.2 (the slope).
    """
    check_name(name, "activation", ACTIVATIONS)
    return _core.activate(*_arrays(_dtype_of(Z), Z=Z), name, True)


def _loss_arrays(Y_hat: Any, Y: Any) -> list[np.ndarray]:
    Y_hat, Y = _arrays(_dtype_of(Y_hat), Y_hat=Y_hat, Y=Y)
    _not_transposed("Y", Y, Y_hat.shape, "Ŷ and Y are (n_y, m), one column per example")
    return [Y_hat, Y]


def cost(Y_hat: Any, Y: Any, loss: str) -> float:
    """The cost J = (1/m) Σ_i L(ŷ^(i), y^(i)) for Ŷ and Y of shape (n_y, m), without any L2
    penalty. L sums over the n_y outputs for the cross-entropies and averages over them for
    mse (the module docstring has each L)."""
    check_name(loss, "loss", LOSSES)
    return _core.loss_and_gradient(*_loss_arrays(Y_hat, Y), loss)[0]


def loss_gradient(Y_hat: Any, Y: Any, loss: str) -> np.ndarray:
    """(15) dA^[L]: column i is ∂L(ŷ^(i), y^(i))/∂ŷ^(i), the per-example derivative (8).

    That is m·∂J/∂Ŷ, not ∂J/∂Ŷ: the 1/m of J's mean is applied later, once, in (12)–(13)
    (`dense_backward`). For mse, 2(ŷ − y)/n_y; binary cross-entropy (ŷ − y)/(ŷ(1 − ŷ));
    categorical −y/ŷ (probabilities clipped as in `cost`).
    """
    check_name(loss, "loss", LOSSES)
    return _core.loss_and_gradient(*_loss_arrays(Y_hat, Y), loss)[1]


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays share memory (exactly, unless that is too costly to decide)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=100_000))
    except Exception:  # numpy's TooHardError: assume the worst
        return True


def update(param: np.ndarray, grad: Any, learning_rate: float) -> None:
    """(16)–(17) in place: ``param -= learning_rate * grad``.

    `param` must be a writeable float32 or float64 numpy array; it is modified, which is the
    point of this function. `grad` must have its shape.
    """
    if not isinstance(param, np.ndarray) or param.dtype.name not in ("float32", "float64"):
        raise TypeError(
            "param: expected a writeable numpy array of float32 or float64, got "
            f"{type(param).__name__}"
            + (f" of dtype {param.dtype}" if isinstance(param, np.ndarray) else "")
        )
    if not param.flags.writeable:
        raise TypeError(
            "param: expected a writeable numpy array, got a read-only one (not writeable), which "
            "cannot be updated in place. If it is a layer's parameter: layer.W (and layer.b) "
            "returns a read-only copy, so updating it could not change the layer; to train by "
            "hand, copy it (W = layer.W.copy()), update the copy, then assign layer.W = W"
        )
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    if isinstance(grad, np.ndarray) and _overlap(param, grad):
        raise ValueError(
            "grad: the array shares memory with param, so updating param would change grad "
            "while it is read: pass a copy (grad.copy())"
        )
    grad = as_float_array(grad, "grad", param.dtype.name, param.ndim)
    if grad.shape != param.shape:
        hint = ": did you pass grad transposed?" if grad.shape == param.shape[::-1] else ""
        raise ValueError(
            f"grad: expected shape {param.shape} (that of param), got {grad.shape}{hint}"
        )
    _core.sgd_step(param, grad, learning_rate)


# -- convolution, pooling and one recurrent step: the layers' own kernels -----------------------


def _layer_arrays(dtype: str, ndim: int, **arrays: Any) -> list[np.ndarray]:
    return [as_float_array(v, name, dtype, ndim) for name, v in arrays.items()]


def _conv(W: np.ndarray, strides: Any, padding: Any, dilation_rate: Any, activation: str) -> Any:
    from deepnet.layers import Conv1D, Conv2D

    if W.ndim not in (3, 4):
        raise ValueError(
            "W: expected (filters, channels, k) for a 1-D or (filters, channels, kh, kw) for a "
            f"2-D convolution, got shape {W.shape}"
        )
    cls = Conv1D if W.ndim == 3 else Conv2D
    kernel = W.shape[2] if W.ndim == 3 else list(W.shape[2:])
    return cls(W.shape[0], kernel, strides, padding, dilation_rate, activation)


def conv_forward(
    W: Any,
    b: Any,
    A_prev: Any,
    activation: str = "linear",
    strides: Any = 1,
    padding: Any = "valid",
    dilation_rate: Any = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """A convolutional layer's forward pass: (9) Z = W ⋆ A_prev + b (cross-correlation, over
    every output position and example), (10) A = g(Z). The kernel `Conv1D`/`Conv2D` run.

    Parameters
    ----------
    W : array of shape (filters, channels, k) or (filters, channels, kh, kw)
        Its number of axes says whether the convolution is 1-D or 2-D.
    b : array of shape (filters, 1)
    A_prev : array of shape (channels, length, m) or (channels, height, width, m)
    activation, strides, padding, dilation_rate
        As `deepnet.Conv1D` / `deepnet.Conv2D` take them.

    Returns
    -------
    Z, A : ndarrays of shape (filters, L_out, m) or (filters, H_out, W_out, m)
    """
    dtype = _dtype_of(W)
    W = as_float_array(W, "W", dtype, np.asarray(W).ndim)
    layer = _conv(W, strides, padding, dilation_rate, activation)
    (b,) = _arrays(dtype, b=b)
    (A_prev,) = _layer_arrays(dtype, W.ndim, A_prev=A_prev)
    A, Z = _core.layer_forward(json.dumps(layer.spec()), [W, b], A_prev)
    return Z, A


def conv_backward(
    dA: Any,
    A_prev: Any,
    W: Any,
    b: Any,
    activation: str = "linear",
    strides: Any = 1,
    padding: Any = "valid",
    dilation_rate: Any = 1,
    *,
    upstream_is_dz: bool = False,
    first_layer: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A convolutional layer's backward pass: (11) dZ = dA ⊙ g′(Z) (skipped when
    `upstream_is_dz`), (12) dW = (1/m) Σ over positions and examples of dZ times the input
    window, (13) db = (1/m) Σ dZ, (14) dA_prev = the transposed convolution of dZ with W
    (skipped for the first layer). The forward pass is recomputed from A_prev, W and b (for
    g′(Z)), so this is exactly what `fit` runs.

    Returns
    -------
    dW : ndarray of W's shape
    db : ndarray of shape (filters, 1)
    dA_prev : ndarray of A_prev's shape, or None when `first_layer`
    """
    dtype = _dtype_of(W)
    W = as_float_array(W, "W", dtype, np.asarray(W).ndim)
    layer = _conv(W, strides, padding, dilation_rate, activation)
    (A_prev,) = _layer_arrays(dtype, W.ndim, A_prev=A_prev)
    (dA,) = _layer_arrays(dtype, W.ndim, dA=dA)
    (b,) = _arrays(dtype, b=b)
    grads, da_prev = _core.layer_backward(
        json.dumps(layer.spec()),
        [W, b],
        A_prev,
        dA,
        bool(upstream_is_dz),
        not first_layer,
    )
    return grads[0], grads[1], da_prev


POOLS = ("max", "average", "global_max", "global_average")


def _pool(kind: str, dims: int, pool_size: Any, strides: Any, padding: str) -> Any:
    from deepnet import layers

    check_name(kind, "kind", POOLS)
    name = {
        "max": "MaxPooling",
        "average": "AveragePooling",
        "global_max": "GlobalMaxPooling",
        "global_average": "GlobalAveragePooling",
    }[kind] + f"{dims}D"
    cls = getattr(layers, name)
    return cls() if kind.startswith("global") else cls(pool_size, strides, padding)


def pool_forward(
    A_prev: Any,
    kind: str = "max",
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
) -> np.ndarray:
    """A pooling layer's forward pass over (channels, length, m) or (channels, height, width,
    m): the max or the mean of each window (`kind` "max" or "average"), or of all positions
    ("global_max", "global_average": output (channels, m)). Arguments as
    `deepnet.MaxPooling1D` etc. take them."""
    arr = np.asarray(A_prev)
    if arr.ndim not in (3, 4):
        raise ValueError(
            "A_prev: expected (channels, length, m) or (channels, height, width, m), got "
            f"shape {arr.shape}"
        )
    (A_prev,) = _layer_arrays(_dtype_of(A_prev), arr.ndim, A_prev=A_prev)
    layer = _pool(kind, arr.ndim - 2, pool_size, strides, padding)
    return _core.layer_forward(json.dumps(layer.spec()), [], A_prev)[0]


def pool_backward(
    dA: Any,
    A_prev: Any,
    kind: str = "max",
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
) -> np.ndarray:
    """A pooling layer's backward pass: dA_prev. Max pooling routes each dA to the position
    that was the maximum of its window (summed where windows overlap); average pooling spreads
    it evenly over the window's real positions. The forward pass is recomputed from A_prev."""
    arr = np.asarray(A_prev)
    if arr.ndim not in (3, 4):
        raise ValueError(
            "A_prev: expected (channels, length, m) or (channels, height, width, m), got "
            f"shape {arr.shape}"
        )
    dtype = _dtype_of(A_prev)
    (A_prev,) = _layer_arrays(dtype, arr.ndim, A_prev=A_prev)
    layer = _pool(kind, arr.ndim - 2, pool_size, strides, padding)
    dA = as_float_array(dA, "dA", dtype, np.asarray(dA).ndim)
    return _core.layer_backward(json.dumps(layer.spec()), [], A_prev, dA)[1]


CELLS = ("simple_rnn", "gru", "lstm")


def _check_step_x(x: np.ndarray, Wx: np.ndarray) -> None:
    n_x = Wx.shape[1]
    if x.shape[0] != n_x and x.shape[1] == n_x:
        raise ValueError(
            f"x: expected {n_x} rows (the columns of Wx, n_x), got shape {list(x.shape)}: did "
            "you pass x transposed? Wx is (g·units, n_x) and x_t (n_x, m), one column per example"
        )


def recurrent_step(
    cell: str,
    x: Any,
    h_prev: Any,
    Wx: Any,
    Wh: Any,
    bx: Any,
    bh: Any,
    c_prev: Any = None,
    activation: str = "tanh",
) -> dict[str, np.ndarray]:
    """One time step of a recurrent cell, forward (the kernel `SimpleRNN`, `GRU` and `LSTM`
    run once per step; gate order and equations PyTorch's, see those classes).

    Parameters
    ----------
    cell : {"simple_rnn", "gru", "lstm"}
    x : array of shape (n_x, m)
        x_t, one column per example.
    h_prev : array of shape (units, m), or None for h_0 = 0
    Wx, Wh, bx, bh : arrays of shapes (g·units, n_x), (g·units, units), (g·units, 1) ×2
    c_prev : array of shape (units, m), optional
        The LSTM's cell state (None: c_0 = 0).
    activation : str, default "tanh"
        The simple cell's g.

    Returns
    -------
    dict
        "h" (units, m); "c" (units, m) for an LSTM, else (0, m); "gates" (g·units, m) and
        "aux": the cache `recurrent_step_backward` takes.
    """
    check_name(cell, "cell", CELLS)
    dtype = _dtype_of(x)
    x, Wx, Wh, bx, bh = _arrays(dtype, x=x, Wx=Wx, Wh=Wh, bx=bx, bh=bh)
    _check_step_x(x, Wx)
    h_prev = None if h_prev is None else _arrays(dtype, h_prev=h_prev)[0]
    c_prev = None if c_prev is None else _arrays(dtype, c_prev=c_prev)[0]
    return dict(_core.recurrent_step(cell, x, h_prev, c_prev, Wx, Wh, bx, bh, activation))


def recurrent_step_backward(
    cell: str,
    dh: Any,
    step: dict[str, np.ndarray],
    x: Any,
    h_prev: Any,
    Wx: Any,
    Wh: Any,
    bx: Any,
    bh: Any,
    c_prev: Any = None,
    dc: Any = None,
    activation: str = "tanh",
) -> dict[str, np.ndarray]:
    """One time step of a recurrent cell, backward (BPTT): from dJ/dh_t (and dJ/dc_t for an
    LSTM), (11) through the gates, then (12)–(13) for this step's share of dWx, dWh, dbx, dbh
    (with their 1/m) and (14) for dx_t, dh_{t−1} and dc_{t−1}.

    Parameters
    ----------
    dh : array of shape (units, m)
        All of dJ/dh_t: this step's dA plus what step t+1 sent back.
    step : dict
        What `recurrent_step` returned for this step.
    x, h_prev, Wx, Wh, bx, bh, c_prev, activation
        As given to `recurrent_step`.
    dc : array of shape (units, m), optional
        dJ/dc_t (LSTM; None: zero, as at the last step).

    Returns
    -------
    dict with "dWx", "dWh", "dbx", "dbh", "dx", "dh_prev", "dc_prev"
    """
    check_name(cell, "cell", CELLS)
    dtype = _dtype_of(x)
    x, Wx, Wh, bx, bh, dh = _arrays(dtype, x=x, Wx=Wx, Wh=Wh, bx=bx, bh=bh, dh=dh)
    _check_step_x(x, Wx)
    h_prev = None if h_prev is None else _arrays(dtype, h_prev=h_prev)[0]
    c_prev = None if c_prev is None else _arrays(dtype, c_prev=c_prev)[0]
    dc = None if dc is None else _arrays(dtype, dc=dc)[0]
    cache = {k: np.asarray(v, dtype=dtype) for k, v in step.items()}
    return dict(
        _core.recurrent_step_backward(
            cell, x, h_prev, c_prev, Wx, Wh, bx, bh, cache, dh, dc, activation
        )
    )
