"""The main job: train a deep network on scikit-learn's handwritten digits.

``python -m deepnet demo`` loads the 1,797 bundled 8×8 digit images (no download), holds out
20% of them, trains a 64-64-32-10 network with relu hidden layers and a softmax output by
mini-batch gradient descent, prints train and held-out accuracy, and writes the cost curve J
per epoch to a PNG.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import deepnet as dn


def load_digits_columns(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Digits as the lecture's columns: X (64, m) in [0, 1], Y one-hot (10, m).

    Returns X_train, Y_train, X_test, Y_test (a stratified 80/20 split).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = digits.data / 16.0  # (m, 64) pixels 0..16 → [0, 1]
    y = digits.target
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    eye = np.eye(10)
    return X_tr.T, eye[:, y_tr], X_te.T, eye[:, y_te]


def run(
    epochs: int = 60, out: str = "deepnet_demo_cost.png", seed: int = 0, verbose: int = 1
) -> dict[str, float]:
    """Trains, evaluates and plots; returns the metrics."""
    X_tr, Y_tr, X_te, Y_te = load_digits_columns(seed)
    model = dn.Sequential(
        [
            dn.Dense(64, activation="relu"),
            dn.Dense(32, activation="relu"),
            dn.Dense(10, activation="softmax"),
        ],
        n_x=X_tr.shape[0],
        loss="categorical_crossentropy",
        seed=seed,
    )
    model.summary()
    print(f"training on {X_tr.shape[1]} digits, holding out {X_te.shape[1]}")
    start = time.perf_counter()
    # the held-out set is only watched (its curve is plotted), never trained on
    history = model.fit(
        X_tr,
        Y_tr,
        epochs=epochs,
        learning_rate=0.1,
        batch_size=32,
        verbose=verbose,
        validation_data=(X_te, Y_te),
    )
    seconds = time.perf_counter() - start
    train = model.evaluate(X_tr, Y_tr)
    test = model.evaluate(X_te, Y_te)
    print(f"stopped after {len(history.epoch)} epochs ({history.stop_reason}) in {seconds:.2f} s")
    print(f"train:    cost {train['cost']:.4f}  accuracy {train['accuracy']:.2%}")
    print(f"held out: cost {test['cost']:.4f}  accuracy {test['accuracy']:.2%}")
    path = _plot(history, out)
    print(f"cost curve written to {path}")
    return {
        "train_accuracy": train["accuracy"],
        "test_accuracy": test["accuracy"],
        "seconds": seconds,
    }


def _plot(history: dn.History, out: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    history.plot(ax=ax)
    ax.set_ylabel("J (categorical cross-entropy)")
    ax.set_yscale("log")
    ax.set_title("deepnet on scikit-learn digits: 64-64-32-10")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path.resolve()
