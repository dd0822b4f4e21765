"""Gradient checking: centred finite differences against `Sequential.gradients`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from deepnet.model import Sequential


def gradient_check(model: Sequential, X: Any, Y: Any, epsilon: float = 1e-6) -> float:
    """Relative difference between the backpropagated gradient and a numerical one.

    Works on a float64 copy of `model` (the model itself is not changed). Every parameter θ_k
    is moved by ±epsilon and the cost recomputed: g_k ≈ (J(θ + ε e_k) − J(θ − ε e_k)) / 2ε,
    with J as `Sequential.cost` defines it (L2 penalty included, dropout off) and the
    backpropagated gradient from `Sequential.gradients`. It costs two cost evaluations per
    parameter, so use it on small networks and a few examples.

    The result is ‖g_backprop − g_numeric‖ / (‖g_backprop‖ + ‖g_numeric‖):

    - about 1e-7 or less: the gradients agree (float64 rounding and the O(ε²) error);
    - between 1e-7 and 1e-3: look closer; usual with relu-like units or ŷ near 0 or 1;
    - above 1e-3: usually a bug, but not necessarily at a kink. relu and leaky_relu have
      a kink at z = 0 (deepnet takes relu′(0) = 0, leaky_relu′(0) = 0.2): when an example
      has some z within ε of 0, θ ± ε lands on both sides and the finite difference
      averages two slopes that backpropagation, rightly, does not. Then check again with a
      smaller `epsilon` (1e-8), other examples or another seed, or the same network with
      tanh: a number that stays above 1e-3 is a bug; one that falls was the kink.

    Parameters
    ----------
    model : Sequential
    X : array-like of shape (n_x, m)
    Y : array-like of shape (n_y, m), or integer class labels of shape (m,)
        Whatever `Sequential.fit` accepts, checked and converted by the model itself.
    epsilon : float, default 1e-6

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, deepnet as dn
    >>> rng = np.random.default_rng(0)
    >>> model = dn.Sequential([dn.Dense(5, activation="tanh"), dn.Dense(3, activation="softmax")],
    ...                       n_x=4, loss="categorical_crossentropy")
    >>> X = rng.normal(size=(4, 6)); Y = np.eye(3)[:, rng.integers(0, 3, 6)]
    >>> dn.gradient_check(model, X, Y) < 1e-7
    True
    """
    m64 = model.copy(dtype="float64")
    # what the model accepts (integer labels too), with the model's messages
    X, Y = m64._xy(X, Y)
    analytic = [g for pair in m64.gradients(X, Y) for g in pair]
    numeric = []
    for layer in m64.layers:
        for i, _ in enumerate(layer.param_names):
            theta = np.array(layer._get(i))  # writeable copy
            grad = np.zeros_like(theta)
            for k in np.ndindex(theta.shape):
                old = theta[k]
                theta[k] = old + epsilon
                layer._set(i, theta)
                plus = m64.cost(X, Y)
                theta[k] = old - epsilon
                layer._set(i, theta)
                minus = m64.cost(X, Y)
                theta[k] = old
                grad[k] = (plus - minus) / (2 * epsilon)
            layer._set(i, theta)
            numeric.append(grad)
    a = np.concatenate([g.ravel() for g in analytic])
    n = np.concatenate([g.ravel() for g in numeric])
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - n) / denom)
