"""Round trips of large arguments (``nbytes(x)``: the task touches nothing but the size), one system per run.

    .venv/bin/python bench/large_objects.py                      # ours, shared memory on, then forced off
    bench/.peers/ray/bin/python bench/large_objects.py --system ray

For each kind (``bytes``, numpy) and size it prints the median seconds of: a fresh object each time, the same object
again, and a reference made once with the system's ``put``. Ours runs twice: as configured, and with
``SCALER_SHARED_MEMORY=0`` (every object over TCP, as between hosts). Numbers only: nothing here judges them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    from bench import tasks
    from bench.backends import load_backend
    from bench.core import Recorder
    from bench.measures import measure_round_trips

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", default="ours")
    parser.add_argument("--sizes", default="1,10,100", help="sizes in MB, comma-separated")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    variants = [("", None)] if args.system != "ours" else [(" shm", "1"), (" tcp", "0")]
    rows: dict[str, dict[str, float]] = {}
    for label, switch in variants:
        if switch is not None:
            os.environ["SCALER_SHARED_MEMORY"] = switch  # read by every process the cluster starts
        backend = load_backend(args.system)
        backend.start(args.workers)
        try:
            small = _numpy_array(8)
            backend.gather([backend.submit(tasks.nbytes, small) for _ in range(4 * args.workers)])  # numpy imported
            recorder = Recorder(None)
            for size in sizes:
                for kind in ("bytes", "numpy"):
                    measure_round_trips(backend, kind, size, args.reps, 60.0, recorder)
            rows[args.system + label] = {k: v for k, v in recorder.results.items() if isinstance(v, float)}
        finally:
            backend.shutdown()
    _print_table(rows, sizes)
    return 0


def _numpy_array(size: int) -> object:
    import numpy

    return numpy.zeros(size, dtype=numpy.uint8)


def _print_table(rows: dict[str, dict[str, float]], sizes: list[int]) -> None:
    print(f"{'system':<12} {'kind':<6} {'MB':>4} {'fresh s':>9} {'same s':>9} {'put s':>9}")
    for system, results in rows.items():
        for size in sizes:
            for kind in ("bytes", "numpy"):
                prefix = f"rtt_{kind}_{size}MB"
                cells = [results.get(f"{prefix}_{step}_s") for step in ("fresh", "reuse", "put")]
                text = " ".join(f"{cell:>9.4f}" if cell is not None else f"{'-':>9}" for cell in cells)
                print(f"{system:<12} {kind:<6} {size:>4} {text}")


if __name__ == "__main__":
    raise SystemExit(main())
