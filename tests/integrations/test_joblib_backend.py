"""The "scaler" joblib backend: joblib.Parallel and scikit-learn's n_jobs on a real local cluster."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import pytest

joblib = pytest.importorskip("joblib")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
sklearn_model_selection = pytest.importorskip("sklearn.model_selection")
sklearn_tree = pytest.importorskip("sklearn.tree")

from scaler import Client, SchedulerClusterCombo  # noqa: E402
from scaler.integrations.joblib import ScalerBackend  # noqa: E402
from scaler.worker.context import current_task_context  # noqa: E402


def task_id() -> bytes | None:
    context = current_task_context()
    return None if context is None else context.task_id


def square_where(x: int) -> tuple[int, bytes | None]:
    return x * x, task_id()


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def inner_and_outer(x: int) -> tuple[bytes | None, list[bytes | None]]:
    inner = joblib.Parallel(n_jobs=2)(joblib.delayed(task_id)() for _ in range(3))
    return task_id(), inner


class TreeThatMustRunInATask(sklearn_tree.DecisionTreeClassifier):
    """Fails when fitted outside a Scaler task: proves the search really ran on the cluster."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> TreeThatMustRunInATask:
        if current_task_context() is None:
            raise RuntimeError("fitted outside a Scaler task")
        super().fit(X, y, **kwargs)
        return self


def test_parallel_runs_every_call_in_a_task(cluster: SchedulerClusterCombo) -> None:
    with joblib.parallel_backend("scaler", scheduler_address=cluster.get_address()):
        results = joblib.Parallel(n_jobs=2)(joblib.delayed(square_where)(i) for i in range(20))
    assert [value for value, _ in results] == [i * i for i in range(20)]
    assert all(where is not None for _, where in results)


def test_grid_search_cv_with_n_jobs(cluster: SchedulerClusterCombo) -> None:
    X, y = sklearn_datasets.load_iris(return_X_y=True)
    grid = {"max_depth": [1, 2, 3], "min_samples_leaf": [1, 5]}
    search = sklearn_model_selection.GridSearchCV(
        TreeThatMustRunInATask(random_state=0), grid, cv=3, n_jobs=2, refit=False, error_score="raise"
    )
    with joblib.parallel_backend("scaler", scheduler_address=cluster.get_address(), n_workers=2):
        search.fit(X, y)
    reference = sklearn_model_selection.GridSearchCV(sklearn_tree.DecisionTreeClassifier(random_state=0), grid, cv=3)
    reference.fit(X, y)
    assert list(search.cv_results_["mean_test_score"]) == list(reference.cv_results_["mean_test_score"])
    assert search.best_params_ == reference.best_params_


def test_a_failing_call_raises_its_own_exception(cluster: SchedulerClusterCombo) -> None:
    with joblib.parallel_backend("scaler", scheduler_address=cluster.get_address()):
        with pytest.raises(ValueError, match="three is not allowed"):
            joblib.Parallel(n_jobs=2)(joblib.delayed(fail_on_three)(i) for i in range(6))


def test_timeout(cluster: SchedulerClusterCombo) -> None:
    with joblib.parallel_backend("scaler", scheduler_address=cluster.get_address()):
        started = time.monotonic()
        with pytest.raises(multiprocessing.TimeoutError):  # joblib's timeout error, as with its own backends
            joblib.Parallel(n_jobs=2, timeout=0.5)(joblib.delayed(time.sleep)(30) for _ in range(2))
    assert time.monotonic() - started < 15


def test_owned_client_is_disconnected_when_the_backend_terminates(cluster: SchedulerClusterCombo) -> None:
    with joblib.parallel_config("scaler", scheduler_address=cluster.get_address()) as config:
        backend = config["backend"]
        assert isinstance(backend, ScalerBackend)
        with joblib.Parallel(n_jobs=2) as parallel:  # one connection for several calls
            assert parallel(joblib.delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
            assert backend.client is not None
            connected = backend.client
            assert parallel(joblib.delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
            assert backend.client is connected
        assert backend.client is None


def test_a_given_client_is_used_and_left_connected(client: Client) -> None:
    with joblib.parallel_backend("scaler", client=client):
        assert joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
    assert client.submit(abs, -5).result(timeout=30) == 5


@pytest.mark.parametrize("nested", ["sequential", "scaler"])
def test_nesting_policy(cluster: SchedulerClusterCombo, nested: str) -> None:
    with joblib.parallel_backend("scaler", scheduler_address=cluster.get_address(), nested=nested):
        results = joblib.Parallel(n_jobs=2)(joblib.delayed(inner_and_outer)(i) for i in range(2))
    for outer, inner in results:
        assert outer is not None and all(i is not None for i in inner)
        if nested == "sequential":
            assert set(inner) == {outer}  # ran inside the outer task
        else:
            assert outer not in inner  # ran as nested tasks of their own


def test_effective_n_jobs_and_settings() -> None:
    backend = ScalerBackend(scheduler_address="tcp://127.0.0.1:1", n_workers=3)
    assert [backend.effective_n_jobs(n) for n in (-1, -2, -5, 1, 8)] == [3, 2, 1, 1, 8]
    with pytest.raises(ValueError, match="n_jobs == 0"):
        backend.effective_n_jobs(0)
    with pytest.raises(ValueError, match="nested"):
        ScalerBackend(scheduler_address="tcp://127.0.0.1:1", nested="threads")
    with pytest.raises(ValueError, match="scheduler_address= or client="):
        ScalerBackend().configure(n_jobs=2)  # outside a task there is nowhere to connect to
