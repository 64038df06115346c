"""Start to first result of a SchedulerClusterCombo with 2 workers, in the three situations a user meets.

    .venv/bin/python bench/start.py [--repeats 3]

- the first start in a fresh Python process, importing Scaler's cluster modules included (what a script pays);
- later starts in that process while it is single-threaded: the combo forks its processes from it;
- starts while the process has another thread (a notebook kernel, numpy's thread pool, a running Client): the
  combo starts fresh interpreters (see src/scaler/cluster/children.py).

Prints the median seconds of each; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time


def first_result() -> float:
    started = time.perf_counter()
    from scaler import Client, SchedulerClusterCombo

    with SchedulerClusterCombo(n_workers=2) as cluster, Client(cluster.get_address()) as client:
        client.submit(abs, -1).result()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    first = first_result()
    forked = [first_result() for _ in range(args.repeats)]
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        fresh = [first_result() for _ in range(args.repeats)]
    finally:
        stop.set()
        thread.join()
    print("| start | seconds |")
    print("|---|---:|")
    print(f"| first in a fresh process (imports included) | {first:.3f} |")
    print(f"| later, single-threaded process (forked children) | {statistics.median(forked):.3f} |")
    print(f"| later, process with another thread (fresh interpreters) | {statistics.median(fresh):.3f} |")


if __name__ == "__main__":
    main()
