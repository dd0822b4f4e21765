"""Layers: the building blocks of figures 4–5 of the lecture.

A layer is declared before the network knows its input size, as in Keras; `Sequential` then
builds it in Rust. Afterwards its parameters are readable and assignable as numpy arrays in
the lecture's shapes.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from deepnet import _core
from deepnet._validation import (
    as_float_array,
    check_extent,
    check_name,
    check_nonneg_float,
)

if TYPE_CHECKING:
    from deepnet.model import Sequential

ACTIVATIONS: tuple[str, ...] = tuple(_core.ACTIVATIONS)

#: Layer classes by the ``"type"`` of their spec (the name model files store); a subclass
#: registers itself by setting `kind`.
LAYER_TYPES: dict[str, type[Layer]] = {}


def layer_from_spec(spec: dict[str, Any]) -> Layer:
    """The layer a spec describes (as `Layer.spec` returns it and model files store it)."""
    config = dict(spec)
    kind = config.pop("type", None)
    if kind not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r}: expected one of {sorted(LAYER_TYPES)}")
    return LAYER_TYPES[kind](**config)


class Layer:
    """Base class: a block with a forward and a backward computation, owned by one model."""

    #: Parameter names, in the order the Rust layer stores them.
    param_names: tuple[str, ...] = ()
    #: The spec's ``"type"``; set by each concrete layer, which registers it in LAYER_TYPES.
    kind: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            LAYER_TYPES[cls.kind] = cls

    def __init__(self) -> None:
        self._model: Sequential | None = None
        self._index = -1

    def spec(self) -> dict[str, Any]:
        """The dict the Rust network is built from."""
        raise NotImplementedError

    def _attach(self, model: Sequential, index: int) -> None:
        if self._model is not None and self._model is not model:
            raise ValueError(
                f"{self!r} already belongs to another model: create a new layer for each model"
            )
        self._model, self._index = model, index

    @property
    def built(self) -> bool:
        """Whether the model this layer belongs to has been built (its parameters exist)."""
        return self._model is not None and self._model.built

    def _net(self) -> Any:
        if self._model is None or not self._model.built:
            raise RuntimeError(
                f"{self!r} has no parameters yet: it is built when its model is, i.e. when "
                "Sequential gets n_x or at the first call to fit/predict"
            )
        return self._model._net

    def _get(self, i: int) -> np.ndarray:
        value = self._net().get_param(self._index, i)
        # a copy of the Rust array: read-only so that an element assignment, which could not
        # reach the model, fails loudly instead of being lost
        value.flags.writeable = False
        return value

    def _set(self, i: int, value: Any) -> None:
        net = self._net()
        self._model._check_writable()  # type: ignore[union-attr]
        name = self.param_names[i]
        expected = tuple(self._net().layer_info(self._index)["params"][i][1])
        arr = as_float_array(
            value,
            f"{name} of layer {self._index + 1}",
            net.dtype,
            ndim=len(expected),
            shape_hint=f"of shape {expected}",
        )
        if arr.shape != expected:
            raise ValueError(
                f"{name} of layer {self._index + 1}: expected shape {expected}, got {arr.shape}"
            )
        net.set_param(self._index, i, arr)

    @property
    def n_params(self) -> int:
        """Number of trainable scalars."""
        info = self._net().layer_info(self._index)
        return int(sum(np.prod(shape) for _, shape in info["params"]))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters, in `param_names` order."""
        return [np.array(self._get(i)) for i in range(len(self.param_names))]

    def set_weights(self, weights: list[Any]) -> None:
        """Replaces the parameters (arrays in `param_names` order and shapes)."""
        if len(weights) != len(self.param_names):
            raise ValueError(
                f"{self!r}: expected {len(self.param_names)} arrays {self.param_names}, "
                f"got {len(weights)}"
            )
        for i, w in enumerate(weights):
            self._set(i, w)


class Dense(Layer):
    """A fully connected layer of `units` neurons: forward (9)–(10), backward (11)–(14).

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

    param_names = ("W", "b")
    kind = "dense"

    def __init__(self, units: int, activation: str = "linear", l2: float = 0.0) -> None:
        super().__init__()
        self.units = check_extent(units, "Dense units")
        self.activation = check_name(activation, "Dense activation", ACTIVATIONS)
        self.l2 = check_nonneg_float(l2, "Dense l2")

    def spec(self) -> dict[str, Any]:
        spec = {"type": "dense", "units": self.units, "activation": self.activation}
        if self.l2:
            spec["l2"] = self.l2
        return spec

    @property
    def W(self) -> np.ndarray:  # noqa: N802 - the lecture's name
        return self._get(0)

    @W.setter
    def W(self, value: Any) -> None:  # noqa: N802
        self._set(0, value)

    @property
    def b(self) -> np.ndarray:
        return self._get(1)

    @b.setter
    def b(self, value: Any) -> None:
        self._set(1, value)

    def __repr__(self) -> str:
        l2 = f", l2={self.l2!r}" if self.l2 else ""
        return f"Dense({self.units}, activation={self.activation!r}{l2})"


class Dropout(Layer):
    """Inverted dropout: in training, each activation is zeroed with probability `rate` and
    the others scaled by 1/(1 − rate); in predict, cost, evaluate and gradients it passes its
    input unchanged. Masks come from the model's seed.

    Parameters
    ----------
    rate : float in [0, 1)
        The fraction of activations dropped.

    Examples
    --------
    >>> import deepnet as dn
    >>> model = dn.Sequential([dn.Dense(16, activation="relu"), dn.Dropout(0.2),
    ...                        dn.Dense(1, activation="sigmoid")],
    ...                       n_x=4, loss="binary_crossentropy")
    >>> model.layers[1]
    Dropout(0.2)
    """

    kind = "dropout"

    def __init__(self, rate: float) -> None:
        super().__init__()
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise TypeError(f"Dropout rate: expected a number in [0, 1), got {rate!r}")
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout rate: expected a number in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def spec(self) -> dict[str, Any]:
        return {"type": "dropout", "rate": self.rate}

    def __repr__(self) -> str:
        return f"Dropout({self.rate!r})"
