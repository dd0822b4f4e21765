"""deepnet.plotting: what plot_history and plot_decision_boundary put on the Axes."""

from __future__ import annotations

import sys
import warnings

import deepnet as dn
import numpy as np
import pytest
from deepnet import plotting

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402

MPL_38 = tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 8)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(**series):
    history = dn.History({})
    n = len(next(iter(series.values())))
    history.epoch = list(range(1, n + 1))
    history.history = {key: list(values) for key, values in series.items()}
    return history


def _legend_labels(ax):
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


# -- plot_history -----------------------------------------------------------------------------


def test_plot_history_draws_costs_and_accuracies_on_a_twin_axis():
    h = _history(
        cost=[0.9, 0.5, 0.3, 0.2],
        accuracy=[0.5, 0.7, 0.8, 0.9],
        val_cost=[1.0, 0.6, 0.5, 0.55],
        val_accuracy=[0.4, 0.6, 0.7, 0.65],
    )
    ax = plotting.plot_history(h)
    fig = ax.figure
    assert len(fig.axes) == 2  # a new figure: the costs and their twin for the accuracies
    twin = next(a for a in fig.axes if a is not ax)
    costs = {line.get_label(): line for line in ax.get_lines()}
    accs = {line.get_label(): line for line in twin.get_lines()}
    assert list(costs) == ["training cost J", "validation cost J"]
    assert list(accs) == ["training accuracy", "validation accuracy"]
    for line, key in [
        (costs["training cost J"], "cost"),
        (costs["validation cost J"], "val_cost"),
        (accs["training accuracy"], "accuracy"),
        (accs["validation accuracy"], "val_accuracy"),
    ]:
        np.testing.assert_array_equal(line.get_xdata(), h.epoch)
        np.testing.assert_array_equal(line.get_ydata(), h.history[key])
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "cost J"
    assert twin.get_ylabel() == "accuracy"
    # one legend, on the cost axes, listing all four lines
    assert _legend_labels(ax) == [
        "training cost J",
        "validation cost J",
        "training accuracy",
        "validation accuracy",
    ]
    assert twin.get_legend() is None
    fig.canvas.draw()  # it renders


def test_plot_history_with_only_the_cost_has_no_twin_axis():
    h = _history(cost=[3.0, 2.0, 1.5])
    ax = plotting.plot_history(h)
    assert len(ax.figure.axes) == 1
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), [3.0, 2.0, 1.5])
    assert _legend_labels(ax) == ["training cost J"]


def test_plot_history_draws_data_cost_dashed_when_there_is_an_l2_penalty():
    h = _history(cost=[1.0, 0.8], data_cost=[0.9, 0.7], val_cost=[1.1, 0.9])
    ax = plotting.plot_history(h)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"training cost J", "validation cost J", "training cost J without L2"}
    np.testing.assert_array_equal(lines["training cost J without L2"].get_ydata(), [0.9, 0.7])
    assert lines["training cost J without L2"].get_linestyle() == "--"
    assert len(ax.figure.axes) == 1


def test_plot_history_draws_into_the_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    h = _history(cost=[1.0, 0.5], accuracy=[0.5, 1.0])
    assert plotting.plot_history(h, ax=right) is right
    assert len(left.get_lines()) == 0 and len(right.get_lines()) == 1
    assert len(fig.axes) == 3  # the two given and the twin of `right`
    assert len(plt.get_fignums()) == 1  # no new figure


def test_history_plot_is_plot_history():
    h = _history(cost=[1.0, 0.5, 0.25], val_cost=[1.2, 0.7, 0.6])
    ax = h.plot()
    ydata = [list(line.get_ydata()) for line in ax.get_lines()]
    assert ydata == [h.history["cost"], h.history["val_cost"]]
    _, given = plt.subplots()
    assert h.plot(given) is given and len(given.get_lines()) == 2


def test_plots_without_matplotlib_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plotting.plot_history(_history(cost=[1.0]))
    with pytest.raises(ImportError, match=r"deepnet\[demo\]"):
        plotting.plot_decision_boundary(ThresholdModel(), np.zeros((2, 3)))


# -- plot_decision_boundary -------------------------------------------------------------------


class ThresholdModel:
    """n_y == 1: ŷ = 0.9 where x1 > 0, 0.1 elsewhere; records what it was asked to predict."""

    n_x = 2

    def __init__(self):
        self.calls = []

    def predict(self, X):
        self.calls.append(np.array(X, copy=True))
        return np.where(X[0] > 0, 0.9, 0.1)[None, :]


class ThreeBandModel:
    """n_y == 3: scores whose argmax is 0 for x1 < -1/3, 1 in between, 2 for x1 > 1/3."""

    n_x = 2

    def predict(self, X):
        return np.vstack([-X[0] - 1 / 3, np.full(X.shape[1], 0.0), X[0] - 1 / 3])


def _contour(ax):
    if not MPL_38:
        pytest.skip("ContourSet is an Artist of the Axes from matplotlib 3.8")
    sets = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(sets) == 1
    return sets[0]


def _scatter(ax):
    points = [
        c for c in ax.collections if isinstance(c, PathCollection) and not isinstance(c, ContourSet)
    ]
    assert len(points) == 1
    return points[0]


def _points(rng, m=40):
    return np.vstack([rng.uniform(-2, 3, m), rng.uniform(-1, 1, m)])


def test_decision_boundary_predicts_the_padded_grid_in_one_call(rng):
    X = _points(rng)
    model = ThresholdModel()
    ax = plotting.plot_decision_boundary(model, X, resolution=50, padding=0.5)
    assert len(model.calls) == 1
    grid = model.calls[0]
    assert grid.shape == (2, 50 * 50)  # grid points as columns
    np.testing.assert_allclose(grid.min(axis=1), X.min(axis=1) - 0.5)
    np.testing.assert_allclose(grid.max(axis=1), X.max(axis=1) + 0.5)
    assert len(np.unique(grid[0])) == 50 and len(np.unique(grid[1])) == 50
    assert ax.get_xlim() == pytest.approx((X[0].min() - 0.5, X[0].max() + 0.5))
    assert ax.get_ylim() == pytest.approx((X[1].min() - 0.5, X[1].max() + 0.5))
    assert ax.get_xlabel() == "x1" and ax.get_ylabel() == "x2"


def test_decision_boundary_regions_follow_the_model_binary(rng):
    X = _points(rng)
    ax = plotting.plot_decision_boundary(ThresholdModel(), X, resolution=101)
    cs = _contour(ax)
    np.testing.assert_allclose(cs.levels, [-0.5, 0.5, 1.5])
    class0, class1 = cs.get_paths()
    step = (X[0].max() - X[0].min() + 1.0) / 100
    # ŷ > 0.5 exactly where x1 > 0: class 1 lies right of x1 = 0, class 0 left of it
    assert class1.vertices[:, 0].min() >= -step and class1.vertices[:, 0].max() > 2
    assert class0.vertices[:, 0].max() <= step and class0.vertices[:, 0].min() < -2


def test_decision_boundary_regions_follow_the_model_argmax(rng):
    X = _points(rng)
    ax = plotting.plot_decision_boundary(ThreeBandModel(), X, resolution=151)
    cs = _contour(ax)
    np.testing.assert_allclose(cs.levels, [-0.5, 0.5, 1.5, 2.5])
    bands = [path.vertices[:, 0] for path in cs.get_paths()]
    step = (X[0].max() - X[0].min() + 1.0) / 150
    assert bands[0].max() <= -1 / 3 + step
    assert bands[1].min() >= -1 / 3 - step and bands[1].max() <= 1 / 3 + step
    assert bands[2].min() >= 1 / 3 - step


def test_decision_boundary_points_are_the_columns_of_x_coloured_by_class(rng):
    X = _points(rng)
    labels = (X[0] > 0.5).astype(int)
    labels[:2] = [0, 1]
    for Y in (labels, labels[None, :].astype(float)):  # (m,) labels or (1, m) 0/1 targets
        ax = plotting.plot_decision_boundary(ThresholdModel(), X, Y, resolution=30)
        ax.figure.canvas.draw()
        points = _scatter(ax)
        np.testing.assert_array_equal(points.get_offsets(), X.T)
        colors = points.get_facecolors()[:, :3]
        assert len(colors) == X.shape[1]
        for c in (0, 1):
            same = colors[labels == c]
            assert np.all(same == same[0])  # one colour per class
        assert not np.array_equal(colors[labels == 0][0], colors[labels == 1][0])
        if MPL_38:  # a point has the colour of its class's region
            regions = _contour(ax).get_facecolor()[:, :3]
            np.testing.assert_allclose(colors[0], regions[0])
            np.testing.assert_allclose(colors[1], regions[1])


def test_decision_boundary_one_hot_and_integer_labels_give_the_same_colours(rng):
    X = _points(rng, m=30)
    labels = np.arange(30) % 3
    one_hot = np.eye(3)[:, labels]
    colors = []
    for Y in (labels, one_hot):
        ax = plotting.plot_decision_boundary(ThreeBandModel(), X, Y, resolution=20)
        ax.figure.canvas.draw()
        colors.append(_scatter(ax).get_facecolors())
    np.testing.assert_array_equal(colors[0], colors[1])
    assert len({tuple(c) for c in colors[0]}) == 3


def test_decision_boundary_without_y_draws_plain_points(rng):
    X = _points(rng, m=10)
    ax = plotting.plot_decision_boundary(ThresholdModel(), X, resolution=10)
    ax.figure.canvas.draw()
    points = _scatter(ax)
    np.testing.assert_array_equal(points.get_offsets(), X.T)
    assert len({tuple(c) for c in points.get_facecolors()}) == 1


def test_decision_boundary_draws_into_the_given_axes(rng):
    fig, (left, right) = plt.subplots(1, 2)
    assert plotting.plot_decision_boundary(ThresholdModel(), _points(rng), ax=left) is left
    assert len(left.collections) >= 2 and len(right.collections) == 0
    assert len(plt.get_fignums()) == 1


def test_decision_boundary_of_a_real_model():
    # one sigmoid neuron with W = [1, -1], b = 0: ŷ > 0.5 exactly where x1 > x2
    model = dn.Sequential(
        [dn.Dense(1, activation="sigmoid")], n_x=2, loss="binary_crossentropy", dtype="float64"
    )
    model.layers[0].W = np.array([[1.0, -1.0]])
    model.layers[0].b = np.zeros((1, 1))
    X = np.array([[-1.0, 1.0, 0.5, -0.5], [1.0, -1.0, 0.0, 0.0]])
    Y = (X[0] > X[1]).astype(float)[None, :]
    ax = dn.plot_decision_boundary(model, X, Y, resolution=81, padding=0.5)
    np.testing.assert_array_equal(_scatter(ax).get_offsets(), X.T)
    class0, class1 = _contour(ax).get_paths()
    step = 3.0 / 80
    assert np.all(class1.vertices[:, 0] - class1.vertices[:, 1] >= -2 * step)
    assert np.all(class0.vertices[:, 0] - class0.vertices[:, 1] <= 2 * step)


def test_decision_boundary_needs_a_two_input_model():
    class ThreeInputs(ThresholdModel):
        n_x = 3

    with pytest.raises(ValueError, match=r"n_x == 2.*n_x = 3"):
        plotting.plot_decision_boundary(ThreeInputs(), np.zeros((2, 4)))
    model = dn.Sequential([dn.Dense(1, activation="sigmoid")], n_x=3, loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"n_x = 3"):
        dn.plot_decision_boundary(model, np.zeros((2, 4)))


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (dict(X=np.zeros((3, 4))), ValueError, r"X: expected shape \(2, m\)"),
        (dict(X=np.zeros((5, 2))), ValueError, r"did you pass X transposed"),
        (dict(X=np.zeros(4)), ValueError, r"X: expected shape \(2, m\)"),
        (dict(Y=np.zeros(5)), ValueError, r"Y: expected shape \(4,\)"),
        (dict(Y=np.zeros((2, 3))), ValueError, r"Y: expected shape"),
        (dict(resolution=1), ValueError, r"resolution: expected an integer >= 2"),
        (dict(resolution=2.5), TypeError, r"resolution"),
        (dict(padding=-1.0), ValueError, r"padding: expected a finite number >= 0"),
        (dict(padding="1"), TypeError, r"padding"),
    ],
)
def test_decision_boundary_rejects_bad_arguments(kwargs, error, message):
    args = dict(X=np.zeros((2, 4)), Y=None)
    args.update(kwargs)
    model = ThresholdModel()
    with pytest.raises(error, match=message):
        plotting.plot_decision_boundary(model, **args)
    assert model.calls == []  # checked before predicting anything


# -- plot_search ------------------------------------------------------------------------------

SIZES = [(32,), (64,), (64, 32), (128, 64)]
RATES = [1e-3, 3e-3, 1e-2]


def _cv_results(sizes=SIZES, rates=RATES, seed=0):
    """A cv_results_ as GridSearchCV writes it: candidates in ParameterGrid's order (sorted
    names, the last one varying fastest), scores in [0.9, 0.98], rank 1 for the best."""
    params = [{"hidden_layer_sizes": h, "learning_rate": lr} for h in sizes for lr in rates]
    rng = np.random.default_rng(seed)
    mean = rng.uniform(0.9, 0.98, len(params))
    std = rng.uniform(0.005, 0.02, len(params))
    rank = np.empty(len(params), dtype=np.int32)
    rank[np.argsort(-mean)] = np.arange(1, len(params) + 1)
    return {
        "params": params,
        "mean_test_score": mean,
        "std_test_score": std,
        "rank_test_score": rank,
    }


def _error_lines(ax):
    """{label: (x, mean, lower end, upper end)} of each errorbar line."""
    out = {}
    for container in ax.containers:
        line, _, (bars,) = container.lines
        segments = np.array(bars.get_segments())  # (points, 2 ends, xy)
        x = np.asarray(line.get_xdata(), dtype=float)
        np.testing.assert_allclose(segments[:, 0, 0], x)
        y = np.asarray(line.get_ydata(), dtype=float)
        out[container.get_label()] = (x, y, segments[:, 0, 1], segments[:, 1, 1])
    return out


def _star(ax):
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert len(stars) == 1
    return stars[0]


def test_plot_search_against_a_numeric_parameter_one_line_per_other_setting():
    res = _cv_results()
    ax = plotting.plot_search(res, "learning_rate")
    assert ax.get_xscale() == "log"  # 1e-3 .. 1e-2 spans 10×
    assert ax.get_xlabel() == "learning_rate"
    lines = _error_lines(ax)
    assert list(lines) == [f"hidden_layer_sizes={s}" for s in ("32", "64", "64-32", "128-64")]
    for size in SIZES:
        x, y, lo, hi = lines["hidden_layer_sizes=" + "-".join(map(str, size))]
        rows = [i for i, p in enumerate(res["params"]) if p["hidden_layer_sizes"] == size]
        np.testing.assert_allclose(x, RATES)
        np.testing.assert_allclose(y, res["mean_test_score"][rows])
        np.testing.assert_allclose(lo, y - res["std_test_score"][rows])
        np.testing.assert_allclose(hi, y + res["std_test_score"][rows])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.001", "0.003", "0.01"]


def test_plot_search_default_parameter_is_the_first_that_varies_and_tuples_are_categories():
    res = _cv_results()
    ax = plotting.plot_search(res)
    assert ax.get_xlabel() == "hidden_layer_sizes" and ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["32", "64", "64-32", "128-64"]
    lines = _error_lines(ax)
    assert list(lines) == ["learning_rate=0.001", "learning_rate=0.003", "learning_rate=0.01"]
    shifts = []
    for lr in RATES:
        x, y, _, _ = lines[f"learning_rate={lr:g}"]
        rows = [i for i, p in enumerate(res["params"]) if p["learning_rate"] == lr]
        np.testing.assert_allclose(y, res["mean_test_score"][rows])
        # categorical positions 0..3, each line shifted sideways by the same small amount
        offset = x - np.arange(4)
        assert np.allclose(offset, offset[0]) and abs(offset[0]) < 0.5
        shifts.append(offset[0])
    assert len(set(np.round(shifts, 6))) == 3  # error bars of different lines do not coincide

    # a parameter that takes one value is not chosen, whatever its place
    res["params"] = [{"activation": "relu", **p} for p in res["params"]]
    assert plotting.plot_search(res).get_xlabel() == "hidden_layer_sizes"


def test_plot_search_marks_the_best_candidate_and_keeps_the_legend_off_the_data():
    res = _cv_results(seed=3)
    best = int(np.argmin(res["rank_test_score"]))
    ax = plotting.plot_search(res, "learning_rate")
    star = _star(ax)
    np.testing.assert_allclose(star.get_xdata(), [res["params"][best]["learning_rate"]])
    np.testing.assert_allclose(star.get_ydata(), [res["mean_test_score"][best]])
    labels = _legend_labels(ax)
    best_label = next(label for label in labels if label.startswith("best"))
    assert f"{res['mean_test_score'][best]:.4g}" in best_label
    assert f"learning_rate={res['params'][best]['learning_rate']:g}" in best_label
    ax.figure.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1  # to the right of the Axes
    assert legend_box.x1 <= ax.figure.bbox.x1 + 1  # and inside the figure


def test_plot_search_without_a_rank_marks_the_highest_mean():
    res = _cv_results(seed=1)
    del res["rank_test_score"]
    ax = plotting.plot_search(res, "hidden_layer_sizes")
    np.testing.assert_allclose(_star(ax).get_ydata(), [res["mean_test_score"].max()])


@pytest.mark.parametrize(
    "values,scale",
    [([1e-3, 3e-3], "linear"), ([0.0, 1e-4, 1e-2], "linear"), ([1, 10, 100], "log")],
)
def test_plot_search_log_scale_only_for_positive_numbers_spanning_ten_times(values, scale):
    res = {
        "params": [{"l2": v} for v in values],
        "mean_test_score": np.linspace(0.8, 0.9, len(values)),
        "std_test_score": np.full(len(values), 0.01),
    }
    ax = plotting.plot_search(res)
    assert ax.get_xscale() == scale
    (line,) = _error_lines(ax).values()
    np.testing.assert_allclose(line[0], values)
    assert _legend_labels(ax)[-1] == "mean CV score"  # one parameter: one unnamed line


def test_plot_search_draws_into_the_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert plotting.plot_search(_cv_results(), ax=left) is left
    assert len(left.containers) == 3 and len(right.containers) == 0
    assert len(plt.get_fignums()) == 1


def test_plot_search_uses_the_refit_metric_of_a_multi_metric_search():
    res = _cv_results()
    multi = {
        "params": res["params"],
        "mean_test_acc": res["mean_test_score"],
        "std_test_acc": res["std_test_score"],
        "rank_test_acc": res["rank_test_score"],
    }

    class Search:
        cv_results_ = multi
        refit = "acc"

    lines = _error_lines(plotting.plot_search(Search(), "learning_rate"))
    np.testing.assert_allclose(lines["hidden_layer_sizes=32"][1], res["mean_test_score"][:3])


def test_plot_search_rejects_an_unknown_parameter_missing_keys_and_unfitted_searches():
    res = _cv_results()
    with pytest.raises(ValueError, match=r"'epochs' was not searched.*'hidden_layer_sizes'"):
        plotting.plot_search(res, "epochs")
    with pytest.raises(ValueError, match=r"lacks 'std_test_score'"):
        plotting.plot_search({k: v for k, v in res.items() if k != "std_test_score"})
    with pytest.raises(ValueError, match=r"lacks 'params', 'mean_test_score'"):
        plotting.plot_search({"mean_fit_time": [1.0]})
    with pytest.raises(ValueError, match=r"shape \(3,\), expected \(12,\)"):
        plotting.plot_search({**res, "mean_test_score": np.zeros(3)})
    with pytest.raises(TypeError, match=r"cv_results_ dict"):
        plotting.plot_search([1, 2, 3])
    sk = pytest.importorskip("sklearn.model_selection")
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError, match=r"GridSearchCV has no cv_results_: fit it first"):
        plotting.plot_search(sk.GridSearchCV(LogisticRegression(), {"C": [1.0, 2.0]}))
    assert plt.get_fignums() == []  # checked before a figure is made


def test_plot_search_of_a_real_grid_search_over_deepnet():
    pytest.importorskip("sklearn")
    from deepnet.sklearn import DeepNetClassifier
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    X, y = load_iris(return_X_y=True)
    grid = {"hidden_layer_sizes": [(8,), (16, 8)], "learning_rate": [1e-3, 1e-2]}
    search = GridSearchCV(
        DeepNetClassifier(epochs=15, batch_size=16, random_state=0),
        grid,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 15 epochs: J still improving
        search.fit((X - X.mean(axis=0)) / X.std(axis=0), y)
    ax = plotting.plot_search(search)
    assert ax.get_xlabel() == "hidden_layer_sizes"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "16-8"]
    lines = _error_lines(ax)
    assert list(lines) == ["learning_rate=0.001", "learning_rate=0.01"]
    res = search.cv_results_
    for lr, (_, y_mean, _, _) in zip(grid["learning_rate"], lines.values()):
        rows = [i for i, p in enumerate(res["params"]) if p["learning_rate"] == lr]
        np.testing.assert_allclose(y_mean, res["mean_test_score"][rows])
    np.testing.assert_allclose(_star(ax).get_ydata(), [search.best_score_])
    ax.figure.canvas.draw()
