"""The building block of figures 4–5: `Layer`, the registry of layer types, and the checks
their arguments share.

A layer is declared before the network knows its input shape, as in Keras; `Sequential` then
builds it in Rust from the previous layer's output shape. Afterwards its parameters (those named
in `param_names`) are readable and assignable as numpy arrays in the lecture's shapes:
``layer.W`` gives a read-only copy, ``layer.W = new`` replaces the whole array.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from deepnet import _core
from deepnet._validation import as_float_array, check_extent

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
    return LAYER_TYPES[kind].from_config(config)


class Layer:
    """Base class: a block with a forward and a backward computation, owned by one model.

    A concrete layer sets `kind` (the spec's type name, which registers it), `param_names`,
    and implements `get_config` (its constructor's arguments, as JSON values).
    """

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

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, as JSON values (Keras' name)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """The layer `get_config` describes."""
        return cls(**config)

    def spec(self) -> dict[str, Any]:
        """The dict the Rust network is built from and model files store."""
        return {"type": self.kind, **self.get_config()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # -- parameters as attributes (W, b, Wx, …), driven by param_names ---------------------

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: W, b, Wx… of a built layer (param_names may
        # be the instance's own, e.g. a Dense without bias has only W)
        names = self.__dict__.get("param_names", type(self).param_names)
        if name in names:
            return self._get(names.index(name))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.param_names:
            self._set(self.param_names.index(name), value)
        else:
            object.__setattr__(self, name, value)

    # -- ownership and access to the Rust layer ---------------------------------------------

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
                "Sequential gets input_shape (or n_x) or at the first call to fit/predict"
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
        expected = tuple(net.layer_info(self._index)["params"][i][1])
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
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one example's output (without m), once built."""
        return tuple(self._net().layer_info(self._index)["output_shape"])

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


# -- argument checks shared by the layers --------------------------------------------------------


def check_size(value: Any, name: str, dims: int) -> int | list[int]:
    """A positive size: an int for one spatial axis, an int or a pair for two (as a list)."""
    if dims == 1:
        return check_extent(value, name)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}: expected an int or a pair (h, w), got {value!r}")
        return [check_extent(v, name) for v in value]
    return [check_extent(value, name)] * 2


def check_padding(value: Any, name: str, dims: int) -> str | int | list[int]:
    """ "valid", "same", or symmetric zero padding: an int >= 0 (or a pair for two axes)."""
    if isinstance(value, str):
        if value not in ("valid", "same"):
            raise ValueError(f"{name}: expected 'valid', 'same' or an int, got {value!r}")
        return value
    items = list(value) if isinstance(value, (tuple, list)) else [value] * dims
    if len(items) != dims or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in items
    ):
        raise ValueError(
            f"{name}: expected 'valid', 'same' or a non-negative int"
            + (" or pair" if dims == 2 else "")
            + f", got {value!r}"
        )
    return int(items[0]) if dims == 1 else [int(v) for v in items]
