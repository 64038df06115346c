"""Many concurrent large ``send_object`` calls: what the client and object storage hold, and what the quota does.

    .venv/bin/python bench/upload_pressure.py [--objects 2000] [--size 1000000] [--threads 32] [--quota 0]

Starts ``scaler_scheduler`` (and so its object storage, with ``--object-storage-max-bytes-per-owner QUOTA``), then
sends ``--objects`` objects of ``--size`` bytes from ``--threads`` threads at once, keeping every reference. Prints
the peak RSS of this client process (its send queue is bounded: uploads block while storage is behind) and the
storage's RSS and object count at the end, and how many uploads storage refused (quota). Asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from scaler import Client
from scaler.errors import ObjectStorageError
from scaler.io.address import free_tcp_port
from scaler.io.object_client import ObjectStorageConnection

BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--quota", type=int, default=0, help="bytes per owner (0: none)")
    args = parser.parse_args()
    port = free_tcp_port()
    address = f"tcp://127.0.0.1:{port}"
    command = [str(BIN / "scaler_scheduler"), address, "--object-storage-max-bytes-per-owner", str(args.quota)]
    quiet = subprocess.DEVNULL
    scheduler = subprocess.Popen(command, stdin=quiet, stdout=quiet, stderr=quiet)
    try:
        while not psutil.Process(scheduler.pid).children():
            time.sleep(0.05)
        storage = psutil.Process(scheduler.pid).children()[0]
        me = psutil.Process()
        peak = [me.memory_info().rss]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], me.memory_info().rss)

        threading.Thread(target=sample, daemon=True).start()
        refused = 0
        with Client(address=address, timeout_seconds=120) as client:
            payload = bytes(args.size)
            started = time.monotonic()
            with ThreadPoolExecutor(args.threads) as pool:
                results = list(pool.map(lambda _: _send(client, payload), range(args.objects)))
            elapsed = time.monotonic() - started
            refused = sum(1 for r in results if r is None)
            import zmq

            context = zmq.Context()
            stats = ObjectStorageConnection(context, f"tcp://127.0.0.1:{port + 1}").stats(timeout=30)
            context.term()
            done.set()
            calls = f"{args.objects} send_object calls of {args.size} bytes from {args.threads} threads"
            print(f"{calls} in {elapsed:.1f}s")
            print(f"refused by the quota ({args.quota or 'none'}): {refused}")
            print(f"client peak RSS: {peak[0] / 2**20:.0f} MB")
            print(f"object storage: {stats.objects} objects, {stats.bytes / 2**20:.0f} MB stored, "
                  f"RSS {storage.memory_info().rss / 2**20:.0f} MB")  # fmt: skip
            del results
    finally:
        scheduler.terminate()
        scheduler.wait(30)


def _send(client: Client, payload: bytes) -> object:
    try:
        return client.send_object(payload)
    except ObjectStorageError:
        return None


if __name__ == "__main__":
    main()
