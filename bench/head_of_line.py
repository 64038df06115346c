"""Head-of-line blocking: how long small tasks queued behind a long one take when another worker is idle.

    python -m bench.head_of_line [--long-seconds 60] [--small 20]

Starts a local cluster of two workers, submits one long task and then small ones, and prints when each small
task is done (seconds after they were submitted). Balancing should move the small tasks to the idle worker
within a few ``load_balance_seconds``; if they wait for the long task, they are done only after it.
"""

from __future__ import annotations

import argparse
import os
import time

from scaler import Client, SchedulerClusterCombo


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


def processor_pid(_: object) -> int:
    return os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-seconds", type=float, default=60.0)
    parser.add_argument("--small", type=int, default=20)
    arguments = parser.parse_args()
    with SchedulerClusterCombo(n_workers=2) as cluster, Client(address=cluster.get_address()) as client:
        deadline = time.monotonic() + 60
        while len(set(client.map(processor_pid, range(20)))) < 2 and time.monotonic() < deadline:
            pass  # both workers must be up, or there is nothing to balance to
        long = client.submit(sleep_then, arguments.long_seconds, "long")
        time.sleep(0.5)
        started = time.monotonic()
        smalls = [client.submit(sleep_then, 0.05, n) for n in range(arguments.small)]
        for future in smalls:
            future.result()
        print(f"{arguments.small} small tasks done {time.monotonic() - started:.1f}s after submission "
              f"(long task still running: {not long.done()})")  # fmt: skip
        long.cancel()


if __name__ == "__main__":
    main()
