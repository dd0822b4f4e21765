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


def test_decision_boundary_needs_two_inputs_and_x_of_the_models_shape():
    class ThreeInputs(ThresholdModel):
        n_x = 3

    with pytest.raises(ValueError, match=r"expected shape \(3, m\) for this model \(n_x = 3\)"):
        plotting.plot_decision_boundary(ThreeInputs(), np.zeros((2, 4)))
    model = dn.Sequential([dn.Dense(1, activation="sigmoid")], n_x=1, loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"n_x >= 2 inputs \(a plane\), got n_x = 1"):
        dn.plot_decision_boundary(model, np.zeros((1, 4)))


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
        (dict(features=(0, 0)), ValueError, r"features: expected two different inputs"),
        (dict(features=(0, 2)), ValueError, r"input 2 does not exist.*n_x = 2 inputs \(0..1\)"),
        (dict(features=(0,)), ValueError, r"features: expected two input indices"),
        (dict(features=0), TypeError, r"features: expected a pair"),
        (dict(features=(0, 1.0)), TypeError, r"features: expected integers or index tuples"),
        (dict(features=((0, 1), 1)), ValueError, r"index \(0, 1\) is not in an input of shape"),
        (dict(fixed=np.zeros(3)), ValueError, r"fixed: expected a number or one example of"),
        (dict(fixed=np.nan), ValueError, r"fixed: expected finite values"),
    ],
)
def test_decision_boundary_rejects_bad_arguments(kwargs, error, message):
    args = dict(X=np.zeros((2, 4)), Y=None)
    args.update(kwargs)
    model = ThresholdModel()
    with pytest.raises(error, match=message):
        plotting.plot_decision_boundary(model, **args)
    assert model.calls == []  # checked before predicting anything
    assert plt.get_fignums() == []


class SumModel:
    """n_y == 1 over inputs of any shape: ŷ = 0.9 where the sum of the inputs is > 0; records
    the arrays it was asked to predict."""

    def __init__(self, input_shape):
        self.input_shape = input_shape
        self.calls = []

    def predict(self, X):
        self.calls.append(np.array(X, copy=True))
        total = X.reshape(-1, X.shape[-1]).sum(axis=0)
        return np.where(total > 0, 0.9, 0.1)[None, :]


def test_decision_boundary_of_three_inputs_holds_the_third_at_its_mean(rng):
    X = rng.normal(size=(3, 30))
    model = SumModel((3,))
    ax = plotting.plot_decision_boundary(model, X, features=(0, 2), resolution=21)
    (grid,) = model.calls
    assert grid.shape == (3, 21 * 21)
    np.testing.assert_allclose(grid[1], X[1].mean())  # x2 held at its mean over X
    np.testing.assert_allclose(grid[0].min(), X[0].min() - 0.5)
    np.testing.assert_allclose(grid[2].max(), X[2].max() + 0.5)
    assert len(np.unique(grid[0])) == 21 and len(np.unique(grid[2])) == 21
    np.testing.assert_array_equal(_scatter(ax).get_offsets(), X[[0, 2]].T)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x3")
    assert ax.get_title() == "x2 fixed at its mean over X"

    # a number fixes every other input; negative indices count from the end
    model = SumModel((3,))
    ax = plotting.plot_decision_boundary(model, X, features=(-1, 1), fixed=2.5, resolution=5)
    np.testing.assert_allclose(model.calls[0][0], 2.5)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x3", "x2")
    assert ax.get_title() == "x1 fixed at the given values"


def test_decision_boundary_of_a_real_three_input_model():
    # ŷ = σ(x1 + 4 x2 − x3): with x2 held at its mean μ2, class 1 is where x1 − x3 > −4 μ2
    model = dn.Sequential(
        [dn.Dense(1, activation="sigmoid")], n_x=3, loss="binary_crossentropy", dtype="float64"
    )
    model.layers[0].W = np.array([[1.0, 4.0, -1.0]])
    model.layers[0].b = np.zeros((1, 1))
    X = np.array([[-1.0, 1.0, 0.5, -0.5], [0.0, 0.5, 0.25, 0.25], [1.0, -1.0, 0.0, 0.0]])
    ax = dn.plot_decision_boundary(model, X, features=(0, 2), resolution=81)
    shift = -4 * X[1].mean()
    class0, class1 = _contour(ax).get_paths()
    step = 3.0 / 80
    assert np.all(class1.vertices[:, 0] - class1.vertices[:, 1] >= shift - 2 * step)
    assert np.all(class0.vertices[:, 0] - class0.vertices[:, 1] <= shift + 2 * step)


def test_decision_boundary_of_a_model_of_signals_varies_two_coordinates(rng):
    shape = (2, 3)  # (channels, length): the inputs are numbered as Flatten numbers them
    X = rng.normal(size=shape + (10,))
    example = rng.normal(size=shape)
    model = SumModel(shape)
    ax = plotting.plot_decision_boundary(
        model, X, features=((0, 2), (1, 0)), fixed=example, resolution=7
    )
    (grid,) = model.calls
    assert grid.shape == shape + (49,)
    others = np.ones(shape, dtype=bool)
    others[0, 2] = others[1, 0] = False
    np.testing.assert_allclose(grid[others], np.repeat(example[others][:, None], 49, axis=1))
    np.testing.assert_allclose(
        grid[0, 2].reshape(7, 7)[0], np.linspace(X[0, 2].min() - 0.5, X[0, 2].max() + 0.5, 7)
    )
    np.testing.assert_array_equal(_scatter(ax).get_offsets(), np.c_[X[0, 2], X[1, 0]])
    assert ax.get_xlabel() == "x[0, 2]" and ax.get_ylabel() == "x[1, 0]"
    assert ax.get_title() == "the other inputs fixed at the given values"
    # the same inputs by flat index (row-major: (0, 2) is 2, (1, 0) is 3), others at the means
    model = SumModel(shape)
    plotting.plot_decision_boundary(model, X, features=(2, 3), resolution=7)
    means = X.reshape(6, -1).mean(axis=1).reshape(shape)
    np.testing.assert_allclose(model.calls[0][others], np.repeat(means[others][:, None], 49, 1))


def test_decision_boundary_of_many_inputs_predicts_in_chunks(rng):
    n_in = 2**15  # 4 Mi inputs per call at most: 128 grid points per call
    X = rng.normal(size=(n_in, 3))
    model = SumModel((n_in,))
    ax = plotting.plot_decision_boundary(model, X, resolution=12, fixed=0.0)
    assert [c.shape for c in model.calls] == [(n_in, 128), (n_in, 16)]
    grid = np.concatenate(model.calls, axis=1)[:2]
    if MPL_38:  # the regions are those of every chunk: class 1 where x1 + x2 > 0
        class0, class1 = _contour(ax).get_paths()
        step = (grid.max(axis=1) - grid.min(axis=1)).max() / 11
        assert np.all(class1.vertices.sum(axis=1) >= -2 * step)
        assert np.all(class0.vertices.sum(axis=1) <= 2 * step)


def _outside(ax):
    """The legend's box, the Axes' box and the figure's box after drawing."""
    ax.figure.canvas.draw()
    return ax.get_legend().get_window_extent(), ax.get_window_extent(), ax.figure.bbox


def test_decision_boundary_legend_names_the_classes_outside_the_axes(rng):
    X = _points(rng, m=30)
    ax = plotting.plot_decision_boundary(ThreeBandModel(), X, np.arange(30) % 3, resolution=20)
    assert _legend_labels(ax) == ["class 0", "class 1", "class 2"]
    legend, axes, figure = _outside(ax)
    assert legend.x0 >= axes.x1  # right of the data
    assert legend.x1 <= figure.x1 + 1  # and inside the figure
    if MPL_38:  # the patches have the colours of the regions
        regions = _contour(ax).get_facecolor()[:, :3]
        patches = [p.get_facecolor()[:3] for p in ax.get_legend().get_patches()]
        np.testing.assert_allclose(patches, regions)


def test_plot_history_legend_sits_above_the_axes():
    h = _history(cost=[0.9, 0.5], accuracy=[0.5, 0.9], val_cost=[1.0, 0.6], val_accuracy=[0.4, 0.8])
    legend, axes, figure = _outside(plotting.plot_history(h))
    assert legend.y0 >= axes.y1 - 1  # above the curves, not on them
    assert legend.y1 <= figure.y1 + 1


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


# -- plot_weights, plot_filters, plot_feature_maps, plot_activations ---------------------------


def _tile(image, r, c, h, w):
    """Tile (r, c) of an image of h × w tiles separated by one blank line."""
    return image[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w]


def _image(ax):
    (image,) = ax.images
    return np.ma.filled(image.get_array().astype(float), np.nan)


def _gaps_are_blank(image, h, w):
    assert np.all(np.isnan(image[h :: h + 1, :])) and np.all(np.isnan(image[:, w :: w + 1]))


def _dense_model(n_x, units, seed=0, **kwargs):
    model = dn.Sequential(
        [dn.Dense(units, activation="tanh"), dn.Dense(2)], n_x=n_x, loss="mse", dtype="float64"
    )
    W = np.random.default_rng(seed).normal(size=(units, n_x))
    model.layers[0].W = W
    return model, W


def test_plot_weights_draws_each_row_of_w_as_a_tile_on_a_scale_centred_at_zero():
    model, W = _dense_model(4, 5)
    ax = plotting.plot_weights(model, image_shape=(2, 2))
    image = _image(ax)
    assert image.shape == (2 * 3 - 1, 3 * 3 - 1)  # 5 units in ⌈√5⌉ = 3 columns, 2 rows
    for i in range(5):
        np.testing.assert_array_equal(_tile(image, i // 3, i % 3, 2, 2), W[i].reshape(2, 2))
    assert np.all(np.isnan(_tile(image, 1, 2, 2, 2)))  # no sixth unit
    _gaps_are_blank(image, 2, 2)
    (drawn,) = ax.images
    top = np.abs(W).max()
    assert drawn.get_clim() == pytest.approx((-top, top))
    assert drawn.get_cmap().name == "RdBu_r"
    assert "W^[1]" in ax.get_title() and "Dense" in ax.get_title()
    assert len(ax.figure.axes) == 2  # and a colour bar


def test_plot_weights_of_a_chosen_layer_the_first_n_units_and_a_layer_object():
    model, W = _dense_model(3, 4)
    model.layers[1].W = W2 = np.arange(8.0).reshape(2, 4) - 3
    for ax in (
        plotting.plot_weights(model, layer=1, image_shape=(2, 2)),
        plotting.plot_weights(model, layer=-1, image_shape=(2, 2)),
        plotting.plot_weights(model.layers[1], image_shape=(2, 2)),
        plotting.plot_weights(model, layer=model.layers[1], image_shape=(2, 2)),
    ):
        image = _image(ax)
        np.testing.assert_array_equal(_tile(image, 0, 0, 2, 2), W2[0].reshape(2, 2))
        np.testing.assert_array_equal(_tile(image, 0, 1, 2, 2), W2[1].reshape(2, 2))
        assert "W^[2]" in ax.get_title()
    image = _image(plotting.plot_weights(model, n=2))  # n^[0] = 3: one row of 3
    assert image.shape == (1, 2 * 4 - 1)
    np.testing.assert_array_equal(image[0, :3], W[0])
    np.testing.assert_array_equal(image[0, 4:], W[1])


@pytest.mark.parametrize(
    "layers,input_shape,tile",
    [
        ([dn.Dense(3)], (64,), (8, 8)),  # a square number of inputs: a square
        ([dn.Dense(3)], (6,), (1, 6)),  # otherwise a strip
        ([dn.Flatten(), dn.Dense(3)], (1, 4, 6), (4, 6)),  # the image the Flatten read
        ([dn.Flatten(), dn.Dropout(0.5), dn.Dense(3)], (2, 4, 3), (8, 3)),  # channels stacked
        ([dn.Flatten(), dn.Dense(3)], (2, 5), (2, 5)),  # a signal: channels × length
        ([dn.Conv2D(2, 3), dn.Flatten(), dn.Dense(3)], (1, 6, 5), (8, 3)),  # the feature maps
    ],
)
def test_plot_weights_tiles_take_the_shape_of_what_the_layer_reads(layers, input_shape, tile):
    model = dn.Sequential(layers, input_shape=input_shape, loss="mse", dtype="float64")
    index = len(layers) - 1
    W = model.layers[index].W
    ax = plotting.plot_weights(model, layer=index)
    h, w = tile
    np.testing.assert_array_equal(_tile(_image(ax), 0, 1, h, w), W[1].reshape(h, w))


def test_plot_weights_rejects_wrong_layers_and_shapes():
    model = dn.Sequential(
        [dn.Conv1D(2, 3), dn.Flatten(), dn.Dense(4)], input_shape=(1, 10), loss="mse"
    )
    with pytest.raises(TypeError, match=r"needs a Dense layer; layers\[0\] \(l = 1\) is Conv1D"):
        plotting.plot_weights(model, layer=0)
    with pytest.raises(TypeError, match=r"needs a Dense layer; layers\[1\] \(l = 2\) is Flatten"):
        plotting.plot_weights(model.layers[1])
    with pytest.raises(ValueError, match=r"layer: expected an index into model.layers, 0..2"):
        plotting.plot_weights(model, layer=3)
    with pytest.raises(TypeError, match=r"layer: expected an index into model.layers or a layer"):
        plotting.plot_weights(model, layer="dense")
    with pytest.raises(ValueError, match=r"h·w = n\^\[2\] = 16 .*got \(3, 5\)"):
        plotting.plot_weights(model, image_shape=(3, 5))
    with pytest.raises(TypeError, match=r"image_shape: expected \(h, w\)"):
        plotting.plot_weights(model, image_shape=16)
    with pytest.raises(ValueError, match=r"n: expected 1..4 \(the units in layer 3\), got 5"):
        plotting.plot_weights(model, n=5)
    with pytest.raises(TypeError, match=r"give `layer` with a model"):
        plotting.plot_weights(model.layers[2], layer=2)
    other = dn.Sequential([dn.Dense(2)], n_x=2, loss="mse")
    with pytest.raises(ValueError, match=r"is not one of this model's layers"):
        plotting.plot_weights(model, layer=other.layers[0])
    conv_only = dn.Sequential([dn.Conv1D(2, 3), dn.Flatten()], input_shape=(1, 10), loss="mse")
    with pytest.raises(
        TypeError, match=r"needs a Dense layer; this model has none: Conv1D, Flatten"
    ):
        plotting.plot_weights(conv_only)
    unbuilt = dn.Sequential([dn.Dense(2)], loss="mse")
    with pytest.raises(RuntimeError, match=r"has no parameters yet"):
        plotting.plot_weights(unbuilt)
    assert plt.get_fignums() == []  # checked before a figure is made


def test_plot_filters_of_conv2d_one_row_per_filter_one_column_per_channel():
    model = dn.Sequential([dn.Conv2D(3, (2, 3)), dn.Flatten()], input_shape=(2, 5, 5), loss="mse")
    W = model.layers[0].W.astype(float)  # (filters, channels, kh, kw)
    ax = plotting.plot_filters(model)
    image = _image(ax)
    assert image.shape == (3 * 3 - 1, 2 * 4 - 1)
    for f in range(3):
        for c in range(2):
            np.testing.assert_array_equal(_tile(image, f, c, 2, 3), W[f, c])
    _gaps_are_blank(image, 2, 3)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
    assert ax.get_ylabel() == "filter f" and ax.get_xlabel() == "channel c"
    top = np.abs(W).max()
    assert ax.images[0].get_clim() == pytest.approx((-top, top))


def test_plot_filters_of_one_channel_wrap_into_a_grid_and_conv1d_is_a_heat_map():
    model = dn.Sequential(
        [dn.Conv2D(5, 3), dn.Flatten(), dn.Dense(2)], input_shape=(1, 6, 6), loss="mse"
    )
    W = model.layers[0].W.astype(float)
    image = _image(plotting.plot_filters(model, layer=0))
    assert image.shape == (2 * 4 - 1, 3 * 4 - 1)  # 5 filters in 3 columns
    for f in range(5):
        np.testing.assert_array_equal(_tile(image, f // 3, f % 3, 3, 3), W[f, 0])

    signal = dn.Sequential(
        [dn.MaxPooling1D(), dn.Conv1D(4, 5), dn.Flatten()], input_shape=(2, 20), loss="mse"
    )
    W = signal.layers[1].W.astype(float)  # (filters, channels, k)
    ax = plotting.plot_filters(signal.layers[1])
    image = _image(ax)
    assert image.shape == (4 * 2 - 1, 2 * 6 - 1)
    for f in range(4):
        for c in range(2):
            np.testing.assert_array_equal(_tile(image, f, c, 1, 5)[0], W[f, c])
    assert "layer 2 (Conv1D)" in ax.get_title()


def test_plot_filters_rejects_a_dense_layer():
    model = dn.Sequential([dn.Dense(2)], n_x=3, loss="mse")
    with pytest.raises(TypeError, match=r"convolutional layer \(Conv1D or Conv2D\); this model"):
        plotting.plot_filters(model)
    with pytest.raises(TypeError, match=r"Conv1D or Conv2D\); layers\[0\] \(l = 1\) is Dense\(2"):
        plotting.plot_filters(model, layer=0)


def _correlate2d(x, w, b):
    """Z[f, y, x] = Σ_c Σ_u Σ_v W[f, c, u, v] x[c, y + u, x + v] + b[f], by loops."""
    F, C, kh, kw = w.shape
    H, Wd = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    z = np.zeros((F, H, Wd))
    for f in range(F):
        for i in range(H):
            for j in range(Wd):
                z[f, i, j] = np.sum(w[f] * x[:, i : i + kh, j : j + kw]) + b[f, 0]
    return z


def _conv_net(rng):
    model = dn.Sequential(
        [dn.Conv2D(3, 2, activation="relu"), dn.MaxPooling2D(), dn.Flatten(), dn.Dense(2)],
        input_shape=(2, 5, 5),
        loss="mse",
        dtype="float64",
    )
    model.layers[0].W = w = rng.normal(size=(3, 2, 2, 2))
    model.layers[0].b = b = rng.normal(size=(3, 1))
    return model, w, b


def test_plot_feature_maps_draws_a_conv_layers_output_channel_by_channel(rng):
    model, w, b = _conv_net(rng)
    x = rng.normal(size=(2, 5, 5))
    A = np.maximum(_correlate2d(x, w, b), 0)  # (10) A = relu(Z), (3, 4, 4)
    for example in (x, x[..., None]):  # one example, with or without its m = 1 axis
        ax = plotting.plot_feature_maps(model, example)
        image = _image(ax)
        assert image.shape == (2 * 5 - 1, 2 * 5 - 1)  # 3 channels in 2 columns
        for c in range(3):
            np.testing.assert_allclose(_tile(image, c // 2, c % 2, 4, 4), A[c], atol=1e-12)
        assert np.all(np.isnan(_tile(image, 1, 1, 4, 4)))
        assert ax.images[0].get_clim() == pytest.approx((0.0, A.max()))  # relu: from 0 up
        assert ax.images[0].get_cmap().name == "viridis"
        assert "A^[1] of layer 1 (Conv2D)" in ax.get_title()
    # the pooling layer after it: the maximum of each 2 × 2 window
    pooled = A.reshape(3, 2, 2, 2, 2).max(axis=(2, 4))
    image = _image(plotting.plot_feature_maps(model, x, layer=1, n=2))
    assert image.shape == (2, 2 * 3 - 1)  # the first 2 channels, in 2 columns
    np.testing.assert_allclose(_tile(image, 0, 1, 2, 2), pooled[1], atol=1e-12)


def test_plot_feature_maps_of_a_signal_one_row_per_channel(rng):
    model = dn.Sequential(
        [dn.Conv1D(2, 3), dn.Flatten()], input_shape=(1, 8), loss="mse", dtype="float64"
    )
    model.layers[0].W = np.array([[[1.0, 0.0, -1.0]], [[0.5, 0.5, 0.5]]])
    model.layers[0].b = np.zeros((2, 1))
    x = rng.normal(size=(1, 8))
    ax = plotting.plot_feature_maps(model, x)
    image = _image(ax)
    assert image.shape == (3, 6)
    np.testing.assert_allclose(image[0], x[0, :6] - x[0, 2:], atol=1e-12)
    np.testing.assert_allclose(image[2], 0.5 * (x[0, :6] + x[0, 1:7] + x[0, 2:]), atol=1e-12)
    assert ax.images[0].get_cmap().name == "RdBu_r"  # negative values: centred at 0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1"]


def test_plot_feature_maps_rejects_wrong_layers_and_examples(rng):
    model, _, _ = _conv_net(rng)
    with pytest.raises(ValueError, match=r"x: expected one example of shape \(2, 5, 5\)"):
        plotting.plot_feature_maps(model, np.zeros((2, 5, 5, 3)))
    with pytest.raises(TypeError, match=r"convolutional or pooling layer.*layers\[3\].*Dense"):
        plotting.plot_feature_maps(model, np.zeros((2, 5, 5)), layer=3)
    with pytest.raises(ValueError, match=r"n: expected 1..3 \(the channels"):
        plotting.plot_feature_maps(model, np.zeros((2, 5, 5)), n=4)
    unbuilt = dn.Sequential([dn.Conv1D(2, 3), dn.Flatten()], loss="mse")
    with pytest.raises(ValueError, match=r"needs a built model"):
        plotting.plot_feature_maps(unbuilt, np.zeros((1, 8)))
    assert plt.get_fignums() == []


def test_plot_activations_is_a_heat_map_of_a_hidden_layer_over_the_examples(rng):
    model, W = _dense_model(3, 4)
    X = rng.normal(size=(3, 12))
    A = np.tanh(W @ X)  # (9)–(10) with b = 0
    ax = plotting.plot_activations(model, X)
    np.testing.assert_allclose(_image(ax), A, atol=1e-12)
    top = np.abs(A).max()
    assert ax.images[0].get_clim() == pytest.approx((-top, top))  # tanh: centred at 0
    assert ax.get_xlabel() == "example i" and ax.get_ylabel() == "unit j of layer 1"


def test_plot_activations_groups_the_examples_by_class(rng):
    model, W = _dense_model(3, 4)
    X = rng.normal(size=(3, 9))
    labels = np.array([2, 0, 1, 0, 2, 2, 1, 0, 1])
    order = [1, 3, 7, 2, 6, 8, 0, 4, 5]  # by class, each class in its own order
    for y in (labels, np.eye(3)[:, labels]):
        ax = plotting.plot_activations(model, X, y)
        np.testing.assert_allclose(_image(ax), np.tanh(W @ X[:, order]), atol=1e-12)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
        np.testing.assert_allclose(ax.get_xticks(), [1, 4, 7])
        bounds = [line.get_xdata()[0] for line in ax.get_lines()]
        assert bounds == [2.5, 5.5]  # a line between the classes


def test_plot_activations_of_a_recurrent_layer_and_its_errors(rng):
    model = dn.Sequential(
        [dn.GRU(3, return_sequences=True), dn.SimpleRNN(4, activation="relu"), dn.Dense(1)],
        input_shape=(2, 5),
        loss="mse",
        dtype="float64",
    )
    X = rng.normal(size=(2, 5, 6))
    ax = plotting.plot_activations(model, X, layer=1)
    np.testing.assert_allclose(_image(ax), model.forward(X).A[2])
    assert ax.images[0].get_cmap().name == "viridis"  # relu: from 0 up
    with pytest.raises(ValueError, match=r"layers\[0\] is GRU.*\(units, time, m\)"):
        plotting.plot_activations(model, X)
    with pytest.raises(ValueError, match=r"Y: expected shape \(6,\)"):
        plotting.plot_activations(model, X, np.zeros(5), layer=1)
    conv = dn.Sequential(
        [dn.Conv1D(2, 3), dn.Flatten(), dn.Dense(1)], input_shape=(1, 6), loss="mse"
    )
    with pytest.raises(TypeError, match=r"dense, recurrent or global pooling.*Conv1D"):
        plotting.plot_activations(conv, np.zeros((1, 6, 2)), layer=0)


def test_teaching_plots_draw_into_the_given_axes_and_render(rng):
    model, _, _ = _conv_net(rng)
    fig, axes = plt.subplots(2, 2)
    x = rng.normal(size=(2, 5, 5, 4))
    drawn = [
        plotting.plot_filters(model, ax=axes[0, 0]),
        plotting.plot_feature_maps(model, x[..., :1], ax=axes[0, 1]),
        plotting.plot_weights(model, ax=axes[1, 0]),
        plotting.plot_activations(model, x, ax=axes[1, 1]),
    ]
    assert drawn == list(axes.ravel())
    assert len(plt.get_fignums()) == 1
    fig.canvas.draw()
