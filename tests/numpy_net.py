"""An independent NumPy implementation of the lecture's vectorized equations (9)–(17).

It shares no code with deepnet (neither the Rust kernels nor `deepnet.reference`), so the
tests compare deepnet against it. Everything is float64. Equation numbers are those of
/work/shared/lecture/NOTATION.md.
"""

from __future__ import annotations

import deepnet as dn
import numpy as np

#: Slope of leaky_relu for z <= 0 (deepnet's documented constant).
LEAKY_SLOPE = 0.2

#: (loss, output activation) pairs a model accepts: cross-entropies need outputs in (0, 1).
LOSS_OUTPUTS = [("mse", act) for act in dn.ACTIVATIONS] + [
    (loss, act)
    for loss in ("binary_crossentropy", "categorical_crossentropy")
    for act in ("sigmoid", "softmax")
]


def g(name: str, Z: np.ndarray) -> np.ndarray:
    """(10) A = g(Z), element by element; softmax per column."""
    Z = np.asarray(Z, dtype=np.float64)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-Z))
    if name == "tanh":
        return np.tanh(Z)
    if name == "relu":
        return np.where(Z > 0, Z, 0.0)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, LEAKY_SLOPE * Z)
    if name == "linear":
        return Z.copy()
    if name == "hard_sigmoid":
        return np.clip(Z / 6.0 + 0.5, 0.0, 1.0)
    if name == "softmax":
        E = np.exp(Z - Z.max(axis=0, keepdims=True))
        return E / E.sum(axis=0, keepdims=True)
    raise AssertionError(name)


def g_prime(name: str, Z: np.ndarray) -> np.ndarray:
    """g'(Z) element by element, the factor of (11) (not for softmax)."""
    Z = np.asarray(Z, dtype=np.float64)
    if name == "sigmoid":
        s = g("sigmoid", Z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(Z) ** 2
    if name == "relu":
        return (Z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(Z > 0, 1.0, LEAKY_SLOPE)
    if name == "linear":
        return np.ones_like(Z)
    if name == "hard_sigmoid":
        return np.where((Z > -3) & (Z < 3), 1.0 / 6.0, 0.0)
    raise AssertionError(name)


def dz_from_da(name: str, dA: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """(11) dZ = dA * g'(Z); for softmax, column i is J(z^(i))ᵀ da^(i) with the full Jacobian
    J = diag(a) − a aᵀ."""
    if name != "softmax":
        return dA * g_prime(name, Z)
    A = g("softmax", Z)
    # J is symmetric: (diag(a) - a a^T) da = a * da - a (a . da)
    return A * dA - A * np.sum(A * dA, axis=0, keepdims=True)


def cost(loss: str, Yhat: np.ndarray, Y: np.ndarray) -> float:
    """J = (1/m) Σ_i L(ŷ^(i), y^(i)); mse's L is the mean of the n_y squared errors."""
    m = Y.shape[1]
    if loss == "mse":
        return float(np.sum((Yhat - Y) ** 2) / (Y.shape[0] * m))
    if loss == "binary_crossentropy":
        return float(-np.sum(Y * np.log(Yhat) + (1 - Y) * np.log(1 - Yhat)) / m)
    if loss == "categorical_crossentropy":
        return float(-np.sum(Y * np.log(Yhat)) / m)
    raise AssertionError(loss)


def loss_gradient(loss: str, Yhat: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(15) dA^[L]: column i is ∂L(ŷ^(i), y^(i))/∂ŷ^(i), i.e. (8) for every example."""
    if loss == "mse":
        return 2 * (Yhat - Y) / Y.shape[0]
    if loss == "binary_crossentropy":
        return -Y / Yhat + (1 - Y) / (1 - Yhat)
    if loss == "categorical_crossentropy":
        return -Y / Yhat
    raise AssertionError(loss)


def params_of(model: dn.Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
    """Float64 copies of every layer's (W, b)."""
    return [
        (np.array(layer.W, np.float64), np.array(layer.b, np.float64)) for layer in model.layers
    ]


def activations_of(model: dn.Sequential) -> list[str]:
    return [layer.activation for layer in model.layers]


def forward(params, acts, X):
    """(9) Z = W A_prev + b, (10) A = g(Z) through every layer; returns Zs and As (As[0] = X)."""
    As = [np.asarray(X, dtype=np.float64)]
    Zs = []
    for (W, b), act in zip(params, acts):
        Zs.append(W @ As[-1] + b)
        As.append(g(act, Zs[-1]))
    return Zs, As


def gradients(params, acts, loss, X, Y):
    """(11)–(15) by the plain chain rule (no Ŷ − Y shortcut); returns [(dW, db), ...]."""
    Zs, As = forward(params, acts, X)
    m = X.shape[1]
    dA = loss_gradient(loss, As[-1], Y)  # (15)
    grads = [None] * len(params)
    for l in reversed(range(len(params))):
        dZ = dz_from_da(acts[l], dA, Zs[l])  # (11)
        grads[l] = (dZ @ As[l].T / m, dZ.sum(axis=1, keepdims=True) / m)  # (12), (13)
        dA = params[l][0].T @ dZ  # (14)
    return grads


def targets(loss: str, n_y: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Y of shape (n_y, m) valid for `loss`: one-hot columns, 0/1 labels or real values."""
    if loss == "categorical_crossentropy":
        Y = np.zeros((n_y, m))
        Y[rng.integers(0, n_y, m), np.arange(m)] = 1.0
        return Y
    if loss == "binary_crossentropy":
        return (rng.random((n_y, m)) < 0.5).astype(np.float64)
    return rng.normal(size=(n_y, m))


def build(sizes, hidden, output, loss, seed=0, dtype="float64", rng=None):
    """A model n_x = sizes[0] → ... → sizes[-1] with `hidden` activations and `output` last.

    With `rng`, the biases are set to small positive random values, so that no ReLU state sits
    exactly on its kink at 0 (a layer whose inputs are all 0 would otherwise give Z = b = 0), and
    fewer ReLU units are dead.
    """
    layers = [dn.Dense(n, activation=hidden) for n in sizes[1:-1]]
    layers.append(dn.Dense(sizes[-1], activation=output))
    model = dn.Sequential(layers, n_x=sizes[0], loss=loss, seed=seed, dtype=dtype)
    if rng is not None:
        for layer in model.layers:
            layer.b = rng.uniform(0.05, 0.3, size=layer.b.shape)
    return model


def max_abs_diff(grads_a, grads_b) -> float:
    """Largest absolute difference over all (dW, db) pairs."""
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
        for pa, pb in zip(grads_a, grads_b)
        for x, y in zip(pa, pb)
    )
