"""What a process's per-task work costs right after it has spent a while in a tight CPU loop: caches gone cold.

    .venv/bin/python bench/cold_wake.py [--repeat 200]

The work is a processor's own part of a small task (decode the task's message, unpickle its argument, pickle the
result, encode the result message), timed with the thread's CPU clock after 0, 1, 5 and 20 ms of ``tasks.burn``.
On a machine whose caches survive the loop the four figures are alike; on the development VM the work costs many
times more after a long loop, and so does every process of a cluster that wakes once per 20 ms task: that is most of
the efficiency row's overhead (see the README's performance section). Prints numbers only.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).resolve().parents[1])]

from bench.tasks import burn  # noqa: E402
from scaler.protocol import codec  # noqa: E402
from scaler.protocol import messages as m  # noqa: E402

_ARGUMENT = m.TaskArg(m.ArgKind.INLINE, pickle.dumps(0.02))
_FRAME = codec.encode_one(m.Task(b"t" * 16, b"c" * 20, b"f" * 32, b"", (_ARGUMENT,), {}, {}, 0, 0, "burn"))


def _per_task_work() -> None:
    (task,) = codec.decode(_FRAME)
    assert isinstance(task, m.Task)
    value = pickle.loads(task.args[0].data)
    payload = pickle.dumps((value, value))
    codec.encode_one(m.TaskResult(task.task_id, m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.INLINE, payload), None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    print("| CPU loop before (ms) | the work's CPU, median (us) |\n|---:|---:|")
    for loop_ms in (0, 1, 5, 20):
        costs = []
        for _ in range(args.repeat):
            if loop_ms:
                burn(loop_ms / 1000)
            start = time.thread_time_ns()
            _per_task_work()
            costs.append(time.thread_time_ns() - start)
        costs.sort()
        print(f"| {loop_ms} | {costs[len(costs) // 2] / 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
