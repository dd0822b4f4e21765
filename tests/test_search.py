"""Hyperparameter searches (section 7's cycle) over the scikit-learn estimators: two trials at
once on joblib's threading backend, and the same search on a Dask cluster, each with the
results of the one-at-a-time search."""

from __future__ import annotations

import threading

import joblib
import numpy as np
import pytest
from deepnet.sklearn import DeepNetClassifier
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

# short trainings: the epoch limit is reached on purpose
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

GRID = {"hidden_layer_sizes": [(16,), (32,)], "learning_rate": [1e-3, 3e-3]}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


def _search(n_jobs: int, estimator: DeepNetClassifier | None = None) -> GridSearchCV:
    estimator = estimator or DeepNetClassifier(epochs=4, random_state=0)
    return GridSearchCV(estimator, GRID, cv=3, n_jobs=n_jobs)


def _same_results(a: GridSearchCV, b: GridSearchCV) -> None:
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        assert np.array_equal(a.cv_results_[key], b.cv_results_[key]), key
    for k in range(3):
        key = f"split{k}_test_score"
        assert np.array_equal(a.cv_results_[key], b.cv_results_[key]), key
    assert a.best_params_ == b.best_params_
    for p, q in zip(a.best_estimator_.model_.get_weights(), b.best_estimator_.model_.get_weights()):
        assert np.array_equal(p, q)


class _MeetingClassifier(DeepNetClassifier):
    """Its first two fits wait for each other: they can only both finish if two trials run at
    the same time (a 60 s timeout turns a sequential search into a BrokenBarrierError)."""

    meeting = threading.Barrier(2, timeout=60)
    arrivals: list[int] = []
    lock = threading.Lock()

    def fit(self, X, y, sample_weight=None):  # type: ignore[no-untyped-def]
        with self.lock:
            self.arrivals.append(threading.get_ident())
            first_two = len(self.arrivals) <= 2
        if first_two:
            self.meeting.wait()
        return super().fit(X, y, sample_weight=sample_weight)


def test_two_trials_at_once_on_threads_give_the_sequential_results(digits):
    X, y = digits
    sequential = _search(1).fit(X, y)
    meeting = _MeetingClassifier(epochs=4, random_state=0)
    with joblib.parallel_config(backend="threading"):
        threaded = _search(2, meeting).fit(X, y)
    # the first two fits ran in two different threads, at the same time
    assert len(set(_MeetingClassifier.arrivals[:2])) == 2
    _same_results(sequential, threaded)


def test_randomized_search_on_threads(digits):
    X, y = digits
    dists = {"learning_rate": [1e-3, 2e-3, 3e-3], "batch_size": [16, 32]}

    def search(n_jobs: int) -> RandomizedSearchCV:
        estimator = DeepNetClassifier(hidden_layer_sizes=(16,), epochs=3, random_state=0)
        return RandomizedSearchCV(estimator, dists, n_iter=3, cv=3, n_jobs=n_jobs, random_state=1)

    one = search(1).fit(X, y)
    with joblib.parallel_config(backend="threading"):
        two = search(2).fit(X, y)
    assert np.array_equal(one.cv_results_["mean_test_score"], two.cv_results_["mean_test_score"])


def test_the_same_search_on_a_dask_cluster(digits):
    """A LocalCluster of 2 worker processes on the loopback interface; pointing the Client at
    a real scheduler's address is the only change for a real cluster."""
    from dask.distributed import Client, LocalCluster

    X, y = digits
    local = _search(1).fit(X, y)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        with joblib.parallel_config(backend="dask"):
            on_dask = _search(-1).fit(X, y)
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
    _same_results(local, on_dask)
