"""What it costs to hand a result from the client's I/O thread to a thread blocked in ``future.result()``.

    .venv/bin/python bench/future_handoff.py [--results 3000] [--gap-us 200]

One thread settles futures one at a time, ``--gap-us`` apart (as results arrive from the network); the main thread
waits on each in turn, as ``[f.result() for f in futures]`` does. Prints, per hand-off, the wall time, the CPU
time of the process (all threads, from ``/proc/self/task/*/schedstat``) and its context switches. Run it on the
code of two commits to compare how futures wake their waiters. Prints numbers only.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from scaler.client.future import ScalerFuture  # after the path: this checkout's code, not an installed one


def _cpu_ns() -> int:
    total = 0
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/schedstat") as stats:
            total += int(stats.read().split()[0])
    return total


def _switches() -> int:
    total = 0
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/status") as status:
            total += sum(int(line.split()[1]) for line in status if "ctxt_switches:" in line)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=3000)
    parser.add_argument("--gap-us", type=float, default=200.0)
    args = parser.parse_args()
    futures = [ScalerFuture(os.urandom(8), lambda future: None) for _ in range(args.results)]
    start = threading.Event()

    def settle_one_by_one() -> None:
        start.wait()
        for future in futures:
            time.sleep(args.gap_us / 1e6)
            future._finish(1)

    settler = threading.Thread(target=settle_one_by_one)
    settler.start()
    switches, cpu, wall = _switches(), _cpu_ns(), time.perf_counter()
    start.set()
    for future in futures:
        future.result()
    wall, cpu, switches = time.perf_counter() - wall, _cpu_ns() - cpu, _switches() - switches
    settler.join()
    n = args.results
    print(f"per hand-off: wall {wall / n * 1e6:.1f} us, CPU {cpu / n / 1e3:.1f} us, switches {switches / n:.2f}")


if __name__ == "__main__":
    main()
