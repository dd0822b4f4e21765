"""python -m deepnet tune: the grid search over DeepNetClassifier on the digits, end to end."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from deepnet.__main__ import main  # noqa: E402
from deepnet.tune import GRID, load_digits_rows, run  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_tune_command_searches_ranks_scores_and_plots(tmp_path, capsys):
    out = tmp_path / "search.png"
    code = main(["tune", "--epochs", "8", "--n-jobs", "2", "--out", str(out), "--seed", "1"])
    assert code == 0  # held-out accuracy >= 0.9
    captured = capsys.readouterr()
    n_candidates = len(GRID["hidden_layer_sizes"]) * len(GRID["learning_rate"])
    assert f"{3 * n_candidates}/{3 * n_candidates}" in captured.err  # the bar counted every fit
    lines = captured.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["rank"])
    columns = "rank hidden_layer_sizes learning_rate CV accuracy fit (s)"
    assert lines[header].split() == columns.split()
    rows = lines[header + 2 : header + 2 + n_candidates]
    ranks = [int(row.split()[0]) for row in rows]
    assert ranks == sorted(ranks) and ranks[0] == 1
    accuracies = [float(row.split("%")[0].split()[-1]) for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    assert "held-out accuracy" in captured.out
    assert out.read_bytes()[:8] == PNG


def test_tune_metrics_match_an_independent_cross_validation(tmp_path, capsys):
    from deepnet.sklearn import DeepNetClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    grid = {"hidden_layer_sizes": [(16,), (32,)], "learning_rate": [3e-3, 1e-2]}
    metrics = run(n_jobs=2, epochs=6, out=str(tmp_path / "s.png"), seed=3, verbose=0, grid=grid)
    assert "fits" not in capsys.readouterr().err  # verbose=0: no bar
    assert metrics["n_fits"] == 12
    assert set(metrics["best_params"]) == set(grid)
    # the same folds, seeds and data without GridSearchCV, threads or the progress scorer
    X_tr, X_te, y_tr, y_te = load_digits_rows(3)
    best = DeepNetClassifier(epochs=6, batch_size=32, random_state=3, **metrics["best_params"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(
            best, X_tr, y_tr, cv=StratifiedKFold(3, shuffle=True, random_state=3)
        )
        refit = best.fit(X_tr, y_tr)
    assert metrics["best_cv_accuracy"] == pytest.approx(np.mean(scores), abs=1e-12)
    assert metrics["test_accuracy"] == pytest.approx(refit.score(X_te, y_te), abs=1e-12)
    assert 0.9 <= metrics["test_accuracy"] <= 1.0


@pytest.mark.parametrize("args", [["--epochs", "0"], ["--n-jobs", "0"]])
def test_tune_command_rejects_no_epochs_and_no_jobs(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", *args])
    assert exit_info.value.code == 2
    assert "--epochs must be positive and --n-jobs non-zero" in capsys.readouterr().err
