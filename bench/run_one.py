"""Run the benchmark for one system in the current interpreter and print its results as JSON.

    .venv/bin/python bench/run_one.py --system ours [--quick] [--out results.jsonl]
    bench/.peers/dask/bin/python bench/run_one.py --system dask
    unshare --net bench/.peers/ray/bin/python bench/run_one.py --system ray --netns   # loopback only

Progress goes to stderr; with --out, every result is also appended to that file as one JSON line the moment it is
measured (bench/compare.py reads it, so a run killed by its timeout still reports what it had). The last line on
stdout is a JSON object with every result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def _ensure_importable() -> None:
    """Make ``bench`` importable here and in every process the systems start (their workers import bench.tasks)."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *parts])


def bring_up_loopback() -> None:
    """Bring up ``lo`` in a fresh network namespace (compare.py runs each system under ``unshare --net``).

    In such a namespace loopback is the only interface, so every system necessarily talks over 127.0.0.1 (Ray, for
    one, otherwise advertises the host's interface address even when asked for 127.0.0.1).
    """
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    layout = "16sh22x"  # struct ifreq: name, flags, rest of the union
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        current = fcntl.ioctl(sock, siocgifflags, struct.pack(layout, b"lo", 0))
        flags = struct.unpack(layout, current)[1]
        if not flags & iff_up:
            fcntl.ioctl(sock, siocsifflags, struct.pack(layout, b"lo", flags | iff_up))
    others = [name for _, name in socket.if_nameindex() if name != "lo"]
    if others:
        raise RuntimeError(f"--netns given but this namespace has other interfaces: {others}")


def main(argv: list[str] | None = None) -> int:
    _ensure_importable()
    from bench.backends import BACKENDS, load_backend
    from bench.core import Recorder, Settings, settings_dict
    from bench.measures import run_all

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", required=True, choices=sorted(BACKENDS))
    parser.add_argument("--quick", action="store_true", help="fewer tasks and samples (CI smoke)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, help="append results as JSON lines to this file")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated steps to run (e.g. map_tasks_per_s,latency,graphs): no round trips, one cluster life",
    )
    parser.add_argument(
        "--netns",
        action="store_true",
        help="running in a private network namespace (unshare --net): bring up loopback first",
    )
    args = parser.parse_args(argv)
    if args.netns:
        bring_up_loopback()

    settings = Settings.quick() if args.quick else Settings()
    settings.n_workers = args.workers
    if args.only:
        settings.only, settings.rtt_sizes_mb, settings.start_cycles = args.only.split(","), [], 1
    stream: IO[str] | None = args.out.open("a", encoding="utf-8") if args.out else None
    rec = Recorder(stream)
    try:
        rec.begin("load_backend")
        try:
            backend = load_backend(args.system)
        except Exception as exc:  # reported in the system's column
            rec.error("load_backend", exc)
        else:
            run_all(backend, settings, rec)
        summary: dict[str, Any] = {
            "system": args.system,
            "python": sys.executable,
            "settings": settings_dict(settings),
            "results": rec.results,
            "errors": rec.errors,
        }
        rec._emit({"event": "done"})
        print(json.dumps(summary), flush=True)
    finally:
        if stream is not None:
            stream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
