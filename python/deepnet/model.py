"""`Sequential`: a network of L layers and the training process of section 7."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Sequence
from math import inf
from typing import Any, Callable, NamedTuple

import numpy as np

from deepnet import _core
from deepnet import io as _io
from deepnet import optimizers as _optimizers
from deepnet._validation import (
    as_float_array,
    check_dtype_name,
    check_extent,
    check_name,
    check_optional_nonneg_float,
    check_positive_int,
)
from deepnet.history import History
from deepnet.layers import Layer, layer_from_spec
from deepnet.layers.base import python_layer_class

LOSSES: tuple[str, ...] = tuple(_core.LOSSES)


class CostGrowthWarning(RuntimeWarning):
    """Issued by `Sequential.fit`, once per fit, when the J of an epoch is at least
    100 times the J of the fit's first epoch: gradient descent is moving
    away from the minimum, almost always because the learning rate α is too large.

    Training goes on. To stop instead, make it an error:
    ``warnings.simplefilter("error", deepnet.CostGrowthWarning)``; fit then raises it with
    ``model.history`` holding the epochs run and ``history.stop_reason == "error"``.
    """


class ForwardCache(NamedTuple):
    """What a forward pass computes, layer by layer, as the lecture caches it for backward:
    ``Z[l]`` (None where a layer has no Z, and for l = 0) and ``A[l]`` (``A[0]`` = X),
    l = 0..L."""

    Z: list[np.ndarray | None]
    A: list[np.ndarray]


class Sequential:
    """A deep network: layers one after the other (figure 4), trained by gradient descent.

    Parameters
    ----------
    layers : list of Layer
        The layers 1..L, e.g. ``[Dense(64, activation="relu"), Dense(10, activation="softmax")]``.
    n_x : int, optional
        Number of inputs of a network of vectors; ``n_x=k`` means ``input_shape=(k,)``.
    loss : str
        The cost J: "binary_crossentropy", "categorical_crossentropy" or "mse".
    seed : int, default 0
        Seeds the initialization (He for relu-like layers, Glorot otherwise) and the shuffling
        of mini-batches: the same seed gives bit-identical parameters and training.
    dtype : {"float32", "float64"}, default "float32"
        What the network computes in. Inputs of another dtype are converted (never modified).
    input_shape : tuple of int, optional
        Shape of one example, without the example axis: ``(n_x,)`` for vectors,
        ``(channels, length)`` for signals and sequences (``(1, 40)`` for MNIST-1D),
        ``(channels, height, width)`` for images. X then has shape ``input_shape + (m,)``.
        If neither this nor `n_x` is given, the network is built at the first call to `fit`
        (or `predict`, `cost`, ...) from X's shape.

    Attributes
    ----------
    layers : list of Layer
        ``layers[l - 1]`` is layer l; dense layers expose ``W`` (n^[l], n^[l-1]) and
        ``b`` (n^[l], 1).

    Examples
    --------
    XOR, the lecture's example of a function that depth makes cheap:

    >>> import numpy as np, deepnet as dn
    >>> X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]])      # (n_x, m): one column per example
    >>> Y = np.array([[0, 1, 1, 0]])                    # (n_y, m)
    >>> model = dn.Sequential([dn.Dense(8, activation="tanh"),
    ...                        dn.Dense(1, activation="sigmoid")],
    ...                       n_x=2, loss="binary_crossentropy", seed=0)
    >>> history = model.fit(X, Y, epochs=2000, learning_rate=1.0, batch_size=None, verbose=0)
    >>> (model.predict(X) > 0.5).astype(int)
    array([[0, 1, 1, 0]])
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        n_x: int | None = None,
        loss: str | None = None,
        seed: int = 0,
        dtype: str = "float32",
        input_shape: Sequence[int] | None = None,
    ) -> None:
        if isinstance(layers, Layer) or not isinstance(layers, Sequence):
            raise TypeError(f"layers: expected a list of layers, got {type(layers).__name__}")
        if len(layers) == 0:
            raise ValueError("layers: expected at least one layer, got an empty list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layers[{i}]: expected a deepnet layer such as Dense(...), got {layer!r}"
                )
        if loss is None:
            raise ValueError(f"loss: a loss is required, one of {list(LOSSES)}")
        self.loss = check_name(loss, "loss", LOSSES)
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or not 0 <= seed < 2**64
        ):
            big = " (a seed is below 2**64)" if isinstance(seed, (int, np.integer)) else ""
            raise ValueError(f"seed: expected a non-negative integer, got {seed!r}{big}")
        self.seed = int(seed)
        self.dtype = check_dtype_name(dtype)
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            layer._attach(self, i)
        #: Shape of one example (without m), once known.
        self.input_shape: tuple[int, ...] | None = None
        self._net: Any = None
        #: The optimizer of the last fit (None before the first).
        self.optimizer: _optimizers.Optimizer | None = None
        #: The History of the last fit.
        self.history: History | None = None
        #: Set by a callback to stop fit after the current epoch (Keras' convention).
        self.stop_training = False
        #: Why a callback stopped training (recorded in History.stop_reason).
        self.stop_reason: str | None = None
        # the thread whose fit is running (None when none is): see _check_writable
        self._fit_thread: int | None = None
        self._fit_lock = threading.Lock()
        if n_x is not None and input_shape is not None:
            raise ValueError("give n_x or input_shape, not both (n_x=k means input_shape=(k,))")
        if n_x is not None:
            self._build((check_extent(n_x, "n_x"),))
        elif input_shape is not None:
            self._build(_check_input_shape(input_shape))

    # -- building ---------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Whether the parameters exist (n_x is known)."""
        return self._net is not None

    def _build(self, input_shape: tuple[int, ...]) -> None:
        python = [l for l, layer in enumerate(self.layers) if layer._python]
        if not python:
            specs = [layer.spec() for layer in self.layers]
        else:
            # a layer written in Python is built (its build and compute_output_shape) over the
            # output shape of the layer before it, which Rust computes for a compiled one
            specs, shape = [], tuple(input_shape)
            for l, layer in enumerate(self.layers):
                if layer._python:
                    spec = layer._python_spec(shape, np.random.default_rng([self.seed, l]))
                    shape = tuple(spec["output_shape"])
                else:
                    spec = layer.spec()
                    shape = tuple(_core.layer_output_shape(json.dumps(spec), list(shape)))
                specs.append(spec)
        net = _core.Network(json.dumps(specs), list(input_shape), self.loss, self.dtype, self.seed)
        for l in python:
            layer = self.layers[l]
            net.attach_layer(l, layer)
            for i, value in enumerate((layer._pending or {}).values()):
                name = layer.param_names[i]
                net.set_param(
                    l, i, as_float_array(value, f"{name} of layer {l + 1}", self.dtype, value.ndim)
                )
            object.__setattr__(layer, "_pending", None)
        self._net = net
        self.input_shape = input_shape

    def _attach_python_layers(self, specs: list[dict[str, Any]]) -> None:
        """After loading: builds each layer written in Python over the shapes its file spec
        records (so the attributes its build sets exist), checks it declares the parameters
        the file holds, and gives it to the network (the file's values stay)."""
        for l, (layer, spec) in enumerate(zip(self.layers, specs)):
            if not layer._python:
                continue
            name = f"layer {l + 1} ({type(layer).__name__}, written in Python)"
            shape = tuple(spec["input_shape"])
            try:
                # the output shape first: build may allocate what the stored arguments say
                out = list(layer.compute_output_shape(shape))
                if out != spec["output_shape"]:
                    raise ValueError(
                        f"the file has output_shape {spec['output_shape']}, the class now "
                        f"gives {out}"
                    )
                ours = layer._python_spec(shape, np.random.default_rng([self.seed, l]))
            except Exception as err:  # the class's own code, on arguments read from a file
                raise ValueError(f"{name}: {type(err).__name__}: {err}") from None
            object.__setattr__(layer, "_pending", None)
            for key in ("output_shape", "params"):
                if ours[key] != spec[key]:
                    raise ValueError(
                        f"{name}: the file has {key} {spec[key]}, the class now declares "
                        f"{ours[key]}: its build or compute_output_shape changed since the "
                        "model was saved"
                    )
            self._net.attach_layer(l, layer)

    @property
    def n_x(self) -> int | None:
        """The number of inputs per example (n^[0]): the product of `input_shape`."""
        return None if self.input_shape is None else int(np.prod(self.input_shape))

    @classmethod
    def _from_network(
        cls,
        layers: list[Layer],
        net: Any,
        input_shape: tuple[int, ...],
        loss: str,
        seed: int,
        dtype: str,
    ) -> Sequential:
        """A model around a network already built in Rust (from a model file)."""
        model = cls(layers, loss=loss, seed=seed, dtype=dtype)
        model._net, model.input_shape = net, tuple(input_shape)
        return model

    # -- concurrency ------------------------------------------------------------------------

    def _check_writable(self) -> None:
        """Raises if another thread's fit is training this model: a change now would alter
        that training. (Reads are guarded in Rust: they work between two epochs and raise
        the same error during a training call.)"""
        owner = self._fit_thread
        if owner is not None and owner != threading.get_ident():
            raise RuntimeError(
                "the model is training in another thread (fit is running): wait for fit to "
                "return before changing it"
            )

    def _begin_fit(self) -> None:
        with self._fit_lock:
            owner = self._fit_thread
            if owner == threading.get_ident():
                raise RuntimeError(
                    "fit was called while this model's fit is running (from a callback?): "
                    "a model trains one fit at a time; stop the outer fit instead "
                    "(model.stop_training = True)"
                )
            if owner is not None:
                raise RuntimeError(
                    "the model is training in another thread (fit is running): a model trains "
                    "one fit at a time"
                )
            self._fit_thread = threading.get_ident()

    def _end_fit(self) -> None:
        with self._fit_lock:
            self._fit_thread = None

    @property
    def n_y(self) -> int:
        """Number of outputs (n^[L])."""
        if not self.built:
            raise RuntimeError("the model is not built yet: give n_x or call fit first")
        return int(self._net.layer_info(len(self.layers) - 1)["output_shape"][0])

    def _ensure_built(self, X: np.ndarray) -> None:
        if not self.built:
            self._build(_check_input_shape(X.shape[:-1], "X's shape without its last axis"))

    # -- input checks -----------------------------------------------------------------------

    def _x(self, X: Any) -> np.ndarray:
        if self.input_shape is None:
            arr = X if isinstance(X, np.ndarray) else np.asarray(X)
            ndim = max(arr.ndim, 2)
        else:
            ndim = len(self.input_shape) + 1
        hint = (
            "of shape (n_x, m), one column per example"
            if ndim == 2
            else f"of shape {_shape_text(self.input_shape)}, the examples on the last axis"
            if self.input_shape is not None
            else "with the examples on the last axis"
        )
        X = as_float_array(X, "X", self.dtype, ndim, hint)
        self._ensure_built(X)
        assert self.input_shape is not None
        if X.shape[:-1] != self.input_shape:
            transposed = ndim == 2 and X.shape[1] == self.input_shape[0]
            raise ValueError(
                f"X: expected shape {_shape_text(self.input_shape)} with the examples on the "
                f"last axis, got {X.shape}"
                + (" (did you pass X transposed?)" if transposed else "")
            )
        return X

    def _xy(self, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
        X = self._x(X)
        Y = self._targets(Y, X.shape[-1])
        n_y = self.n_y
        if Y.shape != (n_y, X.shape[-1]):
            raise ValueError(
                f"Y: expected shape ({n_y}, {X.shape[-1]}) (n_y outputs, one column per example "
                f"of X), got {Y.shape}"
            )
        return X, Y

    def _targets(self, Y: Any, m: int) -> np.ndarray:
        """Y as an (n_y, m) array of the model's dtype; integer class labels of shape (m,)
        are one-hot encoded (categorical) or made a row (binary, n_y = 1)."""
        arr = Y if isinstance(Y, np.ndarray) else np.asarray(Y)
        if arr.ndim != 1:
            return as_float_array(
                Y, "Y", self.dtype, 2, "of shape (n_y, m), one column per example"
            )
        n_y = self.n_y
        if arr.dtype.kind not in "iub":
            raise ValueError(
                "Y: expected a 2-D array of shape (n_y, m), one column per example, or integer "
                f"class labels of shape (m,); got a 1-D array of shape {arr.shape} of dtype "
                f"{arr.dtype}"
            )
        if arr.shape[0] != m:
            raise ValueError(f"Y: expected {m} labels (one per column of X), got shape {arr.shape}")
        if m == 0:
            raise ValueError("Y: expected a non-empty array, got shape (0,)")
        classes = n_y if (self.loss == "categorical_crossentropy" and n_y > 1) else 2
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= classes:
            raise ValueError(
                f"Y: class labels must be in 0..{classes - 1} for this model, got labels "
                f"from {lo} to {hi}"
            )
        if classes == n_y and n_y > 1:
            out = np.zeros((n_y, m), dtype=self.dtype)
            out[arr.astype(np.intp), np.arange(m)] = 1
            return out
        if n_y != 1:
            raise ValueError(
                f"Y: integer labels need categorical_crossentropy or a single output; this "
                f"model has n_y = {n_y} and loss {self.loss!r}: give Y of shape ({n_y}, m)"
            )
        return arr.astype(self.dtype).reshape(1, m)

    def _weights(self, sample_weight: Any, m: int) -> np.ndarray | None:
        """Sample weights as an (m,) array of the model's dtype: finite, >= 0, not all 0."""
        if sample_weight is None:
            return None
        w = as_float_array(sample_weight, "sample_weight", self.dtype, 1, "of shape (m,)")
        if w.shape[0] != m:
            raise ValueError(
                f"sample_weight: expected one weight per example ({m}), got {w.shape[0]}"
            )
        if (w < 0).any():
            i = int(np.argmax(w < 0))
            raise ValueError(f"sample_weight: expected weights >= 0, got {w[i]!r} at index {i}")
        if not w.any():
            raise ValueError(
                "sample_weight: every weight is 0; at least one example needs a positive weight"
            )
        return w

    # -- the lecture's computations ---------------------------------------------------------

    def predict(self, X: Any) -> np.ndarray:
        """Ŷ = A^[L] for inputs X, eqs (9)–(10) through every layer.

        Parameters
        ----------
        X : array-like of shape (n_x, m)

        Returns
        -------
        ndarray of shape (n_y, m), of the model's dtype
        """
        return self._net_call("predict", self._x(X))

    def forward(self, X: Any) -> ForwardCache:
        """The forward pass (9)–(10) with its cache: Z^[l] and A^[l] of every layer.

        ``cache.A[l]`` is A^[l] for l = 0..L, with ``A[0]`` = X (as the model reads it, in its
        dtype) and ``A[L]`` = Ŷ; ``cache.Z[l]`` is Z^[l] = W^[l] A^[l-1] + b^[l] for the layers
        that compute one (dense and convolution; ``Z[0]`` and the others are None: pooling,
        flatten, dropout, recurrent layers, whose outputs are not g(Z)). Every array keeps the
        example axis last. Inference mode: dropout is off, as in `predict`.

        Parameters
        ----------
        X : array-like of shape (n_x, m), or the model's input_shape + (m,)

        Returns
        -------
        ForwardCache
            A named pair (Z, A) of lists indexed by the layer number l.

        Examples
        --------
        >>> import numpy as np, deepnet as dn
        >>> model = dn.Sequential([dn.Dense(3, activation="relu"), dn.Dense(1)], n_x=2,
        ...                       loss="mse", seed=0, dtype="float64")
        >>> cache = model.forward(np.ones((2, 5)))
        >>> [None if z is None else z.shape for z in cache.Z], [a.shape for a in cache.A]
        ([None, (3, 5), (1, 5)], [(2, 5), (3, 5), (1, 5)])
        >>> bool(np.all(cache.A[1] == np.maximum(cache.Z[1], 0)))     # (10) A = g(Z)
        True
        """
        X = self._x(X)
        pairs = self._net_call("forward_cache", X)
        return ForwardCache(Z=[None] + [z for z, _ in pairs], A=[X] + [a for _, a in pairs])

    def explain(self, X: Any, Y: Any, print_fn: Callable[[str], Any] | None = None) -> str:
        """Prints one training step of section 7 on X, Y as the lecture writes it: each
        equation's number, the operation and the shapes, e.g.
        ``(9)  Z[1] = W[1] A[0] + b[1]   (64, 64)·(64, 32) + (64, 1) → (64, 32)``, through
        forward (9)–(10), the cost J, backward (11)–(15) and the update (16)–(17), for dense,
        convolutional, pooling and recurrent layers, with J and the size of every gradient.
        Nothing is changed. Returns the text (see `deepnet.explain.explain`).
        """
        from deepnet.explain import explain

        return explain(self, X, Y, print_fn)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities Ŷ, (n_y, m): the outputs of a classifier (cross-entropy loss)."""
        if self.loss == "mse":
            raise ValueError(
                "predict_proba needs a classifier (a cross-entropy loss); this "
                "model's loss is 'mse': use predict"
            )
        return self.predict(X)

    def predict_classes(self, X: Any) -> np.ndarray:
        """Predicted classes: for softmax outputs the index of the largest output, shape (m,);
        for sigmoid outputs ŷ > 0.5 as 0/1, shape (m,) when n_y = 1, else (n_y, m)."""
        yhat = self.predict_proba(X)
        if self.loss == "categorical_crossentropy" and yhat.shape[0] > 1:
            return np.argmax(yhat, axis=0)
        classes = (yhat > 0.5).astype(np.int64)
        return classes[0] if classes.shape[0] == 1 else classes

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every parameter, layer by layer (W, b of each dense layer)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: list[Any]) -> None:
        """Replaces every parameter from a list as `get_weights` returns it."""
        self._check_writable()
        weights = list(weights)
        expected = sum(len(layer.param_names) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"weights: expected {expected} arrays, got {len(weights)}")
        for layer in self.layers:
            k = len(layer.param_names)
            layer.set_weights(weights[:k])
            weights = weights[k:]

    def save(self, path: Any) -> None:
        """Writes the model (architecture, dtype, parameters, optimizer state) to a
        safetensors file; see `deepnet.load`."""
        _io.save(self, path)

    def __reduce__(self) -> tuple[Any, ...]:
        if not self.built:  # nothing trained yet: the declaration is the whole model
            layers = [(type(layer), _layer_config(layer)) for layer in self.layers]
            return (_unbuilt, (layers, self.loss, self.seed, self.dtype))
        # the classes of the layers written in Python travel by reference (module and name),
        # so unpickling imports them before the bytes are read
        classes = tuple({type(layer) for layer in self.layers if layer._python})
        return (from_bytes, (_io.to_bytes(self), *((classes,) if classes else ())))

    def to_bytes(self) -> bytes:
        """The model file's bytes (what `save` writes)."""
        return _io.to_bytes(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Sequential:
        """The model whose file bytes `data` are (what `to_bytes` gives); ValueError naming the
        field for any invalid file."""
        net, arch = _io.decode(data)
        python_specs = [s for s in arch["layers"] if s["type"] == "python"]
        for spec in python_specs:
            python_layer_class(spec["kind"])  # defined, and only once (else a clear error)
        try:
            layers = [layer_from_spec(spec) for spec in arch["layers"]]
            model = cls._from_network(
                layers, net, tuple(arch["input_shape"]), arch["loss"], arch["seed"], arch["dtype"]
            )
            if python_specs:
                model._attach_python_layers(arch["layers"])
            if arch["optimizer"] is not None:
                model.optimizer = _optimizers.from_config(arch["optimizer"])
        except (ValueError, TypeError) as err:
            raise ValueError(f"not a valid deepnet model file: {err}") from None
        return model

    def cost(self, X: Any, Y: Any, sample_weight: Any = None) -> float:
        """The cost J: the mean over the m examples of the per-example loss, plus the L2
        penalty Σ (λ/2)‖W‖² of the layers that have one. With sample weights, the weighted
        mean J = Σ_i w_i L_i / Σ_i w_i (plus the penalty).

        J = (1/m) Σ_i L(ŷ^(i), y^(i)) + Σ_l (λ_l/2)‖W^[l]‖², where L, over the n_y outputs k:

        - binary_crossentropy: L = −Σ_k [y_k log ŷ_k + (1 − y_k) log(1 − ŷ_k)], a sum over
          the outputs (Keras averages them);
        - categorical_crossentropy: L = −Σ_k y_k log ŷ_k;
        - mse: L = (1/n_y) Σ_k (ŷ_k − y_k)², a mean over the outputs.

        The lecture defines J as the mean over the examples and no particular L. The penalty
        is (λ/2)‖W‖², independent of m: the lecture has no L2; the (λ/(2m))‖W‖² of many course
        notes is λ = λ_course / m here. For sigmoid with binary and softmax with categorical
        cross-entropy J is computed from Z^[L] (no log(0)); the other cross-entropy pairs
        clip ŷ to [ε, 1 − ε] (ε = 1e-7 in float32, 1e-12 in float64). Dropout is off. See
        `deepnet.ops` for the conventions in one place.

        Parameters
        ----------
        X : array-like of shape (n_x, m)
        Y : array-like of shape (n_y, m), or integer class labels of shape (m,)
        sample_weight : array-like of shape (m,), optional
            Non-negative weights, not all 0.

        Returns
        -------
        float
        """
        X, Y = self._xy(X, Y)
        w = self._weights(sample_weight, X.shape[-1])
        return float(self._net.cost(X, Y, w))

    def evaluate(self, X: Any, Y: Any) -> dict[str, float]:
        """The cost J and, for the cross-entropy losses, the accuracy.

        Accuracy is the fraction of columns whose largest output is the one-hot class
        (categorical), or the fraction of outputs on the right side of 0.5 (binary).

        Returns
        -------
        dict with keys "cost", "data_cost" (J without the L2 penalty, when there is one) and,
        for classification, "accuracy"
        """
        X, Y = self._xy(X, Y)
        result = {"cost": float(self._net_call("cost", X, Y))}
        penalty = self._net.penalty
        if penalty:
            result["data_cost"] = result["cost"] - penalty
        if self.loss != "mse":
            result["accuracy"] = accuracy(self._net_call("predict", X), Y, self.loss)
        return result

    def gradients(
        self, X: Any, Y: Any, sample_weight: Any = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """dW^[l] and db^[l] of every layer over all of X, Y, without updating anything.

        Eqs (11)–(15): (12) dW = (1/m) dZ A_prevᵀ, (13) db = (1/m) Σ_i dz^(i). With
        `sample_weight`, the gradients of J = Σ w_i L_i / Σ w_i: column i of dZ^[L] is
        scaled by w_i·m/Σw before (11), so with integer weights they equal the gradients of
        X, Y with column i repeated w_i times.

        They are the gradients of J exactly as `cost` computes it (what `gradient_check`
        compares them with): backward starts from dA^[L] = the per-example ∂L/∂ŷ^(i) in
        column i (m·∂J/∂Ŷ; the lecture's (15) writes ∂J/∂Ŷ) and the 1/m is applied once, in
        (12)–(13); for sigmoid with binary and softmax with categorical cross-entropy it
        starts from dZ^[L] = Ŷ − Y. At the kinks g′ is relu′(0) = 0 and leaky_relu′(0) = 0.2
        (the lecture does not say). A layer with L2 adds λW to its dW, not divided by m (the
        lecture has no L2). Dropout is off, as in `predict`.

        Parameters
        ----------
        X : array-like of shape (n_x, m)
        Y : array-like of shape (n_y, m), or integer class labels of shape (m,)
        sample_weight : array-like of shape (m,), optional

        Returns
        -------
        list of (dW, db), one per layer, of shapes (n^[l], n^[l-1]) and (n^[l], 1)
        """
        X, Y = self._xy(X, Y)
        w = self._weights(sample_weight, X.shape[-1])
        _, grads = self._net.gradients(X, Y, w)
        return [tuple(g) for g in grads]  # type: ignore[misc]

    def _net_call(self, method: str, *args: Any) -> Any:
        return getattr(self._net, method)(*args)

    # -- training ---------------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        Y: Any,
        epochs: int = 100,
        learning_rate: Any = None,
        batch_size: int | None = 32,
        shuffle: bool = True,
        target_cost: float | None = None,
        tol: float | None = None,
        verbose: int = 1,
        optimizer: Any = None,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float | None = None,
        callbacks: Sequence[Any] | None = None,
        sample_weight: Any = None,
        patience: int | None = None,
    ) -> History:
        """Trains the network: the process of section 7.

        Each epoch runs forward (9)–(10), cost, backward (11)–(15) and the optimizer's update
        ((16)–(17) for "sgd") on every mini-batch in Rust, with the GIL released. Training
        stops at the epoch limit, when J <= `target_cost`, when J changes by less than `tol`
        between two epochs, when a callback sets ``model.stop_training`` (e.g.
        `callbacks.EarlyStopping`), or when J or a parameter becomes NaN or inf (the
        parameters are then those of the last finite epoch). Calling fit again resumes:
        parameters, optimizer state and the shuffling stream carry on.

        Parameters
        ----------
        X : array-like of shape (n_x, m)
        Y : array-like of shape (n_y, m), or integer class labels of shape (m,)
        epochs : int, default 100
            The epoch limit.
        learning_rate : float or schedule, optional
            α (a number or a `deepnet.optimizers.schedules` object). Default: the
            optimizer's (0.1 for "sgd", 0.01 for "momentum", 0.001 for "rmsprop" and "adam").
            Not allowed together with an optimizer object, which carries its own.
        batch_size : int or None, default 32
            Columns per mini-batch; None means all m (plain, full-batch gradient descent).
        shuffle : bool, default True
            Visit the examples in a new random order every epoch (from the model's seed).
        target_cost : float, optional
            Stop once J <= target_cost.
        tol : float, optional
            Stop once |J_epoch − J_previous epoch| < tol; with `patience`, the least
            improvement that counts (0 when None).
        verbose : {0, 1, 2}, default 1
            0 prints nothing, 1 a progress bar (on a terminal), 2 one line per epoch.
        optimizer : str or deepnet.optimizers.Optimizer, optional
            "sgd" (exactly (16)–(17)), "momentum", "rmsprop", "adam", or an object such as
            ``dn.optimizers.Adam(learning_rate=1e-3)``. Default: the optimizer of the last
            fit (so calling fit again resumes it, state included; with `learning_rate`, the
            same rule at a new rate), else "sgd".
        validation_data : (X_val, Y_val) or (X_val, Y_val, sample_weight_val), optional
            Evaluated after every epoch: "val_cost" and, for classifiers, "val_accuracy"
            (weighted like the training cost when weights are given).
        validation_split : float in (0, 1), optional
            Hold out this fraction of the columns (the last ones, before any shuffling) as
            validation data.
        callbacks : list of deepnet.callbacks.Callback, optional
        sample_weight : array-like of shape (m,), optional
            A non-negative weight per example (column of X), not all 0: every mini-batch's J
            is Σ w_i L_i / Σ w_i, computed in Rust with its gradients, so a weight of 2 counts
            an example twice and a weight of 0 removes it (a mini-batch of weight 0 is skipped).
            The epoch's J (History's "cost") and accuracy are weighted the same way. With
            `validation_split`, the held-out columns' weights are dropped: validation is
            unweighted.
        patience : int, optional
            Stop once J has not fallen below its best by more than `tol` for `patience` epochs
            in a row (scikit-learn's ``n_iter_no_change``; Keras'
            ``EarlyStopping(monitor="cost", patience=patience, min_delta=tol)`` without
            restoring weights), with ``stop_reason == "converged"``. Checked in Rust, so the
            whole training stays one call.

        Returns
        -------
        History
            ``history.history`` holds "cost" per epoch and, when present, "data_cost" (J
            without the L2 penalty), "accuracy", "val_cost", "val_accuracy".

        Warns
        -----
        CostGrowthWarning
            Once per fit, when the J of an epoch is at least 100 times the J of the fit's
            first epoch (compared with the first epoch, not with the best so far: near a
            minimum a tiny J may rise a hundredfold harmlessly). It names the epoch and α:
            the learning rate is almost surely too large (try α/10). Training goes on. To
            stop instead, make it an error: ``warnings.simplefilter("error",
            deepnet.CostGrowthWarning)`` (inside ``with warnings.catch_warnings():`` to keep
            it local); fit then raises it, with ``history.stop_reason == "error"``,
            ``history.error`` the warning and `model.history` holding every epoch run. fit
            runs epoch by epoch when it has callbacks, validation data or a display; without
            them every epoch is one call into Rust, and the error comes after the last epoch:
            pass any callback (e.g. ``callbacks.Callback()``) to stop at the epoch itself.
            A J or parameter that becomes NaN or inf stops training by itself (``stop_reason
            == "diverged"``); the finite epochs before it are still checked for growth.

        Notes
        -----
        Several fits running at once in one process (threads, e.g. a hyperparameter search on
        joblib's threading backend) share deepnet's threads: while k run, each uses
        ``get_num_threads() // k`` of them (at least one), so they never oversubscribe the
        cores; results are identical whatever the thread count.

        Ctrl-C stops training within a fraction of a second, between two mini-batch steps, so
        the model stays consistent; ``model.history`` then holds the epochs completed (with
        ``stop_reason == "interrupted"``) and KeyboardInterrupt propagates.

        J of an epoch, ``history.cost[k]``: the mean of the epoch's mini-batch costs J_batch
        (each as `cost` defines it, L2 penalty included), weighted by batch size, or by the
        batch's total sample weight when `sample_weight` is given, each taken before its
        update. With ``batch_size=None`` it is exactly the lecture's J at the parameters the
        epoch started from; with mini-batches it differs from the lecture's J (over all m, at
        one set of parameters): it is Keras' running figure, cheap because it costs no extra
        forward pass.
        """
        from deepnet import callbacks as _callbacks

        self._begin_fit()
        try:
            return self._fit(
                _callbacks,
                X,
                Y,
                epochs,
                learning_rate,
                batch_size,
                shuffle,
                target_cost,
                tol,
                verbose,
                optimizer,
                validation_data,
                validation_split,
                callbacks,
                sample_weight,
                patience,
            )
        finally:
            self._end_fit()

    def _fit(
        self,
        _callbacks: Any,
        X: Any,
        Y: Any,
        epochs: Any,
        learning_rate: Any,
        batch_size: Any,
        shuffle: Any,
        target_cost: Any,
        tol: Any,
        verbose: Any,
        optimizer: Any,
        validation_data: Any,
        validation_split: Any,
        callbacks: Any,
        sample_weight: Any,
        patience: Any,
    ) -> History:
        X, Y = self._xy(X, Y)
        w = self._weights(sample_weight, X.shape[-1])
        epochs = check_positive_int(epochs, "epochs")
        target_cost = check_optional_nonneg_float(target_cost, "target_cost")
        tol = check_optional_nonneg_float(tol, "tol")
        rule = None if patience is None else (check_positive_int(patience, "patience"), inf, 0)
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
        if optimizer is None and self.optimizer is not None:
            optimizer = self.optimizer
            if learning_rate is not None:
                # the same rule at a new rate: its state is kept
                optimizer = type(optimizer)(learning_rate, **optimizer.hyper())
                learning_rate = None
        opt = _optimizers.get("sgd" if optimizer is None else optimizer, learning_rate)
        X, Y, val = self._validation(X, Y, validation_data, validation_split)
        m = X.shape[-1]
        if w is not None and w.shape[0] != m:
            w = w[:m]  # validation_split held out the last columns
            if not w.any():
                raise ValueError(
                    "sample_weight: every weight of the training part (before "
                    "validation_split's held-out columns) is 0"
                )
        batch = m if batch_size is None else min(check_positive_int(batch_size, "batch_size"), m)
        user_callbacks = list(callbacks or [])
        for i, cb in enumerate(user_callbacks):
            if not isinstance(cb, _callbacks.Callback):
                raise TypeError(
                    f"callbacks[{i}]: expected a deepnet.callbacks.Callback, got {cb!r}"
                )
        self._net.set_optimizer(json.dumps(opt.config()))
        self.optimizer = opt
        params = {
            "epochs": epochs,
            "learning_rate": opt.learning_rate,
            "optimizer": repr(opt),
            "batch_size": batch,
            "shuffle": bool(shuffle),
            "target_cost": target_cost,
            "tol": tol,
            "patience": rule[0] if rule else None,
            "m": m,
            "validation": val is not None,
            "sample_weight": w is not None,
        }
        history = History(params)
        self.history = history
        reporters: list[Any] = []
        if verbose == 1:
            bar = _callbacks.ProgressBar()
            if bar.enabled():  # off where output is not a terminal: no per-epoch work then
                reporters.append(bar)
        elif verbose == 2:
            reporters.append(_callbacks.EpochLogger())
        cbs = _callbacks.CallbackList(reporters + user_callbacks, self, params)
        # Without per-epoch work (callbacks, validation) the whole training is one call into
        # Rust; with it, one call per epoch. (A call takes at most 2**62 epochs, so any int
        # is a valid limit.)
        chunk = 1 if (val is not None or reporters or user_callbacks) else min(epochs, 2**62)
        has_penalty = any(getattr(layer, "l2", 0.0) for layer in self.layers if not layer._python)
        self.stop_training, self.stop_reason = False, None
        epochs_before = self._net.optimizer_counters[1]
        done, previous = 0, None
        growth_warned = False

        def record(
            costs: list[float],
            penalties: list[float],
            accuracies: list[float],
            check_growth: bool = True,
        ) -> None:
            nonlocal done, growth_warned
            for i, cost in enumerate(costs):
                done += 1
                logs: dict[str, float] = {"cost": cost}
                if has_penalty:
                    logs["data_cost"] = cost - penalties[i]
                if accuracies:
                    logs["accuracy"] = accuracies[i]
                if val is not None:
                    logs.update(self._validation_logs(*val))
                history._record(done, logs)
                if chunk == 1:
                    cbs.on_epoch_end(done, logs)
            # after recording, so that a warning made an error leaves History complete
            J = history.cost
            if check_growth and not growth_warned and J and J[0] > 0:
                grown = [k for k in range(len(J) - len(costs), len(J)) if J[k] >= 100 * J[0]]
                if grown:
                    growth_warned = True
                    warnings.warn(_growth_message(opt, history, grown[0]), CostGrowthWarning, 4)

        cbs.on_train_begin()
        try:
            while done < epochs:
                if chunk == 1:
                    cbs.on_epoch_begin(done + 1)
                costs, penalties, accuracies, stop, raised, rule = self._net.fit(
                    X,
                    Y,
                    min(chunk, epochs - done),
                    batch,
                    bool(shuffle),
                    target_cost,
                    tol,
                    previous,
                    w,
                    rule,
                )
                if raised is not None:
                    # a signal handler raised during the call (Ctrl-C): keep the epochs it
                    # completed, then raise
                    record(costs, penalties, accuracies, check_growth=False)
                    raise raised
                record(costs, penalties, accuracies)
                if costs:
                    previous = costs[-1]
                if stop == "diverged":
                    history.stop_reason = "diverged"
                    history.diverged_epoch = done + 1
                    if chunk == 1:
                        cbs.on_epoch_end(done + 1, {"cost": float("nan"), "diverged": True})
                    break
                if stop != "epochs":
                    history.stop_reason = stop
                    break
                if self.stop_training:
                    reason = self.stop_reason
                    if reason is not None and not isinstance(reason, str):
                        raise TypeError(
                            f"model.stop_reason: a callback set {reason!r}; expected a str "
                            "(or None for 'callback')"
                        )
                    history.stop_reason = reason or "callback"
                    break
        except KeyboardInterrupt:
            # The model is consistent: every layer was updated by the same complete steps.
            # The interrupt may have come after a Rust call returned and before its epochs
            # were recorded: the optimizer's epoch count says how many were applied.
            self._record_missing(history, epochs_before, has_penalty)
            history.stop_reason = "interrupted"
            raise
        except Exception as err:
            history.stop_reason = "error"
            history.error = err
            raise
        finally:
            cbs.on_train_end()
        return history

    def _record_missing(self, history: History, epochs_before: int, has_penalty: bool) -> None:
        """Records the epochs that Rust applied in this fit but History does not hold yet
        (they are the last ones of the last Rust call)."""
        applied = self._net.optimizer_counters[1] - epochs_before
        missing = applied - len(history.history.get("cost", []))
        last = self._net.last_fit()
        if missing <= 0 or last is None:
            return
        costs, penalties, accuracies, _ = last
        start = len(costs) - missing
        for i in range(max(start, 0), len(costs)):
            logs: dict[str, float] = {"cost": costs[i]}
            if has_penalty:
                logs["data_cost"] = costs[i] - penalties[i]
            if accuracies:
                logs["accuracy"] = accuracies[i]
            history._record(len(history.history.get("cost", [])) + 1, logs)

    def _validation(
        self, X: np.ndarray, Y: np.ndarray, data: Any, split: Any
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...] | None]:
        """Training X, Y and the validation pair (X_val, Y_val) or triple (with weights), or
        None."""
        if data is not None and split is not None:
            raise ValueError("give validation_data or validation_split, not both")
        if data is not None:
            if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
                raise TypeError(
                    "validation_data: expected (X_val, Y_val) or (X_val, Y_val, sample_weight_val)"
                    f", got {type(data).__name__}"
                    + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "")
                )
            try:
                Xv, Yv = self._xy(data[0], data[1])
                wv = self._weights(data[2], Xv.shape[-1]) if len(data) == 3 else None
            except (ValueError, TypeError) as err:
                raise type(err)(f"validation_data: {err}") from None
            return X, Y, (Xv, Yv) if wv is None else (Xv, Yv, wv)
        if split is None:
            return X, Y, None
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1:
            raise ValueError(f"validation_split: expected a number in (0, 1), got {split!r}")
        m = X.shape[-1]
        n_val = int(round(m * split))
        if n_val < 1 or n_val >= m:
            raise ValueError(
                f"validation_split={split!r} of {m} examples leaves {m - n_val} to train on "
                f"and {n_val} to validate: both need at least one"
            )
        # views, no copy: the last n_val examples validate, as in Keras
        cut = m - n_val
        return X[..., :cut], Y[:, :cut], (X[..., cut:], Y[:, cut:])

    def _validation_logs(
        self, Xv: np.ndarray, Yv: np.ndarray, wv: np.ndarray | None = None
    ) -> dict[str, float]:
        logs = {"val_cost": float(self._net.cost(Xv, Yv, wv))}
        if self.loss != "mse":
            logs["val_accuracy"] = accuracy(self._net.predict(Xv), Yv, self.loss, wv)
        return logs

    # -- description ------------------------------------------------------------------------

    def summary(self, print_fn: Callable[[str], Any] | None = None) -> None:
        """Prints the block diagram (figure 5): each layer, n^[l], g^[l], W/b shapes, parameters.

        Parameters
        ----------
        print_fn : callable, default print
            Receives the whole summary as one string.
        """
        (print_fn or print)(self._summary_text())

    def _summary_text(self) -> str:
        head = ("layer", "type", "output shape", "activation", "parameter shapes", "parameters")
        rows = [head]
        if self.built:
            rows.append(("0 (X)", "input", _shape_text(self.input_shape), "", "", ""))
        total = frozen = 0
        for l, layer in enumerate(self.layers, start=1):
            act = "" if layer._python else getattr(layer, "activation", "")
            if not layer._python and getattr(layer, "l2", 0.0):
                act += f", l2={layer.l2:g}"
            if self.built:
                info = self._net.layer_info(l - 1)
                shapes = info["params"]
                n = int(sum(np.prod(s) for _, s in shapes))
                total += n
                if not getattr(layer, "trainable", True):
                    frozen += n
                out = _shape_text(tuple(info["output_shape"]))
                params = ", ".join(f"{name} {tuple(s)}" for name, s in shapes)
                count = f"{n:,}"
            else:
                out, params, count = "?", "", "?"
            rows.append((str(l), _describe(layer), out, act, params, count))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = [
            "  ".join(
                c.rjust(w) if i == 5 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
            ).rstrip()
            for r in rows
        ]
        rule = "-" * len(max(lines, key=len))
        if not self.built:
            inputs = "n_x = ?"
        elif len(self.input_shape or ()) == 1:
            inputs = f"n_x = {self.n_x}"
        else:
            inputs = f"input shape = {tuple(self.input_shape or ())}"
        title = (
            f"Sequential: {inputs}, L = {len(self.layers)}, loss = {self.loss}, "
            f"dtype = {self.dtype}"
        )
        total_line = (
            f"total parameters: {total:,}" if self.built else "not built yet (input shape unknown)"
        )
        if frozen:
            total_line += f" (trainable: {total - frozen:,}, frozen: {frozen:,})"
        return "\n".join([title, rule, lines[0], rule, *lines[1:], rule, total_line])

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        shape = (
            f"n_x={self.n_x}"
            if self.input_shape is None or len(self.input_shape) == 1
            else f"input_shape={self.input_shape}"
        )
        return f"Sequential([{inner}], {shape}, loss={self.loss!r}, dtype={self.dtype!r})"

    # -- copies -----------------------------------------------------------------------------

    def copy(self, dtype: str | None = None) -> Sequential:
        """A new model with the same layers and parameters, optionally in another dtype."""
        layers = [layer.clone() for layer in self.layers]
        clone = Sequential(
            layers,
            input_shape=self.input_shape,
            loss=self.loss,
            seed=self.seed,
            dtype=dtype or self.dtype,
        )
        if self.built:
            for src, dst in zip(self.layers, clone.layers):
                for i, _ in enumerate(src.param_names):
                    dst._set(i, src._get(i))
        return clone


def _growth_message(opt: Any, history: History, k: int) -> str:
    """The CostGrowthWarning's text for epoch index k of `history`."""
    lr = opt.learning_rate
    alpha = f"{lr:g}" if isinstance(lr, (int, float)) else repr(lr)
    tenth = f" (learning_rate={lr / 10:g})" if isinstance(lr, (int, float)) else ""
    return (
        f"J grew from {history.cost[0]:.6g} in epoch {history.epoch[0]} to "
        f"{history.cost[k]:.6g} in epoch {history.epoch[k]} (at least 100 times): "
        f"the learning rate α = {alpha} of {type(opt).__name__} is probably too large "
        f"for this problem; try α/10{tenth}. To make this an error that ends fit: "
        'warnings.simplefilter("error", deepnet.CostGrowthWarning)'
    )


def from_bytes(data: bytes, classes: tuple[type, ...] = ()) -> Sequential:
    """A model from its file's bytes (how models unpickle); see `Sequential.from_bytes`.
    `classes` are the model's layers written in Python: unpickling them imported them."""
    return Sequential.from_bytes(data)


def load(path: Any) -> Sequential:
    """Reads a model written by `Sequential.save`.

    Returns a model that predicts bit-identically to the saved one and continues training
    where it stopped (same optimizer state and random streams). The file is validated whole
    before anything is allocated and never runs code.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        The file is not a valid deepnet model file (the message says what is wrong and names
        the field).
    """
    return Sequential.from_bytes(_io.read(path))


def _check_input_shape(shape: Any, name: str = "input_shape") -> tuple[int, ...]:
    """A tuple of positive sizes (at most deepnet's limit each)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or len(shape) == 0:
        raise TypeError(f"{name}: expected a tuple of positive ints such as (1, 40), got {shape!r}")
    return tuple(check_extent(n, name) for n in shape)


def _shape_text(shape: tuple[int, ...] | None) -> str:
    """(n, m), (C, L, m): a per-example shape with the example axis appended."""
    if shape is None:
        return "?"
    return "(" + ", ".join(str(n) for n in shape) + ", m)"


def _describe(layer: Layer) -> str:
    """A layer's type for the summary: its kind, with its main sizes."""
    if layer.kind == "dropout":
        return f"dropout({layer.rate})"  # type: ignore[attr-defined]
    if layer.kind == "bidirectional":
        return f"bidirectional({layer.layer.kind})"  # type: ignore[attr-defined]
    kind = f"{layer.kind} (Python)" if layer._python else layer.kind
    if not getattr(layer, "trainable", True):
        return f"{kind} (frozen)"
    return kind


def _unbuilt(
    layers: list[tuple[type, dict[str, Any]]], loss: str, seed: int, dtype: str
) -> Sequential:
    built = []
    for cls, config in layers:
        config = dict(config)
        frozen = config.pop("__trainable__", True) is False  # a layer written in Python
        layer = cls.from_config(config)
        if frozen:
            layer.trainable = False
        built.append(layer)
    return Sequential(built, loss=loss, seed=seed, dtype=dtype)


def _layer_config(layer: Layer) -> dict[str, Any]:
    if layer._python:
        config = layer._config()
        return config if layer.trainable else {**config, "__trainable__": False}
    spec = dict(layer.spec())
    spec.pop("type")
    return spec


def accuracy(yhat: np.ndarray, Y: np.ndarray, loss: str, w: np.ndarray | None = None) -> float:
    """Classification accuracy of outputs `yhat` against targets `Y`, both (n_y, m); with
    sample weights `w` (m,), each example counts w_i times."""
    if loss == "categorical_crossentropy" and Y.shape[0] > 1:
        right = np.argmax(yhat, axis=0) == np.argmax(Y, axis=0)
    else:
        right = np.mean((yhat > 0.5) == (Y > 0.5), axis=0)
    return float(np.average(right, weights=w))
