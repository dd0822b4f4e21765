"""One long training call of a small dense network on the digits, for a profiler.

    python benches/profile_step.py --hidden 128 64 --epochs 1500
    perf record -D 4000 python benches/profile_step.py --hidden 128 64 --epochs 1500
    perf report --no-children --sort dso,symbol

Trains 64-h1-...-10 (ReLU, softmax) with Adam, batch 32, shuffled, on 1,198 digits given as
scikit-learn gives them (rows, transposed into columns: a view), one thread, in one call into
Rust, and prints the time per step. The first epoch runs before the timed call (and before
the profiler's delay ends), so the profile holds the training steps only.
"""

from __future__ import annotations

import argparse
import time

import deepnet as dn
from sklearn.datasets import load_digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 64])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    dn.set_num_threads(args.threads)
    X, y = load_digits(return_X_y=True)
    X, y = (X[:1198] / 16.0).T, y[:1198]  # (64, m): a transposed view, as the estimators pass
    layers = [dn.Dense(n, activation="relu") for n in args.hidden]
    model = dn.Sequential(
        [*layers, dn.Dense(10, activation="softmax")],
        n_x=64,
        loss="categorical_crossentropy",
        dtype=args.dtype,
    )
    model.fit(X, y, epochs=1, optimizer="adam", learning_rate=1e-3, verbose=0)
    start = time.perf_counter()
    model.fit(X, y, epochs=args.epochs, verbose=0)
    seconds = time.perf_counter() - start
    steps = args.epochs * -(-X.shape[1] // 32)
    print(f"{seconds / steps * 1e6:.1f} µs per step ({steps} steps, {args.dtype})")


if __name__ == "__main__":
    main()
