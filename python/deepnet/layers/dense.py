"""The dense (fully connected) layer: forward (9)–(10), backward (11)–(14)."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepnet._validation import check_extent, check_name, check_nonneg_float
from deepnet.layers.base import ACTIVATIONS, CompiledLayer


class Dense(CompiledLayer):
    """A fully connected layer of `units` neurons: forward (9)–(10), backward (11)–(14).

    Forward: (9) Z = W·A_prev + b, (10) A = g(Z). Backward: (11) dZ = dA ⊙ g′(Z),
    (12) dW = (1/m) dZ·A_prevᵀ (+ λW with L2), (13) db = (1/m) Σ_i dz^(i),
    (14) dA_prev = Wᵀ·dZ.

    Parameters
    ----------
    units : int
        n^[l], the number of neurons.
    activation : str, default "linear"
        g^[l]: one of "sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax",
        "hard_sigmoid" (clip(z/6 + 1/2, 0, 1), an exact threshold for |z| ≥ 3).
    l2 : float, default 0.0
        λ of an L2 penalty (λ/2)·‖W‖² added to the cost J; (12) then gains + λ W.
    use_bias : bool, default True
        Whether the layer has b^[l]. Without it (9) is Z = W·A_prev, b is not a parameter
        (``param_names`` is ("W",)) and (13) is not computed into anything.
    trainable : bool, default True
        Whether the optimizer updates W and b. A frozen layer (False) keeps the values it
        has (set by hand with ``layer.W = ...``, or loaded) while the other layers train; its
        gradients are still computed and it still passes dA back (14). Fixed when the model is
        built (Keras' names for both).

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

    def __init__(
        self,
        units: int,
        activation: str = "linear",
        l2: float = 0.0,
        use_bias: bool = True,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        self.units = check_extent(units, "Dense units")
        self.activation = check_name(activation, "Dense activation", ACTIVATIONS)
        self.l2 = check_nonneg_float(l2, "Dense l2")
        for name, value in (("use_bias", use_bias), ("trainable", trainable)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"Dense {name}: expected True or False, got {value!r}")
        self.use_bias = bool(use_bias)
        self.trainable = bool(trainable)
        self.param_names = ("W", "b") if self.use_bias else ("W",)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"units": self.units, "activation": self.activation}
        if self.l2:
            config["l2"] = self.l2
        if not self.use_bias:
            config["use_bias"] = False
        if not self.trainable:
            config["trainable"] = False
        return config

    def __repr__(self) -> str:
        extra = f", l2={self.l2!r}" if self.l2 else ""
        extra += "" if self.use_bias else ", use_bias=False"
        extra += "" if self.trainable else ", trainable=False"
        return f"Dense({self.units}, activation={self.activation!r}{extra})"
