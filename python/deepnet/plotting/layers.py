"""The pictures of section 2 of the lecture (the first layers extract simple features): a dense
layer's weights as images, convolutional filters, feature maps and hidden activations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepnet.plotting._common import _class_labels, _pyplot

__all__ = ["plot_activations", "plot_feature_maps", "plot_filters", "plot_weights"]

# The lecture (section 2): the first layers extract simple features (edges, corners), later
# layers combine them. These draw W^[l] and A^[l] (eqs. (9)–(10)) so that a class can see it.

_CONV = ("conv1d", "conv2d")
_SPATIAL = _CONV + ("max_pooling1d", "max_pooling2d", "average_pooling1d", "average_pooling2d")
_RECURRENT = ("simple_rnn", "gru", "lstm", "bidirectional")
_GLOBAL = (
    "global_average_pooling1d",
    "global_average_pooling2d",
    "global_max_pooling1d",
    "global_max_pooling2d",
)


def plot_weights(
    model_or_layer: Any,
    layer: Any = None,
    image_shape: Any = None,
    n: int | None = None,
    ax: Any = None,
) -> Any:
    """Draws the weights of a dense layer's units as small images, one per unit.

    Row i of W^[l], shape (n^[l], n^[l-1]), holds the weights with which unit i weighs the
    n^[l-1] inputs in (9) z_i = Σ_j W[i, j] a_j + b_i: drawn as an image of the input's shape,
    it is the pattern that excites the unit most (the lecture's section 2: the first layers
    extract simple features). The first `n` rows are tiles of one image, in a grid of ⌈√n⌉
    columns, unit i at row i // columns and column i % columns, separated by blank lines;
    one diverging colour map centred at 0 (red positive, blue negative, the same scale for all
    units) with a colour bar.

    Parameters
    ----------
    model_or_layer : Sequential or Dense
        A built model, or one of its dense layers (then `layer` is not given).
    layer : int or Dense, optional
        Which layer of the model: an index into ``model.layers`` (0 is the first layer, the
        lecture's l = 1; negative ones count from the end) or the layer itself. By default the
        first dense layer.
    image_shape : (int, int), optional
        (h, w) with h·w = n^[l-1], e.g. (8, 8) for the 8×8 digits. By default the shape of what
        the layer reads before it was flattened: (height, width) for a 1-channel image,
        (channels·height, width) for several channels (stacked vertically), (channels, length)
        for signals; (√n, √n) for vectors of a square size; (1, n^[l-1]) otherwise.
    n : int, optional
        How many units to draw, the first ones; by default all n^[l].
    ax : matplotlib Axes, optional
        Where to draw; by default the Axes of a new figure.

    Returns
    -------
    matplotlib Axes
        Its one image (``ax.images[0]``) is the grid of tiles, NaN between them; the title
        names the layer.

    Raises
    ------
    TypeError
        When the layer is not a dense layer, or an argument has the wrong type.
    ValueError
        When `layer` is out of range, `image_shape` does not hold n^[l-1] values, or `n` is not
        in 1..n^[l].
    RuntimeError
        When the model is not built yet (no input shape).
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import deepnet as dn
    >>> model = dn.Sequential([dn.Dense(16, activation="relu"), dn.Dense(10)], n_x=64,
    ...                       loss="mse")
    >>> ax = dn.plot_weights(model, image_shape=(8, 8))       # 16 units in 4 × 4 tiles of 8 × 8
    >>> ax.images[0].get_array().shape                        # 4·8 + 3 blank lines
    (35, 35)
    """
    model, index, dense = _chosen_layer(
        "plot_weights", model_or_layer, layer, ("dense",), "a Dense layer"
    )
    W = np.asarray(dense.W, dtype=np.float64)  # (n^[l], n^[l-1])
    h, w = _tile_shape(model, index, W.shape[1], image_shape)
    count = _count(n, W.shape[0], "n", f"units in layer {index + 1}")
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    tiles = _in_grid(W[:count].reshape(count, h, w))
    _draw_tiles(ax, plt, tiles, diverging=True, label="weight W[i, j]")
    ax.set_title(f"W^[{index + 1}] rows of {_layer_name(dense, index)}: unit i's weights")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_filters(model: Any, layer: Any = None, ax: Any = None) -> Any:
    """Draws the filters of a convolutional layer: its W, channel by channel.

    W[f, c] is what filter f looks for in input channel c (the lecture's section 2: the first
    layers extract simple features such as edges). A Conv2D W, (filters, channels, kh, kw),
    is drawn as kh × kw tiles, one row per filter f and one column per channel c (with a
    single channel the filters wrap into a grid of ⌈√filters⌉ columns, filter f at row
    f // columns, column f % columns); a Conv1D W, (filters, channels, k), as 1 × k strips
    (the taps j = 0..k − 1 left to right), one row per filter and one column per channel: a
    heat map. One diverging colour map centred at 0, the same scale for every filter, with a
    colour bar.

    Parameters
    ----------
    model : Sequential or Conv1D or Conv2D
        A built model, or one of its convolutional layers.
    layer : int or layer, optional
        An index into ``model.layers`` (0 is the first layer, l = 1) or the layer itself; by
        default the first convolutional layer.
    ax : matplotlib Axes, optional
        Where to draw; by default the Axes of a new figure.

    Returns
    -------
    matplotlib Axes
        Its one image (``ax.images[0]``) is the grid of tiles, NaN between them; y ticks name
        the filters and x ticks the channels (unless the filters wrap into a grid).

    Raises
    ------
    TypeError
        When the layer is not Conv1D or Conv2D.
    ValueError
        When `layer` is out of range.
    RuntimeError
        When the model is not built yet.
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import deepnet as dn
    >>> model = dn.Sequential([dn.Conv2D(4, 3), dn.Flatten(), dn.Dense(2)],
    ...                       input_shape=(2, 8, 8), loss="mse")
    >>> ax = dn.plot_filters(model)               # 4 filters × 2 channels of 3 × 3
    >>> ax.images[0].get_array().shape
    (15, 7)
    """
    model, index, conv = _chosen_layer(
        "plot_filters", model, layer, _CONV, "a convolutional layer (Conv1D or Conv2D)"
    )
    W = np.asarray(conv.W, dtype=np.float64)
    if W.ndim == 3:  # Conv1D (filters, channels, k): each filter-channel pair a 1 × k strip
        W = W[:, :, None, :]
    filters, channels = W.shape[:2]
    wrap = conv.kind == "conv2d" and channels == 1
    tiles = _in_grid(W[:, 0]) if wrap else W
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    _draw_tiles(ax, plt, tiles, diverging=True, label="weight")
    ax.set_title(f"filters W of {_layer_name(conv, index)}")
    if wrap:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"filter f at row f // {tiles.shape[1]}, column f % {tiles.shape[1]}")
    else:
        _tile_ticks(ax, tiles.shape, "filter f", "channel c")
    return ax


def plot_feature_maps(
    model: Any,
    x: Any,
    layer: Any = None,
    n: int | None = None,
    ax: Any = None,
) -> Any:
    """Draws what a convolutional or pooling layer outputs for one example: A^[l], channel by
    channel.

    The model runs forward (`Sequential.forward`, eqs. (9)–(10)) on the example x; channel c
    of A^[l] shows where filter c found its pattern in x. An image layer's (channels, height,
    width) output is drawn as one tile per channel in a grid of ⌈√channels⌉ columns (channel c
    at row c // columns, column c % columns); a signal layer's (channels, length) output as a
    heat map, one row per channel. One colour scale for every channel: diverging and centred
    at 0 when some value is negative, from 0 up otherwise (relu, max pooling), with a colour
    bar.

    Parameters
    ----------
    model : Sequential
        A built model (it has an input_shape).
    x : array-like of shape input_shape, or input_shape + (1,)
        One example.
    layer : int or layer, optional
        An index into ``model.layers`` (0 is the first layer, whose output is A^[1]) or the
        layer itself: Conv1D/Conv2D, MaxPooling1D/2D or AveragePooling1D/2D. By default the
        first convolutional layer.
    n : int, optional
        How many channels to draw, the first ones; by default all.
    ax : matplotlib Axes, optional
        Where to draw; by default the Axes of a new figure.

    Returns
    -------
    matplotlib Axes
        Its one image (``ax.images[0]``) holds the channels' tiles, NaN between them.

    Raises
    ------
    TypeError
        When the layer is not a convolutional or pooling layer.
    ValueError
        When `layer` is out of range, x is not one example of the model's input shape, the
        model is not built, or `n` is not in 1..channels.
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, deepnet as dn
    >>> model = dn.Sequential([dn.Conv2D(4, 3, activation="relu"), dn.MaxPooling2D(),
    ...                        dn.Flatten(), dn.Dense(10, activation="softmax")],
    ...                       input_shape=(1, 8, 8), loss="categorical_crossentropy")
    >>> x = np.zeros((1, 8, 8)); x[0, 2:6, 4] = 1.0                # a vertical bar
    >>> ax = dn.plot_feature_maps(model, x)        # A^[1]: 4 channels of 6 × 6, 2 × 2 tiles
    >>> ax.images[0].get_array().shape
    (13, 13)
    >>> ax = dn.plot_feature_maps(model, x, layer=1)        # after pooling: 3 × 3 each
    >>> ax.images[0].get_array().shape
    (7, 7)
    """
    model, index, chosen = _chosen_layer(
        "plot_feature_maps",
        model,
        layer,
        _SPATIAL,
        "a convolutional or pooling layer (Conv1D/2D, MaxPooling1D/2D, AveragePooling1D/2D)",
    )
    shape = model.input_shape
    if shape is None:
        raise ValueError(
            "plot_feature_maps needs a built model (give it input_shape, or fit it): one "
            "example alone does not say where its example axis is"
        )
    x = np.asarray(x)
    if x.shape == tuple(shape):
        x = x[..., None]
    elif x.shape != tuple(shape) + (1,):
        raise ValueError(
            f"x: expected one example of shape {tuple(shape)} (or {tuple(shape) + (1,)}), "
            f"got {x.shape}"
        )
    A = np.asarray(model.forward(x).A[index + 1], dtype=np.float64)[..., 0]
    count = _count(n, A.shape[0], "n", f"channels in the output of layer {index + 1}")
    A = A[:count]
    tiles = _in_grid(A) if A.ndim == 3 else A[:, None, None, :]
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    _draw_tiles(ax, plt, tiles, diverging=bool(np.nanmin(A) < 0), label=f"A^[{index + 1}]")
    ax.set_title(f"A^[{index + 1}] of {_layer_name(chosen, index)} for one example")
    if A.ndim == 3:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"channel c at row c // {tiles.shape[1]}, column c % {tiles.shape[1]}")
    else:
        _tile_ticks(ax, tiles.shape, "channel c", None)
        ax.set_xlabel("position")
    return ax


def plot_activations(
    model: Any,
    X: Any,
    y: Any = None,
    layer: Any = None,
    ax: Any = None,
) -> Any:
    """Draws the activations A^[l] of a hidden layer over many examples: a heat map with one row
    per unit and one column per example.

    The model runs forward (`Sequential.forward`, eqs. (9)–(10)) on X; row j is unit j's
    activation a_j^[l](i) for every example i. With labels y, the examples are grouped by
    class (a stable sort: within a class they keep their order), the groups separated by
    vertical lines and named on the x axis: units that respond to one class stand out as
    blocks. One colour scale: diverging and centred at 0 when some activation is negative
    (tanh, linear), from 0 up otherwise (relu, sigmoid), with a colour bar.

    Parameters
    ----------
    model : Sequential
        A model; an unbuilt one is built from X, like `predict` does.
    X : array-like of shape (n_x, m), or the model's input_shape + (m,)
        The examples.
    y : array-like of shape (m,) or (n_y, m), optional
        Their classes: integer labels, or one-hot or 0/1 columns.
    layer : int or layer, optional
        An index into ``model.layers`` (0 is the first layer, whose output is A^[1]) or the
        layer itself: a layer whose output is (n^[l], m) — Dense, SimpleRNN, GRU, LSTM or
        Bidirectional without return_sequences, or a global pooling layer. By default the
        first dense or recurrent layer.
    ax : matplotlib Axes, optional
        Where to draw; by default the Axes of a new figure.

    Returns
    -------
    matplotlib Axes
        Its one image (``ax.images[0]``) is A^[l], shape (n^[l], m), its columns in the drawn
        order (grouped by class when y is given).

    Raises
    ------
    TypeError
        When the layer is not one whose output is (n^[l], m).
    ValueError
        When `layer` is out of range, the layer returns sequences, or X or y has the wrong
        shape.
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, deepnet as dn
    >>> model = dn.Sequential([dn.Dense(5, activation="relu"), dn.Dense(1)], n_x=2, loss="mse")
    >>> X = np.random.default_rng(0).normal(size=(2, 30))
    >>> y = (X[0] > 0).astype(int)
    >>> ax = dn.plot_activations(model, X, y)                 # 5 units × 30 examples
    >>> ax.images[0].get_array().shape, [t.get_text() for t in ax.get_xticklabels()]
    ((5, 30), ['0', '1'])
    """
    model, index, chosen = _chosen_layer(
        "plot_activations",
        model,
        layer,
        ("dense",) + _RECURRENT + _GLOBAL,
        "a dense, recurrent or global pooling layer (its output is (n^[l], m))",
    )
    if getattr(chosen, "return_sequences", False) or getattr(
        getattr(chosen, "layer", None), "return_sequences", False
    ):
        raise ValueError(
            f"plot_activations draws (n^[l], m) activations; layers[{index}] is {chosen!r}, "
            "whose A^[l] is (units, time, m): choose a layer without return_sequences"
        )
    A = np.asarray(model.forward(X).A[index + 1], dtype=np.float64)  # (n^[l], m)
    m = A.shape[1]
    labels = None if y is None else _class_labels(y, m)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    if labels is not None:
        order = np.argsort(labels, kind="stable")
        A, labels = A[:, order], labels[order]
    diverging = bool(np.nanmin(A) < 0)
    vmax = float(np.nanmax(np.abs(A))) or 1.0
    image = ax.imshow(
        A,
        aspect="auto",
        interpolation="nearest",
        cmap="RdBu_r" if diverging else "viridis",
        vmin=-vmax if diverging else 0.0,
        vmax=vmax,
    )
    ax.figure.colorbar(image, ax=ax, label=f"a^[{index + 1}]")
    ax.set_ylabel(f"unit j of layer {index + 1}")
    ax.set_title(f"A^[{index + 1}] of {_layer_name(chosen, index)} over {m} examples")
    if labels is None:
        ax.set_xlabel("example i")
        return ax
    classes, starts = np.unique(labels, return_index=True)
    ends = np.append(starts[1:], m)
    for start in starts[1:]:
        ax.axvline(start - 0.5, color="black", linewidth=1)
    ax.set_xticks((starts + ends - 1) / 2, [str(c) for c in classes])
    ax.set_xlabel("examples, grouped by class")
    return ax


def _chosen_layer(
    function: str, model: Any, layer: Any, kinds: tuple[str, ...], what: str
) -> tuple[Any, int, Any]:
    """(model, index into model.layers, the layer) for `layer`, checked to be one of `kinds`."""
    from deepnet.layers import Layer

    if isinstance(model, Layer):
        if layer is not None:
            raise TypeError(f"{function}: give `layer` with a model, not with a layer")
        if model._model is None:
            raise RuntimeError(f"{model!r} belongs to no model: it has no parameters yet")
        model, layer = model._model, model
    layers = getattr(model, "layers", None)
    if not isinstance(layers, list):
        raise TypeError(f"{function}: expected a Sequential model, got {type(model).__name__}")
    if layer is None:
        index = next((i for i, lay in enumerate(layers) if lay.kind in kinds), None)
        if index is None:
            raise TypeError(
                f"{function} needs {what}; this model has none: "
                + ", ".join(type(lay).__name__ for lay in layers)
            )
    elif isinstance(layer, Layer):
        index = next((i for i, lay in enumerate(layers) if lay is layer), None)
        if index is None:
            raise ValueError(f"layer: {layer!r} is not one of this model's layers")
    elif isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -len(layers) <= layer < len(layers):
            raise ValueError(
                f"layer: expected an index into model.layers, 0..{len(layers) - 1} (or "
                f"negative from the end), got {layer}"
            )
        index = int(layer) % len(layers)
    else:
        raise TypeError(f"layer: expected an index into model.layers or a layer, got {layer!r}")
    chosen = layers[index]
    if chosen.kind not in kinds:
        raise TypeError(f"{function} needs {what}; layers[{index}] (l = {index + 1}) is {chosen!r}")
    return model, index, chosen


def _layer_name(layer: Any, index: int) -> str:
    return f"layer {index + 1} ({type(layer).__name__})"


def _count(n: Any, total: int, name: str, what: str) -> int:
    """`n` checked to be in 1..total; `total` when None."""
    if n is None:
        return total
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {n!r}")
    if not 1 <= n <= total:
        raise ValueError(f"{name}: expected 1..{total} (the {what}), got {n}")
    return int(n)


def _tile_shape(model: Any, index: int, n_prev: int, image_shape: Any) -> tuple[int, int]:
    """(h, w) of one unit's weights: `image_shape`, or the shape the layer's input had before
    Flatten (or Dropout) layers."""
    if image_shape is not None:
        if (
            not isinstance(image_shape, (tuple, list))
            or len(image_shape) != 2
            or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                for d in image_shape
            )
        ):
            raise TypeError(f"image_shape: expected (h, w), two positive ints, got {image_shape!r}")
        h, w = (int(d) for d in image_shape)
        if h * w != n_prev:
            raise ValueError(
                f"image_shape: expected (h, w) with h·w = n^[{index}] = {n_prev} (the inputs "
                f"of layer {index + 1}), got {tuple(image_shape)} (h·w = {h * w})"
            )
        return h, w
    k = index - 1
    while k >= 0 and model.layers[k].kind in ("flatten", "dropout"):
        k -= 1
    shape = tuple(model.input_shape) if k < 0 else tuple(model.layers[k].output_shape)
    if len(shape) == 3 and int(np.prod(shape)) == n_prev:
        return shape[0] * shape[1], shape[2]
    if len(shape) == 2 and int(np.prod(shape)) == n_prev:
        return shape[0], shape[1]
    side = math.isqrt(n_prev)
    return (side, side) if side * side == n_prev else (1, n_prev)


def _in_grid(images: np.ndarray) -> np.ndarray:
    """(n, h, w) images as (rows, cols, h, w) tiles, ⌈√n⌉ columns, NaN where none is left."""
    count, h, w = images.shape
    cols = int(np.ceil(np.sqrt(count)))
    rows = -(-count // cols)
    tiles = np.full((rows * cols, h, w), np.nan)
    tiles[:count] = images
    return tiles.reshape(rows, cols, h, w)


def _mosaic(tiles: np.ndarray) -> np.ndarray:
    """(rows, cols, h, w) tiles as one image, a line of NaN (drawn blank) between them."""
    rows, cols, h, w = tiles.shape
    padded = np.full((rows, h + 1, cols, w + 1), np.nan)
    padded[:, :h, :, :w] = tiles.transpose(0, 2, 1, 3)
    return padded.reshape(rows * (h + 1), cols * (w + 1))[:-1, :-1]


def _draw_tiles(ax: Any, plt: Any, tiles: np.ndarray, diverging: bool, label: str) -> None:
    image = _mosaic(tiles)
    finite = image[np.isfinite(image)]
    top = float(np.max(np.abs(finite))) if finite.size else 0.0
    top = top or 1.0  # all zeros: any scale shows them
    drawn = ax.imshow(
        image,
        cmap="RdBu_r" if diverging else "viridis",
        vmin=-top if diverging else 0.0,
        vmax=top,
        interpolation="nearest",
    )
    ax.figure.colorbar(drawn, ax=ax, label=label)


def _tile_ticks(ax: Any, shape: tuple[int, ...], row_label: str, col_label: str | None) -> None:
    """Ticks at the centres of the tiles' rows (and columns), numbered from 0."""
    rows, cols, h, w = shape
    ax.set_yticks([r * (h + 1) + (h - 1) / 2 for r in range(rows)], [str(r) for r in range(rows)])
    ax.set_ylabel(row_label)
    if col_label is None:
        return
    ax.set_xticks([c * (w + 1) + (w - 1) / 2 for c in range(cols)], [str(c) for c in range(cols)])
    ax.set_xlabel(col_label)
