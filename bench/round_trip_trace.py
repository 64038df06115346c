"""Where one ``submit(noop).result()`` round trip spends its time, hop by hop, across all of Scaler's processes.

    .venv/bin/python bench/round_trip_trace.py [--samples 2000]

Every process of a one-worker cluster (client, scheduler, worker agent, processor) notes the monotonic time of
each message it encodes or decodes (``scaler.protocol.codec`` is patched for the run: the processes started
fresh load ``bench/trace_hook/sitecustomize.py``, which ``PYTHONPATH`` names). The clock is the same for all
processes of a host, so the events of each round trip line up; the table shows the most common order of events
and the median time of each from the start of ``submit``, and the step from the one before: a step between two
processes is a hop (a zmq send, the peer's zmq I/O thread, its wake-up), a step within one process is its own
Python. Noting an event costs about 3 us, so the total is that much above the latency row of ``bench/compare.py``.
Prints numbers only.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
HOOK_DIR = Path(__file__).resolve().parent / "trace_hook"
_ENV = "SCALER_BENCH_TRACE_DIR"


def install(directory: str) -> None:
    """Patch this process's codec to note every message it encodes or decodes in ``directory``/<pid>."""
    from scaler.protocol import codec

    buffer: list[str] = []
    owner = [os.getpid()]

    def flush() -> None:
        if buffer:
            with open(os.path.join(directory, str(os.getpid())), "a", encoding="utf-8") as file:
                file.write("".join(buffer))
            buffer.clear()

    def note(kind: str, messages: Any) -> None:
        if os.getpid() != owner[0]:  # a forked child: its parent's events are not its own
            buffer.clear()
            owner[0] = os.getpid()
        names = ",".join(type(message).__name__ for message in messages)
        buffer.append(f"{time.monotonic_ns()} {kind}:{names}\n")
        if len(buffer) >= 256:
            flush()

    decode, encode, encode_one = codec.decode, codec.encode, codec.encode_one

    def traced_decode(frame: Any) -> Any:
        messages = decode(frame)
        note("dec", messages)
        return messages

    def traced_encode(messages: Any) -> bytes:
        note("enc", messages)
        return encode(messages)

    def traced_encode_one(message: Any) -> bytes:
        note("enc", (message,))
        return encode_one(message)

    codec.decode, codec.encode, codec.encode_one = traced_decode, traced_encode, traced_encode_one
    os.register_at_fork(after_in_child=flush)
    import atexit

    atexit.register(flush)


def _role(kinds: set[str]) -> str:
    if "dec:ProcessorTask" in kinds:
        return "processor"
    if "enc:WorkerHeartbeat" in kinds:
        return "agent"
    if "dec:WorkerHeartbeat" in kinds:
        return "scheduler"
    return "client"


def _load(directory: str) -> dict[str, list[tuple[int, str]]]:
    events: dict[str, list[tuple[int, str]]] = {}
    for name in os.listdir(directory):
        rows = []
        with open(os.path.join(directory, name), encoding="utf-8") as file:
            for line in file:
                stamp, kind = line.split()
                rows.append((int(stamp), kind))
        rows.sort()
        role = _role({kind for _, kind in rows})
        events[f"{role} {name}"] = rows
    return events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args(argv)
    sys.path[:0] = [str(REPO_ROOT / "src"), str(REPO_ROOT)]
    directory = tempfile.mkdtemp(prefix="scaler-trace-")
    os.environ[_ENV] = directory
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HOOK_DIR), str(REPO_ROOT / "src"), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    )
    install(directory)

    from bench import tasks
    from bench.backends.scaler_api import free_tcp_port
    from scaler import Client, SchedulerClusterCombo

    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    combo = SchedulerClusterCombo(address=address, n_workers=1, logging_level="WARNING")
    trips: list[tuple[int, int]] = []
    try:
        with Client(address=address) as client:
            for i in range(300):  # warm up: functions uploaded, caches filled
                client.submit(tasks.noop, i).result()
            for i in range(args.samples):
                start = time.monotonic_ns()
                client.submit(tasks.noop, i).result()
                trips.append((start, time.monotonic_ns()))
    finally:
        combo.shutdown()
    try:
        _report(_load(directory), trips[len(trips) // 20 :])
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


def _report(events: dict[str, list[tuple[int, str]]], trips: list[tuple[int, int]]) -> None:
    stamps = {process: [stamp for stamp, _ in rows] for process, rows in events.items()}
    orders: collections.Counter[tuple[str, ...]] = collections.Counter()
    offsets: dict[tuple[tuple[str, ...], int], list[int]] = collections.defaultdict(list)
    for start, end in trips:
        trip: list[tuple[int, str]] = []
        for process, rows in events.items():
            first = bisect.bisect_left(stamps[process], start)
            last = bisect.bisect_right(stamps[process], end)
            trip += [(stamp, f"{process.split()[0]:9s} {kind}") for stamp, kind in rows[first:last]]
        trip.sort()
        order = (*(kind for _, kind in trip), "client    result() returns")
        orders[order] += 1
        for index, stamp in enumerate([*(stamp for stamp, _ in trip), end]):
            offsets[order, index].append(stamp - start)
    order, count = orders.most_common(1)[0]
    print(f"{count} of {len(trips)} round trips in this order (median microseconds from the start of submit):")
    print("| event | at | step |\n|---|---:|---:|")
    previous = 0.0
    for index, kind in enumerate(order):
        at = statistics.median(offsets[order, index]) / 1000
        print(f"| {kind} | {at:.1f} | {at - previous:.1f} |")
        previous = at


if __name__ == "__main__":
    sys.exit(main())
