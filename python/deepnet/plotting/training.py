"""Plots of training: the cost curve J per epoch, and the decision regions of a model over two
of its inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepnet.plotting._common import _class_colors, _class_labels, _pyplot

__all__ = ["plot_decision_boundary", "plot_history"]


def plot_history(history: Any, ax: Any = None) -> Any:
    """Draws the cost J per epoch of a `History`, with validation cost and accuracies if any.

    The training cost ``history.history["cost"]`` is drawn against ``history.epoch``, and so
    are, when present, "val_cost" (validation cost) and "data_cost" (J without the L2 penalty,
    dashed). "accuracy" and "val_accuracy", when present, go on a second y axis on the right
    (dotted lines). One legend lists every line, above the Axes where it covers no curve.

    Parameters
    ----------
    history : History
        What `Sequential.fit` returned (also ``model.history``).
    ax : matplotlib Axes, optional
        Where to draw; by default the Axes of a new figure (with a layout that leaves room for
        the legend).

    Returns
    -------
    matplotlib Axes
        The Axes of the costs (x label "epoch", y label "cost J"). The accuracy axis, when
        there is one, is its twin (``ax.figure.axes``).

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(layout="constrained")
    values = history.history
    epochs = list(history.epoch)
    costs = [
        ("cost", "training cost J", "-", "C0"),
        ("val_cost", "validation cost J", "-", "C1"),
        ("data_cost", "training cost J without L2", "--", "C0"),
    ]
    for key, label, style, color in costs:
        if key in values:
            ax.plot(epochs, values[key], style, color=color, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost J")
    handles, labels = ax.get_legend_handles_labels()
    accuracies = [
        ("accuracy", "training accuracy", "C2"),
        ("val_accuracy", "validation accuracy", "C3"),
    ]
    if any(key in values for key, _, _ in accuracies):
        twin = ax.twinx()
        for key, label, color in accuracies:
            if key in values:
                twin.plot(epochs, values[key], ":", color=color, label=label)
        twin.set_ylabel("accuracy")
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
        # the legend belongs to `ax`: draw `ax` above its twin (with a see-through background)
        # so that the accuracy lines do not cover it
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
    if handles:
        # above the Axes, in columns: inside them it would hide the curves' ends, and on the
        # right it would cover the accuracy axis
        ax.legend(
            handles,
            labels,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.02, 1.0, 0.1),
            mode="expand",
            ncol=2,
            borderaxespad=0.0,
            fontsize="small",
        )
    return ax


def plot_decision_boundary(
    model: Any,
    X: Any,
    Y: Any = None,
    ax: Any = None,
    resolution: int = 200,
    padding: float = 0.5,
    features: Any = (0, 1),
    fixed: Any = None,
) -> Any:
    """Draws the regions a model assigns to each class over a plane of two of its inputs, and
    the points X.

    Two inputs, ``features = (i, j)``, vary over a ``resolution`` × ``resolution`` grid
    covering the points X with `padding` on every side; every other input is held at one
    value, its mean over the m examples of X unless `fixed` says otherwise. The model predicts
    the grid (in one call unless the grid is large) and each grid point is coloured by its
    predicted class: the largest output (argmax) when n_y > 1, ŷ > 0.5 when n_y == 1. The
    points X are drawn on top at their coordinates (i, j), coloured by their class in Y when Y
    is given (in the colours of the regions), in white otherwise; with more than two inputs
    they are projections, whose other inputs differ from the fixed ones. A legend names the
    classes' colours to the right of the Axes, outside the data.

    Parameters
    ----------
    model : Sequential
        A model with n_x >= 2 inputs: vectors, or signals, sequences or images, whose inputs are
        numbered as `Flatten` numbers them (row-major). An unbuilt model is built from X, like
        `predict` does.
    X : array-like of shape (n_x, m), or the model's input_shape + (m,)
        The points, one column per example.
    Y : array-like of shape (n_y, m) or (m,), optional
        Their classes: one-hot (n_y > 1) or 0/1 (n_y == 1) columns, or integer labels.
    ax : matplotlib Axes, optional
        Where to draw; by default the Axes of a new figure (with a layout that leaves room for
        the legend).
    resolution : int >= 2, default 200
        Grid points along each axis.
    padding : float >= 0, default 0.5
        How far the grid extends beyond the points, in the units of X.
    features : pair of int or of index tuples, default (0, 1)
        The two inputs on the x and y axes: indices 0..n_x − 1 into the flattened input
        (negative ones count from the end), or, for a model with an input_shape of several
        axes, index tuples into it such as ``((0, 3), (0, 7))``.
    fixed : float or array-like of shape input_shape, optional
        The value of every other input: by default each one's mean over the columns of X; a
        number for all of them; or one example (its values at `features` are ignored).

    Returns
    -------
    matplotlib Axes
        x and y labels name the inputs (x1, x2, … for vectors, counted from 1 as in the lecture;
        ``x[c, t]`` for inputs of several axes); with more than two inputs the title says where
        the others are held.

    Raises
    ------
    ValueError
        When the model has fewer than 2 inputs, X, Y or `fixed` has the wrong shape, or
        `features` does not name two different inputs.
    TypeError
        When `resolution`, `padding` or `features` has the wrong type.
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    A model of 3 inputs, drawn over x1 and x3 with x2 at its mean over X:

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, deepnet as dn
    >>> model = dn.Sequential([dn.Dense(1, activation="sigmoid")], n_x=3,
    ...                       loss="binary_crossentropy")
    >>> X = np.random.default_rng(0).normal(size=(3, 20))
    >>> ax = dn.plot_decision_boundary(model, X, features=(0, 2), resolution=20)
    >>> ax.get_xlabel(), ax.get_ylabel(), ax.get_title()
    ('x1', 'x3', 'x2 fixed at its mean over X')
    """
    shape, X = _points_of(model, X)
    m = X.shape[-1]
    n_in = int(np.prod(shape))
    if n_in < 2:
        raise ValueError(
            f"plot_decision_boundary needs a model with n_x >= 2 inputs (a plane), got n_x = {n_in}"
        )
    pair = _feature_pair(features, shape)
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise TypeError(f"resolution: expected an integer >= 2, got {resolution!r}")
    if resolution < 2:
        raise ValueError(f"resolution: expected an integer >= 2, got {resolution!r}")
    if isinstance(padding, bool) or not isinstance(padding, (int, float, np.floating)):
        raise TypeError(f"padding: expected a number >= 0, got {padding!r}")
    if not np.isfinite(padding) or padding < 0:
        raise ValueError(f"padding: expected a finite number >= 0, got {padding!r}")
    columns = X.reshape(n_in, m)  # one row per input, numbered as Flatten numbers them
    base = _fixed_inputs(fixed, columns, shape)
    labels = None if Y is None else _class_labels(Y, m)
    plt = _pyplot()

    points = columns[list(pair)]  # (2, m): the coordinates drawn
    lo, hi = points.min(axis=1) - padding, points.max(axis=1) + padding
    xx1, xx2 = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    grid = np.repeat(base[:, None], xx1.size, axis=1)  # (n_x, resolution²): points as columns
    grid[pair[0]], grid[pair[1]] = xx1.ravel(), xx2.ravel()
    classes, k = _predicted_classes(model, grid, shape)

    if ax is None:
        _, ax = plt.subplots(layout="constrained")
    cmap = _class_colors(plt, k)
    ax.contourf(
        xx1,
        xx2,
        classes.reshape(xx1.shape),
        levels=np.arange(k + 1) - 0.5,
        cmap=cmap,
        vmin=0,
        vmax=k - 1,
        alpha=0.35,
    )
    if labels is None:
        ax.scatter(points[0], points[1], c="white", edgecolors="black", s=20)
    else:
        ax.scatter(
            points[0],
            points[1],
            c=labels,
            cmap=cmap,
            vmin=0,
            vmax=k - 1,
            edgecolors="black",
            s=20,
        )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    names = [_input_name(i, shape) for i in range(n_in)]
    ax.set_xlabel(names[pair[0]])
    ax.set_ylabel(names[pair[1]])
    if n_in > 2:
        others = [names[i] for i in range(n_in) if i not in pair]
        what = ", ".join(others) if len(others) <= 3 else "the other inputs"
        where = "fixed at its mean over X" if len(others) == 1 else "fixed at their means over X"
        if fixed is not None:
            where = "fixed at the given values"
        ax.set_title(f"{what} {where}")
    _class_legend(ax, plt, cmap, k)
    return ax


def _points_of(model: Any, X: Any) -> tuple[tuple[int, ...], np.ndarray]:
    """The shape of one example (the model's, or X's without its last axis when the model
    does not know it yet) and X as float64, checked against it."""
    shape = getattr(model, "input_shape", None)
    if shape is None and getattr(model, "n_x", None) is not None:
        shape = (int(model.n_x),)
    X = np.asarray(X, dtype=np.float64)
    if shape is None:
        expected, ok, shape = "(n_x, m)", X.ndim >= 2, X.shape[:-1]
    else:
        shape = tuple(shape)
        n_x = int(np.prod(shape))
        expected = "(" + ", ".join(map(str, shape)) + f", m) for this model (n_x = {n_x})"
        ok = X.shape[:-1] == shape
    if not ok or X.shape[-1] == 0:
        transposed = X.ndim == 2 and len(shape) == 1 and X.shape[1] == shape[0]
        hint = " (did you pass X transposed?)" if transposed else ""
        raise ValueError(f"X: expected shape {expected}, one column per point, got {X.shape}{hint}")
    return tuple(int(d) for d in shape), X


def _feature_pair(features: Any, shape: tuple[int, ...]) -> tuple[int, int]:
    """`features` as two different flat (row-major) input indices."""
    n_in = int(np.prod(shape))
    if isinstance(features, (str, bytes)) or not isinstance(features, (tuple, list)):
        raise TypeError(f"features: expected a pair of input indices (i, j), got {features!r}")
    if len(features) != 2:
        raise ValueError(f"features: expected two input indices (i, j), got {features!r}")
    flat = []
    for f in features:
        if isinstance(f, (int, np.integer)) and not isinstance(f, bool):
            if not -n_in <= f < n_in:
                raise ValueError(
                    f"features: input {f} does not exist; the model has n_x = {n_in} inputs "
                    f"(0..{n_in - 1})"
                )
            flat.append(int(f) % n_in)
        elif isinstance(f, (tuple, list)) and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in f
        ):
            if len(f) != len(shape) or not all(0 <= i < d for i, d in zip(f, shape)):
                raise ValueError(f"features: index {tuple(f)} is not in an input of shape {shape}")
            flat.append(int(np.ravel_multi_index(tuple(f), shape)))
        else:
            raise TypeError(
                f"features: expected integers or index tuples, got {f!r} in {features!r}"
            )
    if flat[0] == flat[1]:
        raise ValueError(f"features: expected two different inputs, got {features!r}")
    return flat[0], flat[1]


def _fixed_inputs(fixed: Any, columns: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The (n_x,) values of the inputs that do not vary: means over X, or `fixed`."""
    n_in = columns.shape[0]
    if fixed is None:
        return columns.mean(axis=1)
    if isinstance(fixed, bool):
        raise TypeError(f"fixed: expected a number or an array, got {fixed!r}")
    values = np.asarray(fixed, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(n_in, float(values))
    elif values.shape in (shape, (n_in,)):
        values = values.reshape(n_in).copy()
    else:
        raise ValueError(
            f"fixed: expected a number or one example of shape {shape}, got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("fixed: expected finite values")
    return values


def _predicted_classes(
    model: Any, grid: np.ndarray, shape: tuple[int, ...]
) -> tuple[np.ndarray, int]:
    """The predicted class of each column of `grid` (n_x, g) and the number of classes k."""
    g = grid.shape[1]
    # at most ~4 million inputs per call (32 MB in float64): one call for a 2-input model
    step = max(1, (1 << 22) // grid.shape[0])
    parts = []
    for start in range(0, g, step):
        chunk = grid[:, start : start + step]
        Yhat = np.asarray(model.predict(chunk.reshape(shape + (chunk.shape[1],))))
        if Yhat.ndim != 2 or Yhat.shape[1] != chunk.shape[1]:
            raise ValueError(
                f"model.predict returned shape {Yhat.shape} for {chunk.shape[1]} grid points; "
                f"expected (n_y, {chunk.shape[1]})"
            )
        parts.append(Yhat)
    Yhat = np.concatenate(parts, axis=1)
    if Yhat.shape[0] == 1:
        return (Yhat[0] > 0.5).astype(int), 2
    return np.argmax(Yhat, axis=0), Yhat.shape[0]


def _input_name(i: int, shape: tuple[int, ...]) -> str:
    """x1, x2, … (the lecture counts inputs from 1) for vectors; x[c, t] for several axes."""
    if len(shape) == 1:
        return f"x{i + 1}"
    return "x[" + ", ".join(str(int(v)) for v in np.unravel_index(i, shape)) + "]"


def _class_legend(ax: Any, plt: Any, cmap: Any, k: int) -> None:
    """One patch per class, to the right of the Axes where it covers no data."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=cmap(c), edgecolor="black", label=f"class {c}") for c in range(k)]
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        fontsize="small",
    )
