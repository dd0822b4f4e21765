"""What a layer written in Python costs: the same network with relu compiled into Dense, and
with relu as a NumPy layer (dn.Layer subclass) after a linear Dense, trained side by side.

    python benches/python_layer.py [--m 10000] [--batch 128] [--hidden 128] [--repeats 3]

Prints the best time per epoch of each and their ratio (measured in the same run, alternating).
"""

from __future__ import annotations

import argparse
import time

import deepnet as dn
import numpy as np


class NumpyReLU(dn.Layer):
    """relu written in NumPy: (10) forward, (11) backward with relu′(0) = 0 as deepnet's."""

    kind = "bench_numpy_relu"

    def forward(self, A_prev, training):
        return np.maximum(A_prev, 0)

    def backward(self, dA, A_prev):
        return dA * (A_prev > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.random((784, args.m), dtype=np.float32)
    y = rng.integers(0, 10, args.m)

    def model(python: bool) -> dn.Sequential:
        hidden = (
            [dn.Dense(args.hidden), NumpyReLU()]
            if python
            else [dn.Dense(args.hidden, activation="relu")]
        )
        return dn.Sequential(
            [*hidden, dn.Dense(10, activation="softmax")],
            n_x=784,
            loss="categorical_crossentropy",
        )

    best = {False: float("inf"), True: float("inf")}
    for _ in range(args.repeats):
        for python in (False, True):
            net = model(python)
            start = time.perf_counter()
            net.fit(X, y, epochs=1, batch_size=args.batch, verbose=0)
            best[python] = min(best[python], time.perf_counter() - start)
    print(
        f"784-{args.hidden}-10, m = {args.m}, batch {args.batch}: compiled relu "
        f"{best[False]:.3f} s/epoch, relu as a Python layer {best[True]:.3f} s/epoch "
        f"(× {best[True] / best[False]:.2f})"
    )


if __name__ == "__main__":
    main()
