"""The compiled kernels, one call per equation, for writing the loop of section 7 by hand.

These are the functions `Sequential.fit` runs; here each allocates and returns its outputs.
Arrays are (features, m) with one column per example. The dtype of the first array (float32 or
float64) decides what the kernel computes in; the other arrays are converted to it.

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

from typing import Any

import numpy as np

from deepnet import _core
from deepnet._validation import as_float_array, check_name, check_positive_float

ACTIVATIONS: tuple[str, ...] = tuple(_core.ACTIVATIONS)
LOSSES: tuple[str, ...] = tuple(_core.LOSSES)


def _dtype_of(value: Any) -> str:
    dtype = np.asarray(value).dtype
    return dtype.name if dtype.name in ("float32", "float64") else "float64"


def _arrays(dtype: str, **arrays: Any) -> list[np.ndarray]:
    return [as_float_array(v, name, dtype, 2) for name, v in arrays.items()]


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
    dtype = _dtype_of(W)
    return _core.dense_forward(*_arrays(dtype, W=W, b=b, A_prev=A_prev), activation)


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(11) dZ = dA * g′(Z), (12) dW = (1/m) dZ·A_prevᵀ, (13) db = (1/m) Σ_i dz^(i),
    (14) dA_prev = Wᵀ·dZ.

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

    Returns
    -------
    dW : ndarray of shape (n, n_prev)
    db : ndarray of shape (n, 1)
    dA_prev : ndarray of shape (n_prev, m), or None when `first_layer`
    """
    check_name(activation, "activation", ACTIVATIONS)
    dtype = _dtype_of(W)
    dA, Z, A, A_prev, W = _arrays(dtype, dA=dA, Z=Z, A=A, A_prev=A_prev, W=W)
    return _core.dense_backward(
        dA, Z, A, A_prev, W, activation, bool(upstream_is_dz), bool(first_layer)
    )


def activation(Z: Any, name: str) -> np.ndarray:
    """(10) A = g(Z), element by element (softmax: per column)."""
    check_name(name, "activation", ACTIVATIONS)
    return _core.activate(*_arrays(_dtype_of(Z), Z=Z), name, False)


def activation_derivative(Z: Any, name: str) -> np.ndarray:
    """g′(Z) element by element, the factor of (11). Not defined for softmax (full Jacobian)."""
    check_name(name, "activation", ACTIVATIONS)
    return _core.activate(*_arrays(_dtype_of(Z), Z=Z), name, True)


def cost(Y_hat: Any, Y: Any, loss: str) -> float:
    """The cost J = (1/m) Σ_i L(ŷ^(i), y^(i)) for Ŷ and Y of shape (n_y, m)."""
    check_name(loss, "loss", LOSSES)
    return _core.loss_and_gradient(*_arrays(_dtype_of(Y_hat), Y_hat=Y_hat, Y=Y), loss)[0]


def loss_gradient(Y_hat: Any, Y: Any, loss: str) -> np.ndarray:
    """(15) dA^[L]: column i is ∂L(ŷ^(i), y^(i))/∂ŷ^(i), the per-example derivative (8).

    The 1/m of J's mean is applied later, in (12)–(13).
    """
    check_name(loss, "loss", LOSSES)
    return _core.loss_and_gradient(*_arrays(_dtype_of(Y_hat), Y_hat=Y_hat, Y=Y), loss)[1]


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
            "cannot be updated in place; a layer's W and b are read-only copies: update a copy, "
            "then assign it back with layer.W = W"
        )
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    if isinstance(grad, np.ndarray) and _overlap(param, grad):
        raise ValueError(
            "grad: the array shares memory with param, so updating param would change grad "
            "while it is read: pass a copy (grad.copy())"
        )
    grad = as_float_array(grad, "grad", param.dtype.name, param.ndim)
    if grad.shape != param.shape:
        raise ValueError(f"grad: expected shape {param.shape} (that of param), got {grad.shape}")
    _core.sgd_step(param, grad, learning_rate)
