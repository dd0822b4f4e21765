"""Smoke test of the installed wheel, run by scripts/test.sh in a fresh virtual environment.

    python scripts/wheel_smoke.py      (from a folder outside the repository)

Checks that ``import deepnet`` is the installed wheel, not the source tree, and that what a
user does first works there without Rust: train a small `Sequential` on XOR, save it, load it
back with identical predictions, and fit, predict and score the scikit-learn estimators.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np


def check_installed() -> None:
    import deepnet

    where = Path(deepnet.__file__).resolve()
    prefix = Path(sys.prefix).resolve()
    if prefix not in where.parents:
        raise SystemExit(f"deepnet was imported from {where}, not from the environment {prefix}")
    print(f"deepnet {deepnet.__version__} from {where.parent}")


def check_sequential() -> None:
    import deepnet as dn

    X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])  # (n_x, m): XOR's 4 columns
    Y = np.array([[0.0, 1.0, 1.0, 0.0]])
    model = dn.Sequential(
        [dn.Dense(8, activation="tanh"), dn.Dense(1, activation="sigmoid")],
        n_x=2,
        loss="binary_crossentropy",
        seed=0,
        dtype="float64",
    )
    history = model.fit(X, Y, epochs=2000, learning_rate=0.5, batch_size=None, verbose=0)
    accuracy = model.evaluate(X, Y)["accuracy"]
    if accuracy != 1.0:
        raise SystemExit(f"XOR: accuracy {accuracy} after {len(history.epoch)} epochs")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "xor.safetensors"
        model.save(path)
        again = dn.load(path)
    if not np.array_equal(again.predict(X), model.predict(X)):
        raise SystemExit("a saved and loaded model predicts differently")
    print(f"Sequential: XOR accuracy 1.0 after {len(history.epoch)} epochs; save/load is exact")


def check_estimators() -> None:
    from deepnet.sklearn import DeepNetClassifier, DeepNetRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    target = X[:, 0] - 2 * X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at the epoch limit
        clf = DeepNetClassifier(hidden_layer_sizes=(8,), learning_rate=0.01, epochs=50)
        clf.set_params(random_state=0).fit(X, labels)
        reg = DeepNetRegressor(hidden_layer_sizes=(8,), learning_rate=0.01, epochs=100)
        reg.set_params(random_state=0).fit(X, target)
    predicted = clf.predict(X[:3])
    if predicted.shape != (3,) or not set(predicted) <= {"up", "down"}:
        raise SystemExit(f"DeepNetClassifier.predict gave {predicted!r}")
    accuracy, r2 = clf.score(X, labels), reg.score(X, target)
    if accuracy < 0.9 or r2 < 0.9:
        raise SystemExit(f"estimators: accuracy {accuracy:.3f}, R² {r2:.3f}; expected ≥ 0.9")
    print(f"DeepNetClassifier accuracy {accuracy:.3f}, DeepNetRegressor R² {r2:.3f}")


def main() -> int:
    check_installed()
    check_sequential()
    check_estimators()
    print("wheel smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
