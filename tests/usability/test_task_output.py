"""``Client(stream_output=True)``: what a task prints arrives as whole lines, labelled by task, exactly as printed."""

from __future__ import annotations

import os
import sys
import time

import pytest

from scaler import Client, SchedulerClusterCombo
from scaler.client.results import print_task_output, task_label
from scaler.io.pipes import read_frame
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.worker.output import capture_output


def _task(task_id: bytes) -> m.Task:
    return m.Task(
        task_id=task_id, client_id=b"c", function_id=b"f", serializer_id=b"", args=(), kwargs={}, capabilities={},
        priority=0, flags=m.TaskFlags.STREAM_OUTPUT, function_name="f",
    )  # fmt: skip


def _logs(read_fd: int) -> list[m.TaskLog]:
    logs = []
    os.set_blocking(read_fd, False)
    while True:
        try:
            logs.extend(codec.decode(read_frame(read_fd)))
        except (BlockingIOError, OSError, EOFError, ValueError):
            return logs


def test_a_print_is_one_message_and_a_partial_line_goes_at_the_end() -> None:
    read_fd, write_fd = os.pipe()
    try:
        with capture_output(write_fd, _task(b"t" * 16)):
            print("stdout from task", 5)  # four writes: "stdout from task", " ", "5", "\n"
            print("two\nlines")
            print("warning", file=sys.stderr)
            print("no newline", end="")
        logs = _logs(read_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert [(log.stream, log.text) for log in logs] == [
        (1, "stdout from task 5\n"),
        (1, "two\n"),  # print writes "two\nlines" then "\n": each line goes as soon as it is complete
        (1, "lines\n"),
        (2, "warning\n"),
        (1, "no newline"),
    ]


def test_labels_are_distinct_per_task_and_lines_read_as_printed(capsys: pytest.CaptureFixture[str]) -> None:
    prefix = bytes.fromhex("3fa1") + b"\0" * 6
    first, second = prefix + (0).to_bytes(8, "big"), prefix + (41).to_bytes(8, "big")
    assert task_label(first) == "task 3fa1-0" and task_label(second) == "task 3fa1-41"
    print_task_output(m.TaskLog(first, 1, "a b\nc\n"))
    print_task_output(m.TaskLog(second, 1, "no newline"))
    print_task_output(m.TaskLog(second, 2, "err\n"))
    captured = capsys.readouterr()
    assert captured.out == "[task 3fa1-0] a b\n[task 3fa1-0] c\n[task 3fa1-41] no newline\n"
    assert captured.err == "[task 3fa1-41] err\n"


def shout(x: int) -> int:
    print("stdout from task", x)
    print("error from task", x, file=sys.stderr)
    return x


def test_stream_output_end_to_end(cluster: SchedulerClusterCombo, capfd: pytest.CaptureFixture[str]) -> None:
    with Client(address=cluster.get_address(), stream_output=True) as client:
        futures = client.submit_many(shout, [(1,), (2,), (3,)])
        assert [future.result(timeout=60) for future in futures] == [1, 2, 3]
        expected_out = {f"[{task_label(f.task_id)}] stdout from task {n}" for n, f in enumerate(futures, 1)}
        expected_err = {f"[{task_label(f.task_id)}] error from task {n}" for n, f in enumerate(futures, 1)}
        out: list[str] = []
        err: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(out) < 3 or len(err) < 3):
            captured = capfd.readouterr()
            out += captured.out.splitlines()
            err += captured.err.splitlines()
            time.sleep(0.05)
    assert len({task_label(f.task_id) for f in futures}) == 3
    assert set(out) == expected_out and len(out) == 3  # whole lines, nothing split into fragments
    assert set(err) == expected_err and len(err) == 3
