"""The plot of a hyperparameter search: each candidate's mean cross-validation score against one
parameter."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from deepnet.plotting._common import _pyplot

__all__ = ["plot_search"]


def plot_search(search: Any, param: str | None = None, ax: Any = None) -> Any:
    """Draws the mean cross-validation score of each candidate of a search against one parameter.

    Each candidate's ``mean_test_score`` is a point with an error bar of ± ``std_test_score``
    (the spread over the folds), at the candidate's value of `param` on the x axis. Candidates
    that share the values of every other searched parameter are joined in one line, labelled
    with those values ("hidden_layer_sizes=64-32, l2=0.0001"). Numbers go on a numeric x axis,
    logarithmic when they are all positive and span a factor of 10 or more; anything else
    (strings, tuples, None) takes evenly spaced categorical positions in the order of the
    search, a tuple such as (64, 32) labelled "64-32", and the lines are shifted a little
    sideways so that their error bars do not hide one another. The best candidate
    (``rank_test_score`` 1) is marked with a star. The legend sits to the right of the Axes,
    outside the data.

    Parameters
    ----------
    search : GridSearchCV, RandomizedSearchCV or dict
        A fitted scikit-learn search (anything with ``cv_results_``) or a ``cv_results_`` dict:
        ``"params"`` (a list of n_candidates dicts), ``"mean_test_score"`` and
        ``"std_test_score"`` (arrays of shape (n_candidates,)); ``"rank_test_score"`` is used
        when present. A search with several metrics is drawn for its ``refit`` metric.
    param : str, optional
        The parameter on the x axis; by default the first searched parameter that takes more
        than one value.
    ax : matplotlib Axes, optional
        Where to draw; by default the Axes of a new figure (with a layout that leaves room for
        the legend).

    Returns
    -------
    matplotlib Axes
        x label `param`, y label "mean CV score (± std over folds)".

    Raises
    ------
    ValueError
        When the search is not fitted, keys are missing from ``cv_results_``, or `param` was
        not searched.
    TypeError
        When `search` is neither a search nor a mapping.
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    A ``cv_results_`` by hand; a fitted search, ``plot_search(GridSearchCV(...).fit(X, y))``,
    draws the same way.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from deepnet.plotting import plot_search
    >>> results = {
    ...     "params": [{"hidden_layer_sizes": h, "learning_rate": lr}
    ...                for h in [(32,), (64, 32)] for lr in [1e-3, 1e-2]],
    ...     "mean_test_score": [0.95, 0.96, 0.97, 0.98],
    ...     "std_test_score": [0.01, 0.02, 0.01, 0.01],
    ... }
    >>> ax = plot_search(results)
    >>> ax.get_xlabel(), [tick.get_text() for tick in ax.get_xticklabels()]
    ('hidden_layer_sizes', ['32', '64-32'])
    >>> [line.get_label() for line in ax.containers]
    ['learning_rate=0.001', 'learning_rate=0.01']
    >>> ax = plot_search(results, "learning_rate")
    >>> ax.get_xscale(), [line.get_label() for line in ax.containers]
    ('log', ['hidden_layer_sizes=32', 'hidden_layer_sizes=64-32'])
    """
    params, mean, std, rank = _search_results(search)
    param, others = _x_parameter(params, param)
    xs = _distinct(params, param)
    numeric = all(_is_number(v) for v in xs)
    slot = {_key(v): k for k, v in enumerate(xs)}

    def position(value: Any) -> float:
        return float(value) if numeric else float(slot[_key(value)])

    # one line per combination of the other parameters, its candidates in the order of x
    lines: dict[tuple[Any, ...], list[int]] = {}
    for i, candidate in enumerate(params):
        if param in candidate:
            key = tuple(_key(candidate[n]) if n in candidate else None for n in others)
            lines.setdefault(key, []).append(i)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    spread = 0.3 if not numeric and len(lines) > 1 else 0.0
    drawn_at: dict[int, float] = {}
    for j, members in enumerate(lines.values()):
        members = sorted(members, key=lambda i: position(params[i][param]))
        shift = spread * (j / (len(lines) - 1) - 0.5) if spread else 0.0
        x = [position(params[i][param]) + shift for i in members]
        drawn_at.update(zip(members, x))
        first = params[members[0]]
        label = ", ".join(f"{n}={_format_value(first[n])}" for n in others if n in first)
        ax.errorbar(
            x,
            mean[members],
            yerr=std[members],
            marker="o",
            markersize=4,
            capsize=3,
            label=label or "mean CV score",
        )
    best = int(np.argmin(rank)) if rank is not None else int(np.nanargmax(mean))
    if best in drawn_at:
        setting = "".join(f"\n{n}={_format_value(v)}" for n, v in params[best].items())
        ax.plot(
            [drawn_at[best]],
            [mean[best]],
            linestyle="none",
            marker="*",
            markersize=16,
            markerfacecolor="gold",
            markeredgecolor="black",
            zorder=5,
            label=f"best: {mean[best]:.4g} ± {std[best]:.2g}{setting}",
        )
    _x_axis(ax, plt, xs, numeric)
    ax.set_xlabel(param)
    ax.set_ylabel("mean CV score (± std over folds)")
    ax.grid(True, alpha=0.3)
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        fontsize="small",
    )
    return ax


def _x_parameter(params: list[Any], param: str | None) -> tuple[str, list[str]]:
    """The parameter on the x axis and the other searched parameters, in the search's order."""
    names = list(dict.fromkeys(name for candidate in params for name in candidate))
    if not names:
        raise ValueError("the search has no parameters to plot against: its params are all {}")
    if param is None:
        param = next((n for n in names if len(_distinct(params, n)) > 1), names[0])
    elif param not in names:
        raise ValueError(
            f"param {param!r} was not searched; the searched parameters are "
            + ", ".join(repr(n) for n in names)
        )
    return param, [n for n in names if n != param]


def _x_axis(ax: Any, plt: Any, xs: list[Any], numeric: bool) -> None:
    """Ticks at the searched values; a log scale for positive numbers spanning ≥ 10×."""
    if not numeric:
        ax.set_xticks(range(len(xs)), [_format_value(v) for v in xs])
        ax.set_xlim(-0.5, len(xs) - 0.5)
        return
    values = sorted(float(v) for v in xs)
    if values[0] > 0 and values[-1] >= 10 * values[0]:
        ax.set_xscale("log")
    if len(values) <= 12:
        ax.set_xticks(values, [_format_value(v) for v in values])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())


def _search_results(search: Any) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, Any]:
    """params, mean and std of the test score, and the rank (or None), from a search or dict."""
    if isinstance(search, Mapping):
        results: Mapping[str, Any] = search
    elif hasattr(search, "cv_results_"):
        results = search.cv_results_
    elif hasattr(search, "get_params") and hasattr(search, "fit"):
        raise ValueError(f"{type(search).__name__} has no cv_results_: fit it first")
    else:
        raise TypeError(
            "search: expected a fitted GridSearchCV/RandomizedSearchCV or a cv_results_ dict, "
            f"got {type(search).__name__}"
        )
    metric = "score"
    if "mean_test_score" not in results and isinstance(getattr(search, "refit", None), str):
        metric = search.refit
    keys = ["params", f"mean_test_{metric}", f"std_test_{metric}"]
    missing = [key for key in keys if key not in results]
    if missing:
        raise ValueError(
            "cv_results_ lacks "
            + ", ".join(repr(k) for k in missing)
            + "; it has "
            + ", ".join(repr(k) for k in results)
        )
    params = list(results["params"])
    mean = np.asarray(results[f"mean_test_{metric}"], dtype=np.float64)
    std = np.asarray(results[f"std_test_{metric}"], dtype=np.float64)
    rank = results.get(f"rank_test_{metric}")
    if rank is not None:
        rank = np.asarray(rank)
    n = len(params)
    if n == 0:
        raise ValueError("cv_results_ has no candidates")
    for key, column in [("mean", mean), ("std", std), ("rank", rank)]:
        if column is not None and column.shape != (n,):
            raise ValueError(
                f"cv_results_: {key}_test_{metric} has shape {column.shape}, expected ({n},) "
                "like params"
            )
    if not all(isinstance(p, Mapping) for p in params):
        raise ValueError("cv_results_['params'] must be a list of dicts")
    return params, mean, std, rank


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _key(value: Any) -> Any:
    """A hashable stand-in for a parameter value: equal numbers give equal keys."""
    return ("number", float(value)) if _is_number(value) else ("other", repr(value))


def _distinct(params: list[Any], name: str) -> list[Any]:
    """The values `name` takes, once each, in the order of the search."""
    seen: dict[Any, Any] = {}
    for candidate in params:
        if name in candidate:
            seen.setdefault(_key(candidate[name]), candidate[name])
    return list(seen.values())


def _format_value(value: Any) -> str:
    """A parameter value as an axis or legend shows it: (64, 32) → "64-32", 0.001 → "0.001"."""
    if isinstance(value, (tuple, list)):
        return "-".join(_format_value(v) for v in value)
    if _is_number(value) and not isinstance(value, numbers.Integral):
        return f"{float(value):g}"
    return str(value)
