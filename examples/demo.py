"""Demo: start a local cluster and estimate pi by Monte Carlo across every core, then check the answer.

    ./scripts/demo            # or: python examples/demo.py [--workers N] [--samples N]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time

from scaler import Client, SchedulerClusterCombo


def count_inside(seed: int, samples: int) -> int:
    rng = random.Random(seed)
    inside = 0
    for _ in range(samples):
        x, y = rng.random(), rng.random()
        inside += x * x + y * y <= 1.0
    return inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1))
    parser.add_argument("--samples", type=int, default=20_000_000, help="total random points")
    parser.add_argument("--chunks", type=int, default=200, help="number of tasks")
    args = parser.parse_args()

    started = time.perf_counter()
    cluster = SchedulerClusterCombo(n_workers=args.workers)
    try:
        with Client(address=cluster.get_address()) as client:
            per_chunk = args.samples // args.chunks
            # progress=True: a live bar on a terminal (nothing when the output is a pipe or a file)
            counts = client.map(count_inside, range(args.chunks), [per_chunk] * args.chunks, progress=True)
            estimate = 4.0 * sum(counts) / (per_chunk * args.chunks)
            squares = client.map(pow, range(10), [2] * 10)
    finally:
        cluster.shutdown()
    elapsed = time.perf_counter() - started
    print(f"{args.chunks} tasks on {args.workers} workers: pi ~= {estimate:.5f} (error {abs(estimate - math.pi):.5f})")
    print(f"squares: {squares}")
    print(f"total time including cluster start and stop: {elapsed:.2f}s")
    assert abs(estimate - math.pi) < 0.01, "the estimate is off: something is wrong"
    assert squares == [i * i for i in range(10)]


if __name__ == "__main__":
    main()
