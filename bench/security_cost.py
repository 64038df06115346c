"""What security costs (see the README's Security section), three ways on one machine with 2 workers:

- ``off``: ``SchedulerClusterCombo(secure=False)``, no authentication;
- ``default``: a combo with no credentials: throw-away passwords (ZeroMQ PLAIN) on loopback, no encryption;
- ``curve``: a combo given a scheduler's credentials file (``scaler_keys init``): CURVE, every byte encrypted.

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
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.tasks: workers import it by reference

from bench.tasks import nbytes, noop
from scaler import Client, SchedulerClusterCombo
from scaler.cli import keys


def measure(setting: str, tasks: int, megabytes: int, repeats: int, keys: Path) -> tuple[float, float]:
    """(map tasks per second, seconds per round trip of a ``megabytes`` argument)."""
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                             os.environ.get("PYTHONPATH")]))  # fmt: skip
    credentials = keys / "scheduler.toml" if setting == "curve" else None
    secure = setting != "off"
    with SchedulerClusterCombo(n_workers=2, secure=secure, credentials=credentials, logging_level="WARNING") as combo:
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
    settings = ("off", "default", "curve")
    rates: dict[str, list[float]] = {setting: [] for setting in settings}
    trips: dict[str, list[float]] = {setting: [] for setting in settings}
    with tempfile.TemporaryDirectory() as directory:
        keys.main(["init", directory])
        for round_number in range(arguments.rounds):
            for setting in settings:  # alternating: a machine that gets busier hurts every setting alike
                rate, trip = measure(setting, tasks, megabytes, arguments.repeats, Path(directory))
                rates[setting].append(rate)
                trips[setting].append(trip)
                print(f"round {round_number + 1}, {setting}: {rate:,.0f} tasks/s, {trip:.3f} s", file=sys.stderr)
    rate = {setting: statistics.median(values) for setting, values in rates.items()}
    trip = {setting: statistics.median(values) for setting, values in trips.items()}
    print("| metric | off | default (loopback passwords) | CURVE (credentials file) |")
    print("| --- | --- | --- | --- |")
    print(f"| map of {tasks:,} tiny tasks (tasks/s) | {rate['off']:,.0f} | "
          f"{rate['default']:,.0f} ({_change(rate['default'], rate['off'])}) | "
          f"{rate['curve']:,.0f} ({_change(rate['curve'], rate['off'])}) |")  # fmt: skip
    print(f"| {megabytes} MB argument round trip (s) | {trip['off']:.3f} | "
          f"{trip['default']:.3f} ({trip['default'] / trip['off']:.2f}x) | "
          f"{trip['curve']:.3f} ({trip['curve'] / trip['off']:.2f}x) |")  # fmt: skip


def _change(rate: float, baseline: float) -> str:
    """``-9%`` (slower than off) or ``+14%`` (faster: noise, on a shared machine)."""
    return f"{100 * (rate / baseline - 1):+.0f}%"


if __name__ == "__main__":
    main()
