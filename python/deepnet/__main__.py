"""Command line.

``python -m deepnet demo [--epochs N] [--out FILE] [--seed S] [--quiet]``: trains a deep network
on scikit-learn's digits.

``python -m deepnet tune [--n-jobs N] [--epochs E] [--out FILE] [--seed S] [--quiet]``: a grid
search over `DeepNetClassifier` on the same digits.

``python -m deepnet parity [--bits N] [--seeds S] [--epochs E] [--out FILE] [--quiet]``: section
2's depth argument on N-bit parity, with networks built by hand and trained from scratch.
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
    par = sub.add_parser(
        "parity", help="section 2: depth on n-bit parity, networks built by hand and trained"
    )
    par.add_argument("--bits", type=int, default=8, help="number of inputs n (default 8)")
    par.add_argument("--seeds", type=int, default=5, help="trainings per network (default 5)")
    par.add_argument("--epochs", type=int, default=1000, help="epoch limit (default 1000)")
    par.add_argument("--out", default="deepnet_parity.png", help="figure PNG to write")
    par.add_argument("--quiet", action="store_true", help="print nothing")
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
    if args.command == "parity":
        if not 1 <= args.bits <= 12 or args.seeds < 0 or args.epochs < 1:
            parser.error("parity: --bits must be 1..12, --seeds >= 0 and --epochs positive")
        from deepnet.parity import main_exit_code
        from deepnet.parity import run as parity_run

        nets = parity_run(
            bits=args.bits, seeds=args.seeds, epochs=args.epochs, out=args.out, quiet=args.quiet
        )
        return main_exit_code(nets)
    return 2


if __name__ == "__main__":
    sys.exit(main())
