"""Plots of training: the cost curve J per epoch and the decision regions of a 2-input model.

matplotlib is optional (``pip install matplotlib``, or ``pip install "deepnet[demo]"``); it is
imported when a plot is drawn, not when deepnet is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_decision_boundary", "plot_history"]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "deepnet's plots need matplotlib: pip install matplotlib "
            '(or pip install "deepnet[demo]")'
        ) from err
    return plt


def plot_history(history: Any, ax: Any = None) -> Any:
    """Draws the cost J per epoch of a `History`, with validation cost and accuracies if any.

    The training cost ``history.history["cost"]`` is drawn against ``history.epoch``, and so
    are, when present, "val_cost" (validation cost) and "data_cost" (J without the L2 penalty,
    dashed). "accuracy" and "val_accuracy", when present, go on a second y axis on the right
    (dotted lines). One legend lists every line.

    Parameters
    ----------
    history : History
        What `Sequential.fit` returned (also ``model.history``).
    ax : matplotlib Axes, optional
        Where to draw; by default the Axes of a new figure.

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
        _, ax = plt.subplots()
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
        ax.legend(handles, labels)
    return ax


def _class_labels(Y: Any, m: int) -> np.ndarray:
    """Integer class labels of shape (m,) from (m,) labels, (1, m) 0/1 targets or (n_y, m)
    one-hot targets."""
    Y = np.asarray(Y)
    if Y.ndim == 1 and Y.shape[0] == m:
        return Y.astype(int)
    if Y.ndim == 2 and Y.shape[1] == m:
        if Y.shape[0] == 1:
            return (Y[0] > 0.5).astype(int)
        return np.argmax(Y, axis=0)
    raise ValueError(
        f"Y: expected shape ({m},) (class labels) or (n_y, {m}) (one column per example of X), "
        f"got {Y.shape}"
    )


def _class_colors(plt: Any, k: int) -> Any:
    from matplotlib.colors import ListedColormap

    if k <= 10:
        colors = plt.get_cmap("tab10").colors[:k]
    elif k <= 20:
        colors = plt.get_cmap("tab20").colors[:k]
    else:
        colors = plt.get_cmap("viridis")(np.linspace(0, 1, k))
    return ListedColormap(colors)


def plot_decision_boundary(
    model: Any,
    X: Any,
    Y: Any = None,
    ax: Any = None,
    resolution: int = 200,
    padding: float = 0.5,
) -> Any:
    """Draws the regions a 2-input model assigns to each class, and the points X.

    The model predicts, in one call, a ``resolution`` × ``resolution`` grid covering the points
    X with `padding` on every side; each grid point is coloured by its predicted class: the
    largest output (argmax) when n_y > 1, ŷ > 0.5 when n_y == 1. The points X are drawn on
    top, coloured by their class in Y when Y is given (in the colours of the regions), in
    white otherwise.

    Parameters
    ----------
    model : Sequential
        A model with n_x == 2 inputs (an unbuilt one is built from X, like `predict` does).
    X : array-like of shape (2, m)
        The points, one column per example.
    Y : array-like of shape (n_y, m) or (m,), optional
        Their classes: one-hot (n_y > 1) or 0/1 (n_y == 1) columns, or integer labels.
    ax : matplotlib Axes, optional
        Where to draw; by default the Axes of a new figure.
    resolution : int >= 2, default 200
        Grid points along each axis.
    padding : float >= 0, default 0.5
        How far the grid extends beyond the points, in the units of X.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ValueError
        When the model does not have 2 inputs, or X or Y has the wrong shape.
    ImportError
        When matplotlib is not installed.
    """
    n_x = getattr(model, "n_x", None)
    if n_x is not None and n_x != 2:
        raise ValueError(
            f"plot_decision_boundary needs a model with n_x == 2 inputs (a plane), got n_x = {n_x}"
        )
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != 2 or X.shape[1] == 0:
        hint = " (did you pass X transposed?)" if X.ndim == 2 and X.shape[1] == 2 else ""
        raise ValueError(f"X: expected shape (2, m), one column per point, got {X.shape}{hint}")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise TypeError(f"resolution: expected an integer >= 2, got {resolution!r}")
    if resolution < 2:
        raise ValueError(f"resolution: expected an integer >= 2, got {resolution!r}")
    if isinstance(padding, bool) or not isinstance(padding, (int, float, np.floating)):
        raise TypeError(f"padding: expected a number >= 0, got {padding!r}")
    if not np.isfinite(padding) or padding < 0:
        raise ValueError(f"padding: expected a finite number >= 0, got {padding!r}")
    m = X.shape[1]
    labels = None if Y is None else _class_labels(Y, m)
    plt = _pyplot()

    lo, hi = X.min(axis=1) - padding, X.max(axis=1) + padding
    x1 = np.linspace(lo[0], hi[0], resolution)
    x2 = np.linspace(lo[1], hi[1], resolution)
    xx1, xx2 = np.meshgrid(x1, x2)
    grid = np.vstack([xx1.ravel(), xx2.ravel()])  # (2, resolution²): grid points as columns
    Yhat = np.asarray(model.predict(grid))
    if Yhat.ndim != 2 or Yhat.shape[1] != grid.shape[1]:
        raise ValueError(
            f"model.predict returned shape {Yhat.shape} for {grid.shape[1]} grid points; "
            f"expected (n_y, {grid.shape[1]})"
        )
    if Yhat.shape[0] == 1:
        k = 2
        classes = (Yhat[0] > 0.5).astype(int)
    else:
        k = Yhat.shape[0]
        classes = np.argmax(Yhat, axis=0)

    if ax is None:
        _, ax = plt.subplots()
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
        ax.scatter(X[0], X[1], c="white", edgecolors="black", s=20)
    else:
        ax.scatter(X[0], X[1], c=labels, cmap=cmap, vmin=0, vmax=k - 1, edgecolors="black", s=20)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    return ax
