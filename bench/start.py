"""Start to first result of a SchedulerClusterCombo with 2 workers, in the situations a user meets.

    .venv/bin/python bench/start.py [--repeats 3]

Each situation runs in a fresh Python process, which starts a combo (and gets its first result) 1 + repeats times:

- single-threaded (a script): the first start pays the import of Scaler's cluster modules, and leaves a fork server
  forked from the process; later starts fork from that server;
- with another thread from the outset (a notebook kernel, numpy's thread pool, a running Client): the first start
  starts the fork server as a fresh interpreter; later starts reuse it;
- with ``SCALER_COMBO_FORK=0``: every process of every combo is a fresh interpreter (as before the fork server).

See src/scaler/cluster/fork_server.py. Prints the first and the median later seconds of each; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time


def first_result() -> float:
    started = time.perf_counter()
    from scaler import Client, SchedulerClusterCombo

    with SchedulerClusterCombo(n_workers=2) as cluster, Client(cluster.get_address()) as client:
        client.submit(abs, -1).result()
        return time.perf_counter() - started


def situation(with_thread: bool, repeats: int) -> None:
    """In this process: print the seconds of 1 + ``repeats`` starts as a JSON list."""
    if with_thread:
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    print(json.dumps([first_result() for _ in range(1 + repeats)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--situation", choices=["single", "thread"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.situation:
        situation(args.situation == "thread", args.repeats)
        return
    rows = [
        ("single-threaded process", "single", {}),
        ("process with another thread", "thread", {}),
        ("SCALER_COMBO_FORK=0 (fresh interpreters)", "thread", {"SCALER_COMBO_FORK": "0"}),
    ]
    print("| process | first start (s) | later starts, median (s) |")
    print("|---|---:|---:|")
    for label, name, extra in rows:
        command = [sys.executable, __file__, "--situation", name, "--repeats", str(args.repeats)]
        output = subprocess.run(command, env={**os.environ, **extra}, capture_output=True, text=True, check=True)
        first, *later = json.loads(output.stdout.strip().splitlines()[-1])
        print(f"| {label} | {first:.3f} | {statistics.median(later):.3f} |")


if __name__ == "__main__":
    main()
