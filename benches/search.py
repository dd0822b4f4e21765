"""A hyperparameter search with deepnet's estimator and with scikit-learn's MLPClassifier.

    python benches/search.py                   # 3 interleaved runs of each setting, medians
    python benches/search.py --runs 5 --json search.json

Both sides run the same `GridSearchCV` on scikit-learn's digits (1,797 8×8 images, pixels / 16,
float64): hidden_layer_sizes ∈ {(32,), (64,), (64, 32), (128, 64)} × learning_rate ∈ {1e-3,
3e-3}, 8 candidates scored on the same 3 stratified folds (24 fits), then the best refitted on
all the digits (GridSearchCV's default, included in the time). Every fit is 30 epochs of
Adam with mini-batches of 32, shuffled, relu hidden layers, softmax output, no L2, no early
stopping and no convergence stop (deepnet: tol=0 and n_iter_no_change > epochs;
MLPClassifier: max_iter=30, tol=0, n_iter_no_change > 30, alpha=0), random_state=0.

Timed settings: deepnet with n_jobs=1, deepnet with n_jobs=2 on joblib's threading backend
(its kernels release the GIL), MLPClassifier with n_jobs=1 and n_jobs=2 on joblib's default
loky backend (processes). The --runs repetitions are interleaved (one search of each setting,
then the next round) so that a slow spell of a shared machine hits every setting alike; each
setting first runs one untimed one-candidate search (imports, loky's worker processes). Printed:
the median seconds of each setting, deepnet's speed-up from n_jobs=2, deepnet's best time over
MLPClassifier's best time, and each side's best mean CV accuracy with its parameters, against
the targets: speed-up ≥ 1.6×, time ratio ≤ 0.15×, deepnet's best score ≥ MLPClassifier's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

GRID = {"hidden_layer_sizes": [(32,), (64,), (64, 32), (128, 64)], "learning_rate": [1e-3, 3e-3]}


@dataclass(frozen=True)
class Setting:
    name: str
    side: str  # "deepnet" or "MLPClassifier"
    n_jobs: int
    backend: str  # "threading" or "loky" (joblib's default)


SETTINGS = [
    Setting("deepnet n_jobs=1", "deepnet", 1, "threading"),
    Setting("deepnet n_jobs=2", "deepnet", 2, "threading"),
    Setting("MLPClassifier n_jobs=1", "MLPClassifier", 1, "loky"),
    Setting("MLPClassifier n_jobs=2", "MLPClassifier", 2, "loky"),
]


def estimator(side: str, epochs: int, seed: int) -> Any:
    """The side's classifier: Adam, batch 32, exactly `epochs` epochs, nothing else stopping it."""
    if side == "deepnet":
        from deepnet.sklearn import DeepNetClassifier

        return DeepNetClassifier(
            optimizer="adam",
            batch_size=32,
            epochs=epochs,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            early_stopping=False,
            shuffle=True,
            random_state=seed,
        )
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        solver="adam",
        activation="relu",
        alpha=0.0,
        batch_size=32,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        early_stopping=False,
        shuffle=True,
        random_state=seed,
    )


def search(setting: Setting, grid: dict[str, list[Any]], epochs: int, seed: int) -> Any:
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    est = estimator(setting.side, epochs, seed)
    if setting.side == "MLPClassifier":
        grid = {
            "hidden_layer_sizes": grid["hidden_layer_sizes"],
            "learning_rate_init": grid["learning_rate"],
        }
    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    return GridSearchCV(est, grid, cv=folds, n_jobs=setting.n_jobs)


def timed_fit(setting: Setting, gs: Any, X: np.ndarray, y: np.ndarray) -> float:
    import joblib
    from sklearn.exceptions import ConvergenceWarning

    backend = (
        joblib.parallel_config(backend="threading")
        if setting.backend == "threading"
        else nullcontext()
    )
    with warnings.catch_warnings(), backend:
        warnings.simplefilter("ignore", ConvergenceWarning)  # the epoch limit is the plan
        start = time.perf_counter()
        gs.fit(X, y)
        return time.perf_counter() - start


def epochs_run(X: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> dict[str, int]:
    """How many epochs one fit of each side runs: both must run all of them."""
    from sklearn.exceptions import ConvergenceWarning

    out = {}
    for side in ("deepnet", "MLPClassifier"):
        est = estimator(side, epochs, seed).set_params(hidden_layer_sizes=(32,))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            out[side] = int(est.fit(X, y).n_iter_)
    return out


def best_of(gs: Any) -> dict[str, Any]:
    params = {
        ("learning_rate" if k == "learning_rate_init" else k): v for k, v in gs.best_params_.items()
    }
    return {
        "best_score": float(gs.best_score_),
        "best_params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        "mean_test_score": [float(s) for s in gs.cv_results_["mean_test_score"]],
    }


def measure(runs: int, epochs: int, seed: int, dtype: str) -> dict[str, Any]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data / 16.0).astype(dtype)
    y = digits.target
    check = epochs_run(X, y, epochs, seed)
    one = {"hidden_layer_sizes": [(32,)], "learning_rate": [1e-3]}
    for setting in SETTINGS:  # imports and worker processes, untimed
        timed_fit(setting, search(setting, one, 1, seed), X, y)
    times: dict[str, list[float]] = {s.name: [] for s in SETTINGS}
    results: dict[str, dict[str, Any]] = {}
    for r in range(runs):
        for setting in SETTINGS:
            gs = search(setting, GRID, epochs, seed)
            seconds = timed_fit(setting, gs, X, y)
            times[setting.name].append(seconds)
            print(f"run {r + 1}/{runs}  {setting.name:<24} {seconds:7.2f} s", file=sys.stderr)
            results.setdefault(setting.name, best_of(gs))
    median = {name: statistics.median(t) for name, t in times.items()}
    dn_best = min(median["deepnet n_jobs=1"], median["deepnet n_jobs=2"])
    sk_best = min(median["MLPClassifier n_jobs=1"], median["MLPClassifier n_jobs=2"])
    dn, sk = results["deepnet n_jobs=1"], results["MLPClassifier n_jobs=1"]
    return {
        "settings": {
            "data": f"digits X/16 {X.shape} {dtype}",
            "grid": {
                k: [list(v) if isinstance(v, tuple) else v for v in vs] for k, vs in GRID.items()
            },
            "folds": 3,
            "epochs": epochs,
            "batch_size": 32,
            "runs": runs,
            "seed": seed,
            "refit": True,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "epochs_run": check,
        "seconds": times,
        "median_seconds": median,
        "speedup_deepnet_n_jobs_2": median["deepnet n_jobs=1"] / median["deepnet n_jobs=2"],
        "time_ratio_deepnet_over_mlp": dn_best / sk_best,
        "deepnet": dn,
        "mlp": sk,
        "same_scores_with_n_jobs_2": {
            "deepnet": results["deepnet n_jobs=2"]["mean_test_score"] == dn["mean_test_score"],
            "mlp": results["MLPClassifier n_jobs=2"]["mean_test_score"] == sk["mean_test_score"],
        },
    }


def report(m: dict[str, Any]) -> str:
    s = m["settings"]
    lines = [
        f"GridSearchCV on {s['data']}: {len(GRID['hidden_layer_sizes'])} × "
        f"{len(GRID['learning_rate'])} candidates × {s['folds']} folds + refit, {s['epochs']} "
        f"epochs of Adam, batch {s['batch_size']}; median of {s['runs']} interleaved runs; "
        f"{m['machine']['cpus']} CPUs",
        f"epochs run by one fit: deepnet {m['epochs_run']['deepnet']}, MLPClassifier "
        f"{m['epochs_run']['MLPClassifier']}",
        "",
        f"{'setting':<24} {'backend':<10} {'median s':>9}   runs (s)",
    ]
    for setting in SETTINGS:
        runs = ", ".join(f"{t:.2f}" for t in m["seconds"][setting.name])
        backend = setting.backend if setting.n_jobs > 1 else "-"
        lines.append(
            f"{setting.name:<24} {backend:<10} {m['median_seconds'][setting.name]:9.2f}   {runs}"
        )
    speedup, ratio = m["speedup_deepnet_n_jobs_2"], m["time_ratio_deepnet_over_mlp"]
    dn, sk = m["deepnet"], m["mlp"]
    lines += [
        "",
        f"deepnet n_jobs=2 speed-up over n_jobs=1: {speedup:.2f}×  (target ≥ 1.6×: "
        f"{'met' if speedup >= 1.6 else 'missed'})",
        f"deepnet best time / MLPClassifier best time: {ratio:.3f}×  (target ≤ 0.15×: "
        f"{'met' if ratio <= 0.15 else 'missed'})",
        f"best mean CV accuracy: deepnet {dn['best_score']:.4f} {_params(dn['best_params'])}; "
        f"MLPClassifier {sk['best_score']:.4f} {_params(sk['best_params'])}  (target deepnet ≥ "
        f"MLPClassifier: {'met' if dn['best_score'] >= sk['best_score'] else 'missed'})",
        "same CV scores with n_jobs=2 as with n_jobs=1: "
        + ", ".join(
            f"{k} {'yes' if v else 'NO'}" for k, v in m["same_scores_with_n_jobs_2"].items()
        ),
    ]
    return "\n".join(lines)


def _params(params: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="interleaved repetitions (median)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of every fit")
    parser.add_argument("--seed", type=int, default=0, help="folds and random_state")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.epochs < 1:
        parser.error("--runs and --epochs must be positive")
    m = measure(args.runs, args.epochs, args.seed, args.dtype)
    print(report(m))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(m, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
