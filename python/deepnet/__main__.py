"""Command line.

``python -m deepnet demo [--epochs N] [--out FILE] [--seed S] [--quiet]``: trains a deep network
on scikit-learn's digits.

``python -m deepnet tune [--n-jobs N] [--epochs E] [--out FILE] [--seed S] [--quiet]``: a grid
search over `DeepNetClassifier` on the same digits.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a deep network on scikit-learn's digits")
    demo.add_argument("--epochs", type=int, default=60, help="epoch limit (default 60)")
    demo.add_argument("--out", default="deepnet_demo_cost.png", help="cost-curve PNG to write")
    demo.add_argument("--seed", type=int, default=0, help="seed of init, shuffling and split")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    tune = sub.add_parser(
        "tune", help="grid-search DeepNetClassifier on scikit-learn's digits, in threads"
    )
    tune.add_argument(
        "--n-jobs", type=int, default=2, help="fits at once, in threads (default 2; -1: per core)"
    )
    tune.add_argument("--epochs", type=int, default=50, help="epoch limit of a fit (default 50)")
    tune.add_argument("--out", default="deepnet_tune_search.png", help="search plot PNG to write")
    tune.add_argument("--seed", type=int, default=0, help="seed of the split, folds and networks")
    tune.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from deepnet.demo import run

        metrics = run(
            epochs=args.epochs, out=args.out, seed=args.seed, verbose=0 if args.quiet else 1
        )
        return 0 if metrics["test_accuracy"] >= 0.95 else 1
    if args.command == "tune":
        if args.epochs < 1 or args.n_jobs == 0:
            parser.error("tune: --epochs must be positive and --n-jobs non-zero (-1: every core)")
        from deepnet.tune import run as tune_run

        metrics = tune_run(
            n_jobs=args.n_jobs,
            epochs=args.epochs,
            out=args.out,
            seed=args.seed,
            verbose=0 if args.quiet else 1,
        )
        return 0 if metrics["test_accuracy"] >= 0.9 else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
