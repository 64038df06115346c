"""A scikit-learn parameter sweep on a Scaler cluster through joblib: every fit of the grid search is a task.

    python examples/parameter_sweep.py [--workers N] [--samples N]

Needs scikit-learn and joblib (``pip install scikit-learn joblib``, or the project's ``integrations-test`` extra).
"""

from __future__ import annotations

import argparse

import joblib
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

import scaler.integrations.joblib  # noqa: F401  (registers the "scaler" joblib backend)
from scaler import SchedulerClusterCombo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--samples", type=int, default=300, help="rows of the synthetic data set")
    args = parser.parse_args()

    X, y = make_classification(n_samples=args.samples, n_features=8, random_state=0)
    grid = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}
    with SchedulerClusterCombo(n_workers=args.workers) as cluster:
        with joblib.parallel_backend("scaler", scheduler_address=cluster.get_address(), n_workers=args.workers):
            search = GridSearchCV(SVC(), grid, cv=3, n_jobs=-1).fit(X, y)
    print(f"{len(search.cv_results_['params'])} parameter sets x 3 folds fitted on the cluster")
    print(f"best parameters: {search.best_params_}, accuracy {search.best_score_:.3f}")
    assert search.best_score_ > 0.7, "the sweep found no reasonable model: something is wrong"


if __name__ == "__main__":
    main()
