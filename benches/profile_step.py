"""One long training call of a dense network, for a profiler.

    python benches/profile_step.py --hidden 128 64 --epochs 1500
    perf record -D 4000 python benches/profile_step.py --hidden 128 64 --epochs 1500
    perf report --no-children --sort dso,symbol

    # the small network of benches/compare.py (40-100-100-10, batch 100, float32, SGD), on 2
    # threads, with the data-parallel step and without it (the one-thread step)
    python benches/profile_step.py --inputs 40 --hidden 100 100 --batch 100 --threads 2 \\
        --dtype float32 --optimizer sgd --epochs 300
    python benches/profile_step.py ... --one-thread-step

By default trains 64-h1-...-10 (ReLU, softmax) with Adam, batch 32, shuffled, on 1,198 digits
given as scikit-learn gives them (rows, transposed into columns: a view), one thread, in one
call into Rust, and prints the time per step. With --inputs N it trains on N random inputs
per example instead (8,000 examples, columns, in storage order). The first epoch runs before
the timed call (and before the profiler's delay ends), so the profile holds the training
steps only. `benches/perf_buckets.py` sorts a `perf report` into where the time goes.
"""

from __future__ import annotations

import argparse
import time

import deepnet as dn
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 64])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--inputs", type=int, default=None, help="random inputs of this size, not the digits"
    )
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument(
        "--one-thread-step",
        action="store_true",
        help="switch the data-parallel step off (every step layer by layer)",
    )
    args = parser.parse_args()
    for name in ("epochs", "threads", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.inputs is not None and args.inputs < 1:
        parser.error("--inputs must be at least 1")
    dn.set_num_threads(args.threads)
    dn._core._set_data_parallel(not args.one_thread_step)
    if args.inputs is None:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X, y = (X[:1198] / 16.0).T, y[:1198]  # (64, m): a transposed view, as the estimators pass
        shuffle = True
    else:
        rng = np.random.default_rng(0)
        X = rng.random((args.inputs, 8000), dtype=np.float32)
        y = rng.integers(0, 10, 8000)
        shuffle = False
    layers = [dn.Dense(n, activation="relu") for n in args.hidden]
    model = dn.Sequential(
        [*layers, dn.Dense(10, activation="softmax")],
        n_x=X.shape[0],
        loss="categorical_crossentropy",
        dtype=args.dtype,
    )
    fit = dict(batch_size=args.batch, shuffle=shuffle, verbose=0)
    model.fit(X, y, epochs=1, optimizer=args.optimizer, learning_rate=1e-3, **fit)
    start = time.perf_counter()
    model.fit(X, y, epochs=args.epochs, **fit)
    seconds = time.perf_counter() - start
    steps = args.epochs * -(-X.shape[1] // args.batch)
    step = "one-thread step" if args.one_thread_step else "data-parallel step allowed"
    print(
        f"{seconds / steps * 1e6:.1f} µs per step ({steps} steps, {args.dtype}, "
        f"{args.threads} threads, {step})"
    )


if __name__ == "__main__":
    main()
