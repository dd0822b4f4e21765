"""The scikit-learn estimators: scikit-learn's own estimator checks, and what they promise
beyond them (weights, templates, layouts, continuing a fit), each compared with an independent
computation: repeated rows for weights, a hand reshape for layouts, one long fit for several
short ones."""

from __future__ import annotations

import doctest
import os
import pickle
import subprocess
import sys
import warnings

import deepnet as dn
import deepnet.sklearn as dn_sklearn
import numpy as np
import pytest
from deepnet.sklearn import DeepNetClassifier, DeepNetRegressor
from joblib import parallel_backend
from sklearn.base import clone
from sklearn.datasets import load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# Defaults on purpose: every check passes with the estimators as a user first meets them.
@parametrize_with_checks([DeepNetClassifier(), DeepNetRegressor()])
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    # scikit-learn skips its array-API check (numpy namespace) unless this is set; it only
    # reads the variable, so setting it here runs the check instead of skipping it
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


def test_docstring_examples_run():
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(dn_sklearn, optionflags=flags, verbose=False)
    assert result.attempted >= 3 and result.failed == 0


# -- helpers -----------------------------------------------------------------------------------


def _data(rng, n=24, n_features=5, n_classes=3):
    X = rng.normal(size=(n, n_features))
    y = np.arange(n) % n_classes
    return X, y


def _full_batch(cls, **params):
    """Full-batch gradient descent in float64: integer weights are exactly repeated rows."""
    defaults = dict(hidden_layer_sizes=(8,), batch_size=None, epochs=30, random_state=0)
    return cls(**{**defaults, **params})


def _output(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


# -- sample and class weights ------------------------------------------------------------------


@pytest.mark.parametrize("cls", [DeepNetClassifier, DeepNetRegressor])
def test_integer_weights_equal_repeated_rows(cls, rng):
    X, y = _data(rng)
    if cls is DeepNetRegressor:
        y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2]])  # two outputs
    w = rng.integers(0, 4, size=len(y))
    w[:3] = [0, 1, 2]  # a removed row, a plain one and a doubled one at least
    weighted = _full_batch(cls).fit(X, y, sample_weight=w)
    repeated = _full_batch(cls).fit(np.repeat(X, w, axis=0), np.repeat(y, w, axis=0))
    np.testing.assert_allclose(_output(weighted, X), _output(repeated, X), rtol=1e-9, atol=1e-12)
    # J = Σ w_i L_i / Σ w_i, epoch by epoch, is the plain mean over the repeated rows
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-9)


def test_equal_weights_are_no_weights(rng):
    X, y = _data(rng)
    plain = _full_batch(DeepNetClassifier).fit(X, y)
    weighted = _full_batch(DeepNetClassifier).fit(X, y, sample_weight=np.full(len(y), 2.5))
    np.testing.assert_array_equal(plain.predict_proba(X), weighted.predict_proba(X))


def test_class_weight_dict_equals_repeating_the_class(rng):
    X, y = _data(rng, n_classes=2)
    weighted = _full_batch(DeepNetClassifier, class_weight={0: 3}).fit(X, y)
    w = np.where(y == 0, 3, 1)
    repeated = _full_batch(DeepNetClassifier).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)


def test_class_weight_balanced_and_sample_weight_multiply(rng):
    X, _ = _data(rng, n=30)
    y = np.array(["a"] * 20 + ["b"] * 7 + ["c"] * 3)
    s = rng.uniform(0.5, 2.0, size=len(y))
    # "balanced": n_samples / (n_classes · count of the class), by hand
    counts = {"a": 20, "b": 7, "c": 3}
    balanced = np.array([30 / (3 * counts[label]) for label in y])
    est = _full_batch(DeepNetClassifier, class_weight="balanced").fit(X, y, sample_weight=s)
    by_hand = _full_batch(DeepNetClassifier).fit(X, y, sample_weight=s * balanced)
    np.testing.assert_allclose(est.predict_proba(X), by_hand.predict_proba(X), rtol=1e-12)


def test_weights_that_leave_one_class_predict_it(rng):
    X, y = _data(rng, n_classes=2)
    clf = _full_batch(DeepNetClassifier).fit(X, y, sample_weight=(y == 1).astype(float))
    assert clf.model_ is None
    np.testing.assert_array_equal(clf.predict(X), np.ones(len(y)))
    np.testing.assert_array_equal(clf.predict_proba(X)[:, 1], np.ones(len(y)))


def test_zero_weights_are_refused(rng):
    X, y = _data(rng)
    with pytest.raises(ValueError, match="zero"):
        _full_batch(DeepNetClassifier).fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="zero"):
        _full_batch(DeepNetClassifier, class_weight={0: 0, 1: 0, 2: 0}).fit(X, y)
    with pytest.raises(ValueError, match="not in classes_"):
        _full_batch(DeepNetClassifier, class_weight={7: 1.0}).fit(X, y)


# -- randomness, copies ------------------------------------------------------------------------


def test_random_state_gives_identical_results(rng):
    X, y = _data(rng, n=40)
    params = dict(hidden_layer_sizes=(8,), epochs=5, batch_size=8, early_stopping=True)
    a = DeepNetClassifier(random_state=3, **params).fit(X, y)
    b = DeepNetClassifier(random_state=3, **params).fit(X, y)
    c = DeepNetClassifier(random_state=4, **params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.validation_loss_curve_ == b.validation_loss_curve_
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))
    # None: a fresh seed at every fit
    d = DeepNetClassifier(**params)
    first = d.fit(X, y).predict_proba(X)
    assert not np.array_equal(first, d.fit(X, y).predict_proba(X))


def test_clone_and_pickle_round_trip(rng):
    X, y = _data(rng, n=32)
    est = DeepNetClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0).fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    assert copy.n_iter_ == est.n_iter_ and copy.loss_curve_ == est.loss_curve_
    # the copy carries the optimizer state and the shuffling stream: it trains on identically
    np.testing.assert_array_equal(
        copy.partial_fit(X, y).predict_proba(X), est.partial_fit(X, y).predict_proba(X)
    )
    fresh = clone(est)
    assert fresh.get_params() == est.get_params() and not hasattr(fresh, "model_")


# -- the layers template and input_shape -------------------------------------------------------


def test_layers_template_is_copied_never_changed(rng):
    X, y = _data(rng)
    template = [dn.Dense(6, activation="tanh", l2=0.01), dn.Dropout(0.1)]
    configs = [layer.get_config() for layer in template]
    a = DeepNetClassifier(layers=template, epochs=2, random_state=0).fit(X, y)
    b = clone(a).fit(X, y)
    a.fit(X, y)  # a second fit builds new layers again
    for est in (a, b):
        assert [type(layer) for layer in est.model_.layers] == [dn.Dense, dn.Dropout, dn.Dense]
        assert all(layer is not t for layer in est.model_.layers for t in template)
    assert a.model_.layers[0] is not b.model_.layers[0]
    assert [layer.get_config() for layer in template] == configs
    assert all(layer._model is None for layer in template)
    assert a.model_.layers[-1].get_config() == {"units": 3, "activation": "softmax"}
    # a callable returning the layers works the same way
    c = DeepNetClassifier(layers=lambda: [dn.Dense(6, activation="tanh")], epochs=2).fit(X, y)
    assert c.model_.layers[0].units == 6


def test_hidden_layer_sizes_make_dense_layers_with_l2(rng):
    X, y = _data(rng)
    reg = DeepNetRegressor(hidden_layer_sizes=(7, 5), activation="logistic", l2=0.1, epochs=1)
    reg.fit(X, y.astype(float))
    configs = [layer.get_config() for layer in reg.model_.layers]
    assert configs == [
        {"units": 7, "activation": "sigmoid", "l2": 0.1},
        {"units": 5, "activation": "sigmoid", "l2": 0.1},
        {"units": 1, "activation": "linear", "l2": 0.1},
    ]
    assert reg.model_.loss == "mse"
    binary = DeepNetClassifier(hidden_layer_sizes=(), epochs=1).fit(X, y % 2)
    assert binary.model_.loss == "binary_crossentropy"
    assert binary.model_.layers[0].get_config() == {"units": 1, "activation": "sigmoid"}


def test_rows_reach_the_network_as_columns_without_a_copy(rng):
    X = rng.normal(size=(10, 6))
    est = DeepNetRegressor(input_shape=(2, 3), hidden_layer_sizes=(4,), epochs=1)
    est.fit(X, X[:, 0])
    columns = est._columns(X)
    assert columns.shape == (2, 3, 10) and np.shares_memory(columns, X)
    np.testing.assert_array_equal(columns, X.reshape(10, 2, 3).transpose(1, 2, 0))
    assert type(est.model_.layers[0]) is dn.Flatten  # dense layers take vectors


def _signals(rng, n, channels, length):
    """Two classes of noisy sines (slow, fast) as (n, channels, length)."""
    y = np.arange(n) % 2
    t = np.arange(length)
    phase = rng.uniform(0, 2 * np.pi, size=(n, channels, 1))
    freq = np.where(y == 0, 0.15, 0.6)[:, None, None]
    return np.sin(freq * t + phase) + 0.1 * rng.normal(size=(n, channels, length)), y


def test_conv1d_template_on_flattened_signals(rng):
    signals, y = _signals(rng, 80, 1, 20)
    X = signals.reshape(len(y), -1)  # rows: examples flattened in C order
    layers = [dn.Conv1D(4, 5, activation="relu"), dn.Flatten()]
    clf = DeepNetClassifier(layers=layers, input_shape=(1, 20), learning_rate=0.01, epochs=40)
    clf.set_params(random_state=0).fit(X, y)
    assert clf.model_.input_shape == (1, 20) and clf.score(X, y) > 0.9
    # what the network saw: the (channels, length, m) array built by hand
    np.testing.assert_allclose(
        clf.predict_proba(X)[:, 1], clf.model_.predict(signals.transpose(1, 2, 0))[0]
    )
    with pytest.raises(ValueError, match="input_shape"):
        clf.set_params(input_shape=(2, 9)).fit(X, y)


def test_gru_template_on_sequences(rng):
    signals, y = _signals(rng, 60, 2, 8)  # (features, time) = (2, 8)
    X = signals.reshape(len(y), -1)
    clf = DeepNetClassifier(layers=[dn.GRU(6)], input_shape=(2, 8), learning_rate=0.02)
    clf.set_params(epochs=30, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    np.testing.assert_allclose(
        clf.predict_proba(X)[:, 1], clf.model_.predict(signals.transpose(1, 2, 0))[0]
    )


# -- continuing: partial_fit, warm_start -------------------------------------------------------


@pytest.mark.parametrize("cls", [DeepNetClassifier, DeepNetRegressor])
def test_partial_fit_epochs_equal_one_fit(cls, rng):
    X, y = _data(rng, n=40)
    params = dict(hidden_layer_sizes=(8,), batch_size=8, random_state=0)
    whole = cls(epochs=3, **params).fit(X, y)
    steps = cls(**params)
    for _ in range(3):
        steps.partial_fit(X, y, **({"classes": [0, 1, 2]} if cls is DeepNetClassifier else {}))
    assert steps.n_iter_ == whole.n_iter_ == 3
    np.testing.assert_array_equal(_output(steps, X), _output(whole, X))
    np.testing.assert_array_equal(steps.loss_curve_, whole.loss_curve_)


def test_partial_fit_checks(rng):
    X, y = _data(rng)
    clf = DeepNetClassifier(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2, 3])  # a batch may miss classes
    assert clf.model_.n_y == 4 and clf.classes_.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, y + 2)
    with pytest.raises(ValueError, match="is not the same as classes_"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :2], y)
    with pytest.raises(ValueError, match="balanced"):
        DeepNetClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


def test_warm_start_continues_the_network(rng):
    X, y = _data(rng, n=40)
    params = dict(hidden_layer_sizes=(8,), batch_size=8, random_state=0, n_iter_no_change=50)
    whole = DeepNetRegressor(epochs=4, **params).fit(X, y)
    warm = DeepNetRegressor(epochs=2, warm_start=True, **params)
    model = warm.fit(X, y).model_
    warm.fit(X, y)
    assert warm.model_ is model and warm.n_iter_ == 4 and len(warm.loss_curve_) == 4
    np.testing.assert_array_equal(warm.predict(X), whole.predict(X))
    # an incompatible problem (other features) starts a new network
    warm.fit(X[:, :3], y)
    assert warm.model_ is not model and warm.n_iter_ == 2
    cold = DeepNetRegressor(epochs=2, **params).fit(X, y)
    assert cold.fit(X, y).n_iter_ == 2


# -- stopping ----------------------------------------------------------------------------------


def test_early_stopping_records_the_validation_cost(rng):
    X, y = make_blobs(n_samples=200, centers=3, cluster_std=3.0, random_state=0)
    clf = DeepNetClassifier(
        hidden_layer_sizes=(32,),
        learning_rate=0.05,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
        epochs=500,
        random_state=0,
    ).fit(X, y)
    curve = clf.validation_loss_curve_
    assert clf.history_.stop_reason == "early_stopping"
    assert len(curve) == clf.n_iter_ == len(clf.loss_curve_) < 500
    assert curve == clf.history_.history["val_cost"]
    best = int(np.argmin(curve))
    assert clf.best_validation_loss_ == curve[best] and clf.n_iter_ - (best + 1) == 3
    assert clf.history_.params["m"] == 160  # the training part of a stratified 80/20 split


def test_early_stopping_weighs_the_validation_cost():
    """The held-out cost is weighted like the training cost: Σ w_i L_i / Σ w_i."""
    X, y = make_blobs(n_samples=100, centers=2, random_state=1)
    w = np.random.default_rng(0).random(100) + 0.5
    params = dict(hidden_layer_sizes=(8,), epochs=3, early_stopping=True, random_state=0)
    clf = DeepNetClassifier(**params).fit(X, y, sample_weight=w)
    # the same split, by hand: train_test_split with the estimator's random_state stream
    rng = np.random.RandomState(0)
    rng.randint(np.iinfo(np.int32).max)  # the seed drawn first
    _, held = train_test_split(np.arange(100), test_size=0.1, random_state=rng, stratify=y)
    proba = clf.predict_proba(X[held])[np.arange(len(held)), y[held]]
    expected = np.average(-np.log(proba), weights=w[held])
    # the parameters kept are those of the best epoch
    assert clf.best_validation_loss_ == pytest.approx(expected, rel=1e-9)


def test_convergence_stops_on_the_training_cost(rng):
    X, y = _data(rng)
    reg = DeepNetRegressor(hidden_layer_sizes=(4,), epochs=1000, tol=10.0, n_iter_no_change=2)
    reg.fit(X, y.astype(float))
    assert reg.n_iter_ == 3 and reg.validation_loss_curve_ is None  # 1 epoch, then 2 idle
    with pytest.warns(ConvergenceWarning, match="epoch limit"):
        reg.set_params(epochs=2, tol=0.0).fit(X, y.astype(float))


# -- what scikit-learn users expect ------------------------------------------------------------


def test_not_fitted():
    X = np.zeros((2, 3))
    for est in (DeepNetClassifier(), DeepNetRegressor()):
        for method in ("predict", "score"):
            with pytest.raises(NotFittedError):
                getattr(est, method)(X, *(([0, 1],) if method == "score" else ()))
    with pytest.raises(NotFittedError):
        DeepNetClassifier().predict_proba(X)


def test_single_class_and_continuous_targets(rng):
    X, _ = _data(rng)
    clf = DeepNetClassifier().fit(X, ["only"] * len(X))
    assert clf.model_ is None and clf.n_iter_ == 0
    assert clf.predict(X[:3]).tolist() == ["only"] * 3
    np.testing.assert_array_equal(clf.predict_proba(X[:3]), np.ones((3, 1)))
    with pytest.raises(ValueError, match="Unknown label type"):
        DeepNetClassifier().fit(X, rng.normal(size=len(X)))


def test_regressor_output_shapes_and_dtypes(rng):
    X, _ = _data(rng)
    Y = rng.normal(size=(len(X), 3))
    reg = DeepNetRegressor(hidden_layer_sizes=(4,), epochs=2)
    assert reg.fit(X, Y).predict(X).shape == (len(X), 3)
    assert reg.fit(X, Y[:, :1]).predict(X).shape == (len(X), 1)
    assert reg.fit(X, Y[:, 0]).predict(X).shape == (len(X),)
    assert reg.fit(X.astype(np.float32), Y[:, 0]).model_.dtype == "float32"
    assert reg.predict(X).dtype == np.float32
    assert reg.set_params(dtype="float64").fit(X.astype(np.float32), Y).model_.dtype == "float64"


def test_bad_parameters_raise_at_fit(rng):
    X, y = _data(rng)
    bad = [
        dict(hidden_layer_sizes="100"),
        dict(hidden_layer_sizes=(0,)),
        dict(activation="softmax"),
        dict(optimizer="lbfgs"),
        dict(learning_rate=-1.0),
        dict(batch_size=0),
        dict(epochs=0),
        dict(validation_fraction=1.0),
        dict(layers=[dn.Dense(3), "relu"]),
        dict(dtype="float16"),
        dict(verbose=3),
    ]
    for params in bad:
        est = DeepNetClassifier(**params)  # __init__ only stores
        with pytest.raises((ValueError, TypeError)):
            est.fit(X, y)


def test_pipeline_in_a_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), DeepNetClassifier(epochs=30, random_state=0))
    grid = {
        "deepnetclassifier__hidden_layer_sizes": [(8,), (16, 8)],
        "deepnetclassifier__learning_rate": [1e-3, 1e-2],
    }
    search = GridSearchCV(pipe, grid, cv=3)
    # threads: concurrent fits in one process share deepnet's threads
    with parallel_backend("threading", n_jobs=2), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_params_["deepnetclassifier__learning_rate"] == 1e-2
    assert search.best_score_ > 0.85 and search.score(X, y) > 0.9


def test_every_estimator_check_passes_with_the_array_api_check_enabled():
    """scikit-learn skips check_array_api_input unless SCIPY_ARRAY_API=1 is set before SciPy is
    imported: run the whole suite once more in a process where it is, and require every
    check to pass (none skipped)."""
    code = (
        "import collections, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from sklearn.utils.estimator_checks import check_estimator\n"
        "from deepnet.sklearn import DeepNetClassifier, DeepNetRegressor\n"
        "for est in (DeepNetClassifier(), DeepNetRegressor()):\n"
        "    results = check_estimator(est, on_fail=None)\n"
        "    bad = [(r['check_name'], r['status']) for r in results if r['status'] != 'passed']\n"
        "    assert not bad, (type(est).__name__, bad)\n"
        "    print(type(est).__name__, len(results))\n"
    )
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    counts = dict(line.split() for line in out.stdout.split("\n") if line)
    assert int(counts["DeepNetClassifier"]) > 50 and int(counts["DeepNetRegressor"]) > 50
