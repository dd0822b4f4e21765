"""The dense (fully connected) layer: forward (9)–(10), backward (11)–(14)."""

from __future__ import annotations

from typing import Any

from deepnet._validation import check_extent, check_name, check_nonneg_float
from deepnet.layers.base import ACTIVATIONS, Layer


class Dense(Layer):
    """A fully connected layer of `units` neurons: forward (9)–(10), backward (11)–(14).

    Forward: (9) Z = W·A_prev + b, (10) A = g(Z). Backward: (11) dZ = dA ⊙ g′(Z),
    (12) dW = (1/m) dZ·A_prevᵀ (+ λW with L2), (13) db = (1/m) Σ_i dz^(i),
    (14) dA_prev = Wᵀ·dZ.

    Parameters
    ----------
    units : int
        n^[l], the number of neurons.
    activation : str, default "linear"
        g^[l]: one of "sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax".
    l2 : float, default 0.0
        λ of an L2 penalty (λ/2)·‖W‖² added to the cost J; (12) then gains + λ W.

    Attributes
    ----------
    W : ndarray of shape (n^[l], n^[l-1])
        The weights. Reading gives a read-only copy; assign a whole array to change them
        (``layer.W = new_W``).
    b : ndarray of shape (n^[l], 1)
        The biases, likewise.

    Examples
    --------
    >>> import deepnet as dn
    >>> model = dn.Sequential([dn.Dense(3, activation="tanh"), dn.Dense(1, activation="sigmoid")],
    ...                       n_x=2, loss="binary_crossentropy")
    >>> model.layers[0].W.shape, model.layers[0].b.shape
    ((3, 2), (3, 1))
    """

    kind = "dense"
    param_names = ("W", "b")

    def __init__(self, units: int, activation: str = "linear", l2: float = 0.0) -> None:
        super().__init__()
        self.units = check_extent(units, "Dense units")
        self.activation = check_name(activation, "Dense activation", ACTIVATIONS)
        self.l2 = check_nonneg_float(l2, "Dense l2")

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"units": self.units, "activation": self.activation}
        if self.l2:
            config["l2"] = self.l2
        return config

    def __repr__(self) -> str:
        l2 = f", l2={self.l2!r}" if self.l2 else ""
        return f"Dense({self.units}, activation={self.activation!r}{l2})"
