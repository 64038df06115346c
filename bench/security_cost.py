"""What CURVE (authentication + encryption, see the README's Security section) costs: credentials on vs off.

    .venv/bin/python bench/security_cost.py            # 10,000 tiny tasks and a 100 MB argument, 2 workers
    .venv/bin/python bench/security_cost.py --quick    # 1,000 tasks and 10 MB: a smoke run

Each row is the median of ``--repeats`` runs on a fresh cluster per setting; the settings alternate so that a
busy machine hurts both alike. Prints numbers only; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.tasks: workers import it by reference

from bench.tasks import nbytes, noop
from scaler import Client, SchedulerClusterCombo


def measure(secure: bool, tasks: int, megabytes: int, repeats: int) -> tuple[float, float]:
    """(map tasks per second, seconds per round trip of a ``megabytes`` argument)."""
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                             os.environ.get("PYTHONPATH")]))  # fmt: skip
    with SchedulerClusterCombo(n_workers=2, secure=secure, logging_level="WARNING") as combo:
        with Client(combo.get_address()) as client:
            client.map(noop, range(200))  # warm-up: both workers up, the function cached
            rates = []
            for _ in range(repeats):
                started = time.perf_counter()
                client.map(noop, range(tasks))
                rates.append(tasks / (time.perf_counter() - started))
            trips = []
            for _ in range(repeats):
                payload = os.urandom(megabytes << 20)  # a fresh, incompressible argument each time
                started = time.perf_counter()
                assert client.submit(nbytes, payload).result() == len(payload)
                trips.append(time.perf_counter() - started)
                del payload
    return statistics.median(rates), statistics.median(trips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per cluster")
    parser.add_argument("--rounds", type=int, default=2, help="clusters per setting, alternating off and on")
    arguments = parser.parse_args()
    tasks, megabytes = (1_000, 10) if arguments.quick else (10_000, 100)
    rates: dict[bool, list[float]] = {False: [], True: []}
    trips: dict[bool, list[float]] = {False: [], True: []}
    for round_number in range(arguments.rounds):
        for secure in (False, True):  # alternating: a machine that gets busier hurts both settings alike
            rate, trip = measure(secure, tasks, megabytes, arguments.repeats)
            rates[secure].append(rate)
            trips[secure].append(trip)
            print(f"round {round_number + 1}, credentials {'on' if secure else 'off'}: {rate:,.0f} tasks/s, "
                  f"{trip:.3f} s", file=sys.stderr)  # fmt: skip
    off_rate, on_rate = statistics.median(rates[False]), statistics.median(rates[True])
    off_trip, on_trip = statistics.median(trips[False]), statistics.median(trips[True])
    print("| metric | credentials off | credentials on (CURVE) | cost |")
    print("| --- | --- | --- | --- |")
    print(f"| map of {tasks:,} tiny tasks (tasks/s) | {off_rate:,.0f} | {on_rate:,.0f} | "
          f"{100 * (1 - on_rate / off_rate):.1f}% throughput lost |")  # fmt: skip
    print(f"| {megabytes} MB argument round trip (s) | {off_trip:.3f} | {on_trip:.3f} | {on_trip / off_trip:.2f}x |")


if __name__ == "__main__":
    main()
