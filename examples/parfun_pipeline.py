"""A parfun pipeline on Scaler: a function over a list, split into partitions that run as tasks, then combined.

    python examples/parfun_pipeline.py [--workers N] [--size N]

Needs parfun (``pip install opengris-parfun``, or the project's ``integrations-test`` extra).
"""

from __future__ import annotations

import argparse
import statistics

import parfun as pf

from scaler import SchedulerClusterCombo


@pf.parallel(split=pf.per_argument(values=pf.py_list.by_chunk), combine_with=pf.py_list.concat)
def normalise(values: list[float], mean: float, spread: float) -> list[float]:
    """Runs once per partition of ``values``, each partition a task on the cluster."""
    return [(value - mean) / spread for value in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=10_000, help="length of the list")
    args = parser.parse_args()

    values = [float(i % 97) for i in range(args.size)]
    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    with SchedulerClusterCombo(n_workers=args.workers) as cluster:
        address = cluster.get_address()
        with pf.set_parallel_backend_context("scaler_remote", scheduler_address=address, n_workers=args.workers):
            result = normalise(values, mean, spread)
    new_mean, new_spread = statistics.fmean(result), statistics.pstdev(result)
    print(f"normalised {len(result)} values: mean {abs(new_mean):.6f}, std {new_spread:.6f}")
    assert len(result) == args.size and abs(new_mean) < 1e-9 and abs(new_spread - 1.0) < 1e-9


if __name__ == "__main__":
    main()
