"""The building block of figures 4–5: `Layer`, the registry of layer types, and the checks
their arguments share.

A layer is declared before the network knows its input shape, as in Keras; `Sequential` then
builds it in Rust from the previous layer's output shape. Afterwards its parameters (those named
in `param_names`) are readable and assignable as numpy arrays in the lecture's shapes:
``layer.W`` gives a read-only copy, ``layer.W = new`` replaces the whole array.

deepnet's own layers are compiled (`CompiledLayer`); any other subclass of `Layer` is a layer
written in Python, with a NumPy `forward` and `backward` that the compiled network calls in
its place (see `Layer`).
"""

from __future__ import annotations

import inspect
import json
import numbers
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from deepnet import _core
from deepnet._validation import as_float_array, check_extent

if TYPE_CHECKING:
    from deepnet.model import Sequential

ACTIVATIONS: tuple[str, ...] = tuple(_core.ACTIVATIONS)

#: Compiled layer classes by the ``"type"`` of their spec (the name model files store); a
#: subclass registers itself by setting `kind`.
LAYER_TYPES: dict[str, type[Layer]] = {}

#: Layers written in Python, by their registered name (`kind`, by default the class name):
#: how a model file finds the class again. Defining (importing) the class registers it; two
#: classes of one name (from different modules) are both kept, and a model file can then store
#: neither until one sets another `kind` (see `python_layer_class`).
PYTHON_LAYERS: dict[str, list[type[Layer]]] = {}


def python_layer_class(name: Any) -> type[Layer]:
    """The layer class written in Python registered as `name`; ValueError if there is none or
    more than one."""
    classes = PYTHON_LAYERS.get(name, []) if isinstance(name, str) else []
    if len(classes) == 1:
        return classes[0]
    if not classes:
        raise ValueError(
            f"the model has a layer written in Python, of the class registered as {name!r}, "
            "which is not defined in this program: import (or define) it first. deepnet finds "
            "a layer's class by this name and never runs code stored in a file."
        )
    where = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in classes)
    raise ValueError(
        f"{len(classes)} layer classes are registered as {name!r} ({where}): a model file "
        "names its layers' classes, so give each a unique name with kind = '...' in the class"
    )


def layer_from_spec(spec: dict[str, Any]) -> Layer:
    """The layer a spec describes (as `Layer.spec` returns it and model files store it)."""
    config = dict(spec)
    kind = config.pop("type", None)
    if kind == "python":
        return _python_layer_from_spec(config)
    if kind not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r}: expected one of {sorted(LAYER_TYPES)}")
    return LAYER_TYPES[kind].from_config(config)


def _python_layer_from_spec(spec: dict[str, Any]) -> Layer:
    cls = python_layer_class(spec.get("kind"))
    config = dict(spec.get("config") or {})
    try:
        layer = cls.from_config(config)
    except Exception as err:  # the class's own code, on arguments read from a file
        raise ValueError(
            f"{cls.__name__}.from_config({config!r}) failed: {type(err).__name__}: {err}"
        ) from None
    if spec.get("trainable") is False:
        layer.trainable = False
    return layer


class Layer:
    """A block with a forward and a backward computation (figures 4–5), owned by one model.

    deepnet's layers (`Dense`, `Conv2D`, `GRU`, ...) are compiled. **Subclass `Layer` to
    write a layer in Python**: give it a NumPy ``forward`` and ``backward`` (and parameters
    with ``add_param`` in ``build``, if it has any), and it mixes with the compiled layers in
    a `Sequential`: ``fit`` (every optimizer), ``predict``, ``gradients``,
    ``gradient_check``, ``forward``, ``explain``, ``summary``, ``save``/``load`` and pickling
    all work. The compiled network calls it in its place, taking Python's GIL for it only; a
    network without such layers still trains in one Rust call.

    Methods a layer written in Python defines:

    forward(self, A_prev, training) -> A
        A^[l] from A^[l-1] (example axis last, as everywhere). `training` is True in `fit`'s
        steps and False otherwise (predict, cost, gradients).
    backward(self, dA, A_prev) -> dA_prev, or (dA_prev, grads)
        From dA^[l] (column i is example i's ∂L/∂a^[l](i): the lecture's dA, what (14) of the
        next layer or (15) gives) and the same A_prev that forward received: dA^[l-1] (as
        (14) does), and, for a layer with parameters, their gradients of J in `param_names`
        order (a sequence, or a dict by name), averaged over the m examples as (12)–(13) do.
    build(self, input_shape, rng), optional
        Called once when the model is built: declare the parameters with
        ``self.add_param(name, initial_value)``, drawing random values from `rng` (a
        ``numpy.random.Generator`` seeded from the model's seed and the layer's position).
    compute_output_shape(self, input_shape), optional
        One example's output shape; by default the input's (an element-wise layer).

    Inside forward and backward, ``self.W`` is the current value of parameter "W" (read-only).
    The arrays passed in are copies the layer may keep; what it returns is checked (shape,
    dtype) and converted to the model's dtype. Exceptions it raises reach the caller as they
    are, and a failed ``fit`` leaves the model as it was before the call.

    A model file stores the layer's registered name (`kind`, by default the class name; two
    classes of one name cannot both be saved, so give one another `kind`), its
    `get_config()` (by default the constructor's arguments read from the same-named
    attributes, as scikit-learn does), its shapes and its parameters; `load` finds the class
    by that name among the classes defined in the program (so import it first) and never
    runs code from the file. Set ``trainable = False`` (before the model is built) to freeze
    the parameters.

    Examples
    --------
    >>> import numpy as np, deepnet as dn
    >>> class SquareActivation(dn.Layer):
    ...     # A = A_prev ** 2, element-wise: no parameters
    ...     def forward(self, A_prev, training):
    ...         return A_prev ** 2
    ...     def backward(self, dA, A_prev):
    ...         return 2 * A_prev * dA                  # dA_prev = g'(A_prev) ⊙ dA, like (11)
    >>> model = dn.Sequential([dn.Dense(4, activation="tanh"), SquareActivation(), dn.Dense(1)],
    ...                       n_x=3, loss="mse", dtype="float64")
    >>> X = np.random.default_rng(0).normal(size=(3, 8)); Y = X[:1] ** 2
    >>> dn.gradient_check(model, X, Y) < 1e-7
    True
    """

    #: Parameter names, in the order the Rust layer stores them.
    param_names: tuple[str, ...] = ()
    #: The spec's ``"type"`` of a compiled layer; a layer written in Python's registered name
    #: (by default its class name).
    kind: str = ""
    #: Whether the optimizer updates the layer's parameters (a layer written in Python may
    #: set it to False before its model is built).
    trainable: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        compiled = globals().get("CompiledLayer")
        if compiled is None:  # CompiledLayer itself, being defined
            return
        if issubclass(cls, compiled):
            if "kind" in cls.__dict__:
                LAYER_TYPES[cls.kind] = cls
            return
        _register_python_layer(cls)

    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        if cls is Layer:
            raise TypeError(
                "Layer is a base class: use a layer such as Dense(...), or subclass Layer "
                "to write one in Python"
            )
        if not issubclass(cls, CompiledLayer):
            for method, signature in _PYTHON_METHODS.items():
                if getattr(cls, method) is getattr(Layer, method):
                    raise TypeError(
                        f"{cls.__name__} must define {method}{signature} to be a layer "
                        "written in Python (see help(deepnet.Layer))"
                    )
        self = super().__new__(cls)
        # here rather than in __init__, so a subclass that forgets super().__init__() works
        object.__setattr__(self, "_model", None)
        object.__setattr__(self, "_index", -1)
        object.__setattr__(self, "_live", None)
        object.__setattr__(self, "_pending", None)
        object.__setattr__(self, "_shapes", None)
        return self

    def __init__(self) -> None:
        pass

    @property
    def _python(self) -> bool:
        """Whether this layer is written in Python (not one of deepnet's compiled layers)."""
        return not isinstance(self, CompiledLayer)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, as JSON values (Keras' name).

        By default (for a layer written in Python) each argument of ``__init__`` is read from
        the attribute of the same name, as scikit-learn's ``get_params`` does.
        """
        config = {}
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if name not in self.__dict__:
                raise TypeError(
                    f"{type(self).__name__}.get_config: the constructor takes {name!r} but the "
                    f"layer has no attribute {name!r}: store it (self.{name} = {name}) or "
                    "define get_config() returning the constructor's arguments"
                )
            config[name] = self.__dict__[name]
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """The layer `get_config` describes."""
        return cls(**config)

    def clone(self) -> Layer:
        """A new, unbuilt layer of the same class and configuration (``trainable`` included);
        a layer written in Python keeps its very class, whatever else shares its name."""
        if not self._python:
            return type(self).from_config(self.get_config())
        layer = type(self).from_config(self._config())
        if not self.trainable:
            layer.trainable = False
        return layer

    def spec(self) -> dict[str, Any]:
        """The dict the Rust network is built from and model files store."""
        if self._python:
            spec: dict[str, Any] = {"type": "python", "kind": self.kind, "config": self._config()}
            if not self.trainable:
                spec["trainable"] = False
            if self.built and self._shapes is not None:  # what the network was built from
                info = self._net().layer_info(self._index)
                spec["input_shape"] = list(self._shapes[0])
                spec["output_shape"] = list(self._shapes[1])
                spec["params"] = [{"name": n, "shape": list(s)} for n, s in info["params"]]
            return spec
        return {"type": self.kind, **self.get_config()}

    def __repr__(self) -> str:
        try:
            config = self.get_config()
        except Exception:  # a repr never fails; get_config's error comes when it is needed
            return f"{type(self).__name__}(...)"
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"

    # -- parameters as attributes (W, b, Wx, …), driven by param_names ---------------------

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: W, b, Wx… of a built layer (param_names may
        # be the instance's own, e.g. a Dense without bias has only W)
        names = self.__dict__.get("param_names", type(self).param_names)
        if name in names:
            live = self.__dict__.get("_live")
            if live is not None:  # inside forward/backward: the values the network passed
                return live[names.index(name)]
            pending = self.__dict__.get("_pending")
            if pending is not None and not self.built:
                return pending[name]
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

    # -- a layer written in Python ----------------------------------------------------------

    def forward(self, A_prev: np.ndarray, training: bool) -> np.ndarray:
        """A^[l] from A^[l-1] (a layer written in Python defines it; see `Layer`)."""
        raise NotImplementedError  # never reached: __new__ requires an override

    def backward(self, dA: np.ndarray, A_prev: np.ndarray) -> Any:
        """dA^[l-1] (and the parameters' gradients) from dA^[l] (see `Layer`)."""
        raise NotImplementedError  # never reached: __new__ requires an override

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Declares the parameters with `add_param` (nothing by default); see `Layer`."""

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """One example's output shape for one example's input shape (by default the same)."""
        return tuple(input_shape)

    def add_param(self, name: str, value: Any) -> None:
        """Declares parameter `name` with its initial value (an array of any shape), in
        `build`. The optimizer then updates it, ``self.<name>`` reads it, and backward
        returns its gradient in the order of declaration."""
        if self._pending is None:
            raise RuntimeError(
                f"{type(self).__name__}.add_param: parameters are declared in build(self, "
                "input_shape, rng), which the model calls when it is built"
            )
        if not (isinstance(name, str) and name.isidentifier() and name.isascii()):
            raise ValueError(f"add_param: expected an identifier as the name, got {name!r}")
        if name in self._pending:
            raise ValueError(f"add_param: {type(self).__name__} already has a parameter {name!r}")
        if hasattr(type(self), name) or name in self.__dict__:
            raise ValueError(
                f"add_param: {name!r} is already an attribute of {type(self).__name__}; "
                "choose another name for the parameter"
            )
        arr = np.array(value, dtype=np.float64 if self._model is None else self._model.dtype)
        if arr.ndim == 0:
            raise ValueError(
                f"add_param {name!r}: expected an array, got a scalar (use shape (1,))"
            )
        self._pending[name] = arr
        object.__setattr__(self, "param_names", (*self.param_names, name))

    def _config(self) -> dict[str, Any]:
        """get_config(), checked to be JSON (what a model file can store)."""
        config = self.get_config()
        if not isinstance(config, dict):
            raise TypeError(
                f"{type(self).__name__}.get_config: expected a dict, got {type(config).__name__}"
            )
        try:
            return json.loads(json.dumps(config, allow_nan=False))
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{type(self).__name__}.get_config: the constructor's arguments must be JSON "
                f"values (numbers, strings, lists, dicts) to be saved: {err}"
            ) from None

    def _python_spec(
        self, input_shape: tuple[int, ...], rng: np.random.Generator
    ) -> dict[str, Any]:
        """Builds this layer written in Python over `input_shape` (calls `build`) and returns
        its complete spec; the initial values wait in `_pending` for the network."""
        name = type(self).__name__
        object.__setattr__(self, "param_names", ())
        object.__setattr__(self, "_pending", {})
        self.build(tuple(input_shape), rng)
        out = self.compute_output_shape(tuple(input_shape))
        try:
            out = tuple(check_extent(n, "") for n in out)
            if not out:
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(
                f"{name}.compute_output_shape{tuple(input_shape)}: expected a non-empty tuple "
                f"of positive ints (one example's shape), got {out!r}"
            ) from None
        object.__setattr__(self, "_shapes", (tuple(input_shape), out))
        spec = self.spec()
        spec["input_shape"] = list(input_shape)
        spec["output_shape"] = list(out)
        spec["params"] = [
            {"name": n, "shape": list(v.shape)} for n, v in (self._pending or {}).items()
        ]
        return spec

    def _result(self, value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
        """`value` (what forward or backward returned) as an array of the model's dtype and
        `shape`, or an error naming the method."""
        name = type(self).__name__
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"{name}.{what}: expected a numpy array of shape {shape}, got "
                f"{type(value).__name__}" + (f" of dtype {arr.dtype}" if arr.ndim else "")
            )
        if arr.shape != shape:
            hint = ""
            if what.startswith("forward") and arr.shape[-1:] == shape[-1:]:
                hint = (
                    ": a layer that changes the shape defines compute_output_shape(self, "
                    "input_shape)"
                )
            raise ValueError(f"{name}.{what}: expected shape {shape}, got {arr.shape}{hint}")
        return np.asarray(arr, dtype=self._model.dtype)  # type: ignore[union-attr]

    def _with_params(self, params: tuple, method: Callable[..., Any], *args: Any) -> Any:
        """`method(*args)` with ``self.<param>`` bound to `params` (read-only) meanwhile."""
        for p in params:
            p.flags.writeable = False
        object.__setattr__(self, "_live", params)
        try:
            return method(*args)
        finally:
            object.__setattr__(self, "_live", None)

    def _deepnet_forward(self, A_prev: np.ndarray, training: bool, params: tuple) -> np.ndarray:
        """Called by the compiled network: forward with ``self.<param>`` bound to `params`."""
        A = self._with_params(params, self.forward, A_prev, training)
        _, out = self._shapes  # type: ignore[misc]
        return self._result(A, (*out, A_prev.shape[-1]), "forward returned A")

    def _deepnet_backward(
        self, dA: np.ndarray, A_prev: np.ndarray, params: tuple
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Called by the compiled network: backward, its result checked and put in the
        form (dA_prev, [gradient per parameter])."""
        result = self._with_params(params, self.backward, dA, A_prev)
        name, names = type(self).__name__, self.param_names
        if names:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(
                    f"{name}.backward: a layer with parameters {names} returns (dA_prev, "
                    "grads), grads in that order (or a dict by name)"
                )
            dA_prev, grads = result
            if isinstance(grads, dict):
                if set(grads) != set(names):
                    raise ValueError(
                        f"{name}.backward: expected gradients for {sorted(names)}, got "
                        f"{sorted(grads)}"
                    )
                grads = [grads[n] for n in names]
            else:
                grads = list(grads)
                if len(grads) != len(names):
                    raise ValueError(
                        f"{name}.backward: expected {len(names)} gradients {names}, got "
                        f"{len(grads)}"
                    )
        else:
            dA_prev, grads = result, []
            if isinstance(result, tuple) and len(result) == 2 and not result[1]:
                dA_prev = result[0]
        dA_prev = self._result(dA_prev, A_prev.shape, "backward returned dA_prev")
        grads = [
            self._result(g, p.shape, f"backward returned the gradient of {n}")
            for n, g, p in zip(names, grads, params)
        ]
        return dA_prev, grads


class CompiledLayer(Layer):
    """Base of deepnet's own layers, whose forward and backward are compiled (in Rust)."""


#: What a layer written in Python must define, with the signature an error message shows.
_PYTHON_METHODS = {
    "forward": "(self, A_prev, training) -> A",
    "backward": "(self, dA, A_prev) -> dA_prev or (dA_prev, grads)",
}


def _register_python_layer(cls: type[Layer]) -> None:
    """Registers a layer class written in Python under its `kind` (by default its name)."""
    name = cls.__dict__.get("kind") or cls.__name__
    if not isinstance(name, str) or not name or not name.isprintable() or len(name) > 200:
        raise TypeError(f"{cls.__qualname__}.kind: expected a short printable name, got {name!r}")
    if name in LAYER_TYPES or name in _core.LAYER_KINDS:
        raise TypeError(
            f"{cls.__qualname__}: {name!r} is the name of a deepnet layer; set kind = "
            "'another_name' in the class"
        )
    cls.kind = name
    where = (cls.__module__, cls.__qualname__)
    # a class defined again (a notebook cell run twice, a module reloaded) replaces itself
    others = [c for c in PYTHON_LAYERS.get(name, []) if (c.__module__, c.__qualname__) != where]
    PYTHON_LAYERS[name] = [*others, cls]


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
