"""Section 4 of the lecture: the non-vectorized computation, one example at a time.

Plain NumPy in float64, written for reading, not speed. It shares no code with the compiled
kernels, so comparing the two checks both (tests do, to 1e-10).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from deepnet.model import Sequential

LEAKY_RELU_SLOPE = 0.2
_EPS = 1e-12  # clipping of probabilities before a log, as the float64 kernels do


def g(name: str, z: np.ndarray) -> np.ndarray:
    """g(z) for one example's state vector z, shape (n, 1)."""
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_RELU_SLOPE * z)
    if name == "linear":
        return z.copy()
    if name == "hard_sigmoid":
        return np.clip(z / 6.0 + 0.5, 0.0, 1.0)
    if name == "softmax":
        e = np.exp(z - z.max())
        return e / e.sum()
    raise ValueError(f"unknown activation {name!r}")


def g_jacobian(name: str, z: np.ndarray) -> np.ndarray:
    """dg/dz for one example, as an (n, n) matrix: diagonal except for softmax."""
    a = g(name, z)
    if name == "softmax":
        return np.diagflat(a) - a @ a.T
    if name == "sigmoid":
        d = a * (1 - a)
    elif name == "tanh":
        d = 1 - a**2
    elif name == "relu":
        d = (z > 0).astype(float)
    elif name == "leaky_relu":
        d = np.where(z > 0, 1.0, LEAKY_RELU_SLOPE)
    elif name == "hard_sigmoid":
        d = np.where((z > -3) & (z < 3), 1.0 / 6.0, 0.0)
    else:
        d = np.ones_like(z)
    return np.diagflat(d)


def loss_derivative(loss: str, y_hat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(8) da^[L](i) = ∂L/∂ŷ^(i) for one example, shape (n_y, 1)."""
    if loss == "mse":
        return 2.0 * (y_hat - y) / y.shape[0]
    p = np.clip(y_hat, _EPS, 1 - _EPS)
    if loss == "binary_crossentropy":
        return -y / p + (1 - y) / (1 - p)
    if loss == "categorical_crossentropy":
        return -y / p
    raise ValueError(f"unknown loss {loss!r}")


def per_example_gradients(
    model: Sequential, X: np.ndarray, Y: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """dW^[l], db^[l] by the per-example loop of eqs (2)–(8), divided by m at the end.

    For each example i: forward (2)–(3) through every layer, then from (8) backward:
    (4) dz = g′ applied to da, (5) dW += dz a_prevᵀ, (6) db += dz, (7) da_prev = Wᵀ dz.
    The sums are divided by m because J is the mean of the per-example losses, which makes
    the result equal to the vectorized (12)–(13).

    Parameters
    ----------
    model : Sequential
        A built model of dense layers (its parameters are read, never changed).
    X : array-like of shape (n_x, m)
    Y : array-like of shape (n_y, m), or integer class labels of shape (m,)
        Whatever `Sequential.fit` accepts, checked and converted by the model itself (same
        messages), then computed on in float64: the numbers the model's kernels read.

    Returns
    -------
    list of (dW, db) in float64, one per layer, aligned with `model.layers` (``(dW,)`` for a
    layer without bias; an empty tuple for a dropout layer, which has no parameters and is the
    identity outside training)
    """
    python = [l for l, layer in enumerate(model.layers, 1) if layer._python]
    if python:
        raise TypeError(
            f"per_example_gradients follows dense and dropout layers; layer {python[0]} is "
            "written in Python (check it with gradient_check instead)"
        )
    # what the model accepts (integer labels too), with the model's messages
    X, Y = (a.astype(np.float64) for a in model._xy(X, Y))
    # dropout is the identity outside training, as in model.gradients
    dense = [layer for layer in model.layers if layer.param_names]
    # a layer without bias (use_bias=False) adds b = 0 and has no db to return
    params = [
        (
            layer.W.astype(np.float64),
            layer.b.astype(np.float64)
            if "b" in layer.param_names
            else np.zeros((layer.W.shape[0], 1)),
        )
        for layer in dense
    ]
    acts = [layer.activation for layer in dense]
    grads = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    m = X.shape[1]
    for i in range(m):
        a = [X[:, i : i + 1]]  # a^[0](i) = x^(i)
        z = []
        for (W, b), act in zip(params, acts):
            z.append(W @ a[-1] + b)  # (2)
            a.append(g(act, z[-1]))  # (3)
        da = loss_derivative(model.loss, a[-1], Y[:, i : i + 1])  # (8)
        for l in reversed(range(len(params))):
            dz = g_jacobian(acts[l], z[l]).T @ da  # (4), element-wise unless softmax
            grads[l][0][...] += dz @ a[l].T  # (5)
            grads[l][1][...] += dz  # (6)
            if l > 0:
                da = params[l][0].T @ dz  # (7), not for the first layer
    # the L2 penalty (λ/2)‖W‖² adds λ W to (12); it does not depend on the examples
    per_dense = iter(
        (dW / m + layer.l2 * W, db / m) if "b" in layer.param_names else (dW / m + layer.l2 * W,)
        for (dW, db), (W, _), layer in zip(grads, params, dense)
    )
    return [next(per_dense) if layer.param_names else () for layer in model.layers]
