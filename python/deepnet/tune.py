"""A hyperparameter search: ``python -m deepnet tune``.

Loads scikit-learn's 1,797 bundled 8×8 digits (no download), scales the pixels to [0, 1] and
holds out a stratified 20% first, then runs `GridSearchCV` over `DeepNetClassifier` on the rest:
every combination of `hidden_layer_sizes` and `learning_rate` (Adam, batch 32) is trained on
two folds and scored on the third, three times (stratified 3-fold). The fits run in `n_jobs`
joblib threads (the threading backend: the training kernels release the GIL), with a progress
bar over the fits as they finish. Then it prints the candidates ranked by mean CV accuracy,
refits the best on the whole training part, scores it on the held-out digits, and writes
`plot_search`'s plot of the scores to a PNG.
"""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

#: The default grid: 4 × 3 candidates, 36 fits with 3 folds.
GRID: dict[str, list[Any]] = {
    "hidden_layer_sizes": [(32,), (64,), (64, 32), (128, 64)],
    "learning_rate": [1e-3, 3e-3, 1e-2],
}


class _ProgressScorer:
    """Accuracy as the search's scorer, ticking a shared tqdm bar once per scored fit.

    GridSearchCV scores each fit exactly once (on its test fold) right after the fit, in the
    worker that ran it, so the ticks count finished fits. The workers are threads sharing this
    object; the lock keeps the bar's count and its redraws consistent.
    """

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self._lock = threading.Lock()

    def __call__(self, estimator: Any, X: np.ndarray, y: np.ndarray) -> float:
        score = float(estimator.score(X, y))
        with self._lock:
            self.bar.update(1)
        return score


def load_digits_rows(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Digits as scikit-learn's rows: X (m, 64) in [0, 1], labels y (m,).

    Returns X_train, X_test, y_train, y_test (a stratified 80/20 split).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = digits.data / 16.0  # pixels 0..16 → [0, 1]
    return tuple(
        train_test_split(X, digits.target, test_size=0.2, stratify=digits.target, random_state=seed)
    )


def run(
    n_jobs: int = 2,
    epochs: int = 50,
    out: str = "deepnet_tune_search.png",
    seed: int = 0,
    verbose: int = 1,
    grid: dict[str, list[Any]] | None = None,
    cv: int = 3,
) -> dict[str, Any]:
    """Searches, reports and plots; returns the metrics.

    Parameters
    ----------
    n_jobs : int, default 2
        Fits run at once, each in a joblib thread.
    epochs : int, default 50
        The epoch limit of every fit (a fit may stop earlier when J stops improving).
    out : str, default "deepnet_tune_search.png"
        Where the plot of the CV scores goes.
    seed : int, default 0
        Seeds the held-out split, the folds and every network.
    verbose : int, default 1
        0: no progress bar (the table and the results are printed all the same).
    grid : dict of str to list, optional
        The parameter grid; by default `GRID`.
    cv : int, default 3
        The number of stratified folds.

    Returns
    -------
    dict
        "best_params", "best_cv_accuracy" (its mean over the folds), "test_accuracy" (the
        refitted best on the held-out digits), "n_fits", "seconds" (the whole search with the
        refit) and "plot" (the PNG's absolute path).
    """
    import joblib
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from tqdm.auto import tqdm

    from deepnet.sklearn import DeepNetClassifier

    grid = GRID if grid is None else grid
    X_tr, X_te, y_tr, y_te = load_digits_rows(seed)
    n_candidates = int(np.prod([len(values) for values in grid.values()]))
    n_fits = n_candidates * cv
    print(
        f"searching {n_candidates} candidates × {cv} folds = {n_fits} fits on {len(y_tr)} "
        f"digits ({len(y_te)} held out), {epochs} epochs each, n_jobs={n_jobs} threads"
    )
    estimator = DeepNetClassifier(epochs=epochs, batch_size=32, random_state=seed)
    bar = tqdm(total=n_fits, desc="fits", unit="fit", disable=not verbose)
    search = GridSearchCV(
        estimator,
        grid,
        scoring=_ProgressScorer(bar),
        cv=StratifiedKFold(cv, shuffle=True, random_state=seed),
        n_jobs=n_jobs,
    )
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), joblib.parallel_config(backend="threading"):
            # a fit that reaches the epoch limit while J still improves warns; the table and
            # the plot show how each candidate did
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X_tr, y_tr)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    print(_ranked_table(search.cv_results_, list(grid)))
    best = search.best_estimator_
    test_accuracy = float(best.score(X_te, y_te))
    setting = ", ".join(f"{k}={_value(v)}" for k, v in search.best_params_.items())
    print(
        f"best: {setting}: CV accuracy {search.best_score_:.2%}; refitted on all {len(y_tr)} "
        f"training digits, held-out accuracy {test_accuracy:.2%}"
    )
    print(f"search and refit took {seconds:.1f} s")
    path = _plot(search, out)
    print(f"plot of the search written to {path}")
    return {
        "best_params": dict(search.best_params_),
        "best_cv_accuracy": float(search.best_score_),
        "test_accuracy": test_accuracy,
        "n_fits": n_fits,
        "seconds": seconds,
        "plot": str(path),
    }


def _value(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _ranked_table(results: dict[str, Any], names: list[str]) -> str:
    """The candidates by rank: rank, parameters, mean ± std CV accuracy, mean fit time."""
    rows = [
        [
            str(results["rank_test_score"][i]),
            *(_value(results["params"][i][n]) for n in names),
            f"{results['mean_test_score'][i]:.2%} ± {results['std_test_score'][i]:.2%}",
            f"{results['mean_fit_time'][i]:.2f}",
        ]
        for i in np.argsort(results["rank_test_score"], kind="stable")
    ]
    header = ["rank", *names, "CV accuracy", "fit (s)"]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _plot(search: Any, out: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    from deepnet.plotting import plot_search

    ax = plot_search(search)
    ax.set_ylabel("mean CV accuracy (± std over folds)")
    ax.set_title("deepnet on scikit-learn digits: GridSearchCV")
    path = Path(out)
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)
    return path.resolve()
