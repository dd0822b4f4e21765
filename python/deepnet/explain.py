"""One training step written out as the lecture writes it: `Sequential.explain`.

Every line names an equation of the lecture, the operation, and the shapes it works on, so a
student can follow forward (9)–(10), the cost, backward (11)–(15) and the update (16)–(17)
through any network (dense, convolutional, pooling, recurrent layers), with the numbers of the
real model: J, and the size ‖·‖ of every gradient. Nothing is changed: the parameters, the
optimizer and the random streams are those the model had before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from deepnet.model import Sequential

_LOSSES = {
    "categorical_crossentropy": "L = −Σ_k y_k log ŷ_k (categorical cross-entropy)",
    "binary_crossentropy": "L = −Σ_k [y_k log ŷ_k + (1 − y_k) log(1 − ŷ_k)] (binary cross-entropy)",
    "mse": "L = (1/n_y) Σ_k (ŷ_k − y_k)² (mean squared error)",
}

_POOL = {
    "max_pooling1d": "maxpool",
    "max_pooling2d": "maxpool",
    "average_pooling1d": "avgpool",
    "average_pooling2d": "avgpool",
    "global_max_pooling1d": "global maxpool",
    "global_max_pooling2d": "global maxpool",
    "global_average_pooling1d": "global avgpool",
    "global_average_pooling2d": "global avgpool",
}

_RECURRENT = {"simple_rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


def _s(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _norm(a: np.ndarray) -> str:
    return f"‖·‖ = {float(np.linalg.norm(a.astype(np.float64))):.4g}"


class _Text:
    """Lines of equation, operation and shapes, in two aligned columns."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def head(self, text: str) -> None:
        self.rows.append(("", text, ""))

    def eq(self, number: str, operation: str, shapes: str = "") -> None:
        self.rows.append((number, operation, shapes))

    def render(self) -> str:
        width = max((len(op) for num, op, sh in self.rows if num or sh), default=0)
        lines = []
        for number, operation, shapes in self.rows:
            if not number and not shapes:
                lines.append(operation)
            else:
                lines.append(f"  {number:<11}{operation:<{width}}   {shapes}".rstrip())
        return "\n".join(lines)


def _activation(layer: Any) -> str | None:
    # a layer written in Python has no g known to deepnet, whatever its attributes
    return None if layer._python else getattr(layer, "activation", None)


def explain(
    model: Sequential,
    X: Any,
    Y: Any,
    print_fn: Callable[[str], Any] | None = None,
) -> str:
    """Prints one training step of section 7 on X, Y, equation by equation, with shapes.

    Forward (9)–(10) layer by layer, the cost J, backward (11)–(15) from the output down, and
    the update (16)–(17) of the optimizer the model would use next (its last fit's, else
    "sgd"). Each line is the equation's number, the operation, and the shapes of its operands
    and result (e.g. ``(9)  Z[1] = W[1] A[0] + b[1]   (64, 64)·(64, 32) + (64, 1) → (64, 32)``);
    the cost line gives J, the gradient lines the size ‖·‖ of each gradient. The model is
    not changed.

    Parameters
    ----------
    model : Sequential
    X, Y : array-like
        A batch, as `Sequential.fit` takes it (Y may be integer class labels).
    print_fn : callable, optional
        Receives the text (default: print).

    Returns
    -------
    str
        The text printed.
    """
    X, Y = model._xy(X, Y)
    m = X.shape[-1]
    cache = model.forward(X)
    J = model.cost(X, Y)
    grads = model.gradients(X, Y)
    L = len(model.layers)
    t = _Text()
    t.head(
        f"One training step of section 7 on m = {m} examples: {L} layers, loss "
        f"{model.loss!r}, {model.dtype}"
    )
    t.head("")
    t.head("Forward, (9)–(10), for l = 1..L:")
    for l, layer in enumerate(model.layers, 1):
        _forward(t, l, L, layer, cache)
    t.head("")
    t.head("Cost:")
    t.eq("", f"J = (1/m) Σ_i L(ŷ(i), y(i)) = {J:.6g}", _LOSSES[model.loss])
    penalty = model._net.penalty
    if penalty:
        t.eq("", f"  + Σ_l (λ/2)‖W[l]‖² = {penalty:.6g}  (L2, included in J)")
    t.head("")
    t.head("Backward, (11)–(15), for l = L..1:")
    last = model.layers[-1]
    paired = (model.loss, _activation(last)) in (
        ("categorical_crossentropy", "softmax"),
        ("binary_crossentropy", "sigmoid"),
    )
    out = _s(cache.A[L].shape)
    if paired:
        t.eq(
            "(15)·(11)",
            f"dZ[{L}] = Ŷ − Y   ({_activation(last)} with this loss: (11)·(15) collapse)",
            out,
        )
    else:
        t.eq(
            "(15)",
            f"dA[{L}] = ∂L/∂Ŷ, column by column (the 1/m comes in (12)–(13))",
            out,
        )
    for l in range(L, 0, -1):
        _backward(t, l, model.layers[l - 1], cache, grads[l - 1], skip_11=paired and l == L)
    t.head("")
    _update(t, model)
    text = t.render()
    (print_fn or print)(text)
    return text


def _forward(t: _Text, l: int, L: int, layer: Any, cache: Any) -> None:
    a_prev, a = cache.A[l - 1].shape, cache.A[l].shape
    kind = layer.kind
    g = _activation(layer)
    yhat = " = Ŷ" if l == L else ""
    if layer._python:
        t.eq(
            "",
            f"A[{l}] = {type(layer).__name__}.forward(A[{l - 1}]){yhat}   (written in Python)",
            f"{_s(a_prev)} → {_s(a)}",
        )
    elif kind in ("dense", "conv1d", "conv2d"):
        W = _s(layer.W.shape)
        conv = kind != "dense"
        product = f"W[{l}] ∗ A[{l - 1}]" if conv else f"W[{l}] A[{l - 1}]"
        shapes = f"{W} ∗ {_s(a_prev)}" if conv else f"{W}·{_s(a_prev)}"
        if "b" in layer.param_names:
            product += f" + b[{l}]"
            shapes += f" + {_s(layer.b.shape)}"
        else:
            product += "   (use_bias=False)"
        if conv:
            product += "   (convolution: (9) on every window)"
        t.eq("(9)", f"Z[{l}] = {product}", f"{shapes} → {_s(a)}")
        t.eq("(10)", f"A[{l}] = {g}(Z[{l}]){yhat}", _s(a))
    elif kind in _POOL:
        t.eq("", f"A[{l}] = {_POOL[kind]}(A[{l - 1}])", f"{_s(a_prev)} → {_s(a)}")
    elif kind == "flatten":
        t.eq("", f"A[{l}] = flatten(A[{l - 1}])   (a view, no copy)", f"{_s(a_prev)} → {_s(a)}")
    elif kind == "dropout":
        t.eq(
            "",
            f"A[{l}] = A[{l - 1}] ⊙ mask / (1 − {layer.rate}) when training; A[{l - 1}] here",
            _s(a),
        )
    elif kind in _RECURRENT or kind == "bidirectional":
        name = (
            _RECURRENT[kind]
            if kind in _RECURRENT
            else f"Bidirectional({_RECURRENT.get(layer.layer.kind, layer.layer.kind)})"
        )
        steps = a_prev[-2]
        t.eq(
            "(9)–(10)",
            f"h_t = {name}(x_t, h_(t−1)), t = 1..{steps}: (9)–(10) with Wx, Wh, bx, bh",
            f"{_s(a_prev)} → {_s(a)}",
        )
    else:  # a layer kind this explanation does not know yet
        t.eq("", f"A[{l}] = {layer!r}(A[{l - 1}])", f"{_s(a_prev)} → {_s(a)}")


def _backward(
    t: _Text, l: int, layer: Any, cache: Any, grads: tuple[np.ndarray, ...], skip_11: bool
) -> None:
    kind = layer.kind
    a_prev, a = cache.A[l - 1].shape, cache.A[l].shape
    first = l == 1
    g = _activation(layer)
    if layer._python:
        names = "".join(f", d{name}[{l}]" for name in layer.param_names)
        t.eq(
            "",
            f"dA[{l - 1}]{names} = {type(layer).__name__}.backward(dA[{l}], A[{l - 1}])",
            f"{_s(a)} → {_s(a_prev)}" + ("   (dA[0] unused)" if first else ""),
        )
        for name, grad in zip(layer.param_names, grads):
            t.eq("(12)–(13)", f"d{name}[{l}]", f"→ {_s(grad.shape)}   {_norm(grad)}")
    elif kind in ("dense", "conv1d", "conv2d"):
        if not skip_11:
            t.eq("(11)", f"dZ[{l}] = dA[{l}] * {g}′(Z[{l}])   (element by element)", _s(a))
        dW, db = (grads[0], grads[1]) if len(grads) == 2 else (grads[0], None)
        if kind == "dense":
            t.eq(
                "(12)",
                f"dW[{l}] = (1/m) dZ[{l}] A[{l - 1}]ᵀ",
                f"{_s(a)}·{_s(a_prev[::-1])} → {_s(dW.shape)}   {_norm(dW)}",
            )
            if db is not None:
                shapes = f"{_s(a)} → {_s(db.shape)}   {_norm(db)}"
                t.eq("(13)", f"db[{l}] = (1/m) Σ_i dz[{l}](i)", shapes)
            if first:
                t.eq("(14)", "not computed for the first layer")
            else:
                W = layer.W.shape
                t.eq(
                    "(14)",
                    f"dA[{l - 1}] = W[{l}]ᵀ dZ[{l}]",
                    f"{_s(W[::-1])}·{_s(a)} → {_s(a_prev)}",
                )
        else:
            t.eq(
                "(12)",
                f"dW[{l}] = (1/m) dZ[{l}] ⋆ A[{l - 1}]   (each window's (12), summed)",
                f"→ {_s(dW.shape)}   {_norm(dW)}",
            )
            t.eq(
                "(13)",
                f"db[{l}] = (1/m) Σ over examples and positions of dZ[{l}]",
                f"→ {_s(db.shape)}   {_norm(db)}",
            )
            if first:
                t.eq("(14)", "not computed for the first layer")
            else:
                t.eq(
                    "(14)",
                    f"dA[{l - 1}] = W[{l}]ᵀ dZ[{l}], put back on every window (col2im)",
                    f"{_s(a)} → {_s(a_prev)}",
                )
    elif kind in _POOL:
        how = "to each window's maximum" if "max" in _POOL[kind] else "evenly over each window"
        t.eq("", f"dA[{l - 1}] = dA[{l}] routed {how}", f"{_s(a)} → {_s(a_prev)}")
    elif kind == "flatten":
        t.eq("", f"dA[{l - 1}] = reshape(dA[{l}])", f"{_s(a)} → {_s(a_prev)}")
    elif kind == "dropout":
        t.eq("", f"dA[{l - 1}] = dA[{l}] ⊙ mask / (1 − {layer.rate})", _s(a))
    else:  # recurrent
        t.eq(
            "(11)–(14)",
            "backpropagation through time: (11)–(14) at every step t = T..1, (12)–(13) summed",
        )
        for name, grad in zip(layer.param_names, grads):
            t.eq("(12)–(13)", f"d{name}[{l}]", f"→ {_s(grad.shape)}   {_norm(grad)}")
        if not first:
            t.eq("(14)", f"dA[{l - 1}] = the input gradient of every step", _s(a_prev))


def _update(t: _Text, model: Sequential) -> None:
    opt = model.optimizer
    name = "sgd" if opt is None else type(opt).__name__.lower()
    rate = 0.1 if opt is None else opt.learning_rate
    t.head(
        f"Update, for every layer with parameters ({'the next fit: ' if opt else ''}{name}, "
        f"α = {rate}):"
    )
    if name == "sgd":
        t.eq("(16)", "W[l] = W[l] − α dW[l]")
        t.eq("(17)", "b[l] = b[l] − α db[l]")
    elif name == "momentum":
        t.eq("(16)–(17)", "v = β v + dW;  W[l] = W[l] − α v   (and the same for b)")
    elif name == "rmsprop":
        t.eq("(16)–(17)", "s = ρ s + (1 − ρ) dW²;  W[l] = W[l] − α dW / (√s + ε)")
    else:
        t.eq(
            "(16)–(17)",
            "m = β1 m + (1 − β1) dW;  v = β2 v + (1 − β2) dW²;  W[l] = W[l] − α m̂ / (√v̂ + ε)",
        )
    frozen = [l for l, layer in enumerate(model.layers, 1) if not getattr(layer, "trainable", True)]
    if frozen:
        which = ", ".join(str(l) for l in frozen)
        t.eq("", f"not for layer {which}: frozen (trainable=False), its W and b stay as they are")
