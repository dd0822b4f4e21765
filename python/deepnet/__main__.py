"""Command line: ``python -m deepnet demo [--epochs N] [--out FILE] [--seed S] [--quiet]``."""

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
    args = parser.parse_args(argv)
    if args.command == "demo":
        from deepnet.demo import run

        metrics = run(
            epochs=args.epochs, out=args.out, seed=args.seed, verbose=0 if args.quiet else 1
        )
        return 0 if metrics["test_accuracy"] >= 0.95 else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
