"""What every plot shares: matplotlib imported only when a plot is drawn, and the classes of
examples with their colours."""

from __future__ import annotations

from typing import Any

import numpy as np


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "deepnet's plots need matplotlib: pip install matplotlib "
            '(or pip install "deepnet[demo]")'
        ) from err
    return plt


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
