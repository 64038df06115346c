"""Hostile bytes: random and mutated frames at the scheduler and object storage ports, while a client works.

    .venv/bin/python bench/fuzz.py [--frames 100000] [--seed 1]

Starts the real commands (``scaler_scheduler``, which starts its object storage at port + 1, and a baremetal
worker manager with 2 workers), then sends ``--frames`` frames split between the scheduler and object storage ports:
real encoded messages of every kind with bits flipped, bytes truncated, duplicated or inserted, random bytes, extra
and empty frames, and well-formed messages with random ids and sizes, each from one of a pool of DEALER sockets
whose random identities are renewed as it goes. A legitimate client submits tasks and checks every result
during and after. Prints frames sent, the RSS of scheduler and object storage before and after, the bytes of log
written, and the client's results. Nothing is asserted here (tests/faults/test_hostile_bytes.py does, smaller).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import zmq

from scaler.io.address import free_tcp_port
from scaler.protocol import codec
from scaler.protocol import messages as m

BIN = Path(sys.executable).parent
IDENTITY_POOL = 32
RENEW_EVERY = 500  # frames between identity renewals of one pool socket


def _rid(rng: random.Random, size: int = 32) -> bytes:
    return rng.randbytes(size)


def base_messages(rng: random.Random) -> list[tuple[bool, list[bytes]]]:
    """Real, well-formed requests of every kind as (to_storage, frames), with random ids and modest sizes."""
    task = m.Task(
        _rid(rng, 16), b"Client|" + _rid(rng, 8).hex().encode(), _rid(rng), b"",
        (m.TaskArg(m.ArgKind.INLINE, _rid(rng, 8)), m.TaskArg(m.ArgKind.OBJECT, _rid(rng))),
        {"k": m.TaskArg(m.ArgKind.INLINE, b"\x01")}, {}, rng.randrange(3), 0, "f",
    )  # fmt: skip
    processor = m.ProcessorStatus(rng.randrange(1 << 16), 1.0, 1 << 20, False, False)
    scheduler_messages: list[Any] = [
        m.ClientHeartbeat(m.PROTOCOL_VERSION, b"Client|" + _rid(rng, 8).hex().encode(), 0.0, 0),
        task,
        m.GraphTask(_rid(rng, 16), (m.GraphNode(task, ()),), (task.task_id,)),
        m.TaskCancel(_rid(rng, 16), rng.random() < 0.5),
        m.TaskResult(_rid(rng, 16), m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.INLINE, b"\x00"), None),
        m.WorkerHeartbeat(m.PROTOCOL_VERSION, {}, 4, 0, "fuzz", "host", 0.0, 0, 1 << 30, (processor,), 1),
        m.WorkerManagerHeartbeat(m.PROTOCOL_VERSION, "fuzz-" + _rid(rng, 4).hex(), 4, {}, 0),
        m.ObjectsReleased(b"Client|" + _rid(rng, 8).hex().encode(), (_rid(rng),)),
        m.TaskLog(_rid(rng, 16), 1, "x" * rng.randrange(100)),
        m.ClientDisconnect(False),
        m.WorkerDisconnect("fuzz"),
    ]
    frames = [(False, [codec.encode([message])]) for message in scheduler_messages]
    payload = rng.randbytes(rng.choice((1, 100, 4096, 65536)))
    storage_messages: list[list[bytes]] = [
        [codec.encode_one(m.ObjectPut(_rid(rng), rng.choice((0, 1)))), b"\x00", payload],
        [codec.encode_one(m.ObjectGet(_rid(rng), rng.randrange(1 << 30), rng.random() < 0.5))],
        [codec.encode_one(m.ObjectDelete((_rid(rng),), 1))],
        [codec.encode_one(m.ObjectDeleteOwner(_rid(rng, 16), 1))],
        [codec.encode_one(m.ObjectStats(1))],
        [codec.encode_one(m.ObjectOwnersAlive((_rid(rng, 16),), 5.0))],
    ]
    return frames + [(True, message) for message in storage_messages]


def mutate(rng: random.Random, frames: list[bytes]) -> list[bytes]:
    frames = list(frames)
    index = rng.randrange(len(frames))
    data = bytearray(frames[index])
    how = rng.randrange(8)
    if how == 0 and data:  # flip a few bits
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == 1 and data:  # truncate
        del data[rng.randrange(len(data)) :]
    elif how == 2 and data:  # duplicate a slice in place
        start = rng.randrange(len(data))
        data[start:start] = data[start : start + rng.randrange(1, 64)]
    elif how == 3:  # insert random bytes
        position = rng.randrange(len(data) + 1)
        data[position:position] = rng.randbytes(rng.randrange(1, 16))
    elif how == 4:  # replace by random bytes
        data = bytearray(rng.randbytes(rng.randrange(0, 256)))
    elif how == 5:  # an extra frame, or an empty one
        frames.insert(rng.randrange(len(frames) + 1), rng.randbytes(rng.randrange(0, 32)))
    elif how == 6:  # a batch of two copies
        data = bytearray(b"\x92" + bytes(data[1:]) * 2) if data[:1] == b"\x91" else data
    # how == 7: leave it well-formed (random ids and sizes are hostile enough)
    frames[index] = bytes(data)
    return frames


def hostile_frames(rng: random.Random) -> Iterator[tuple[bool, list[bytes]]]:
    """Endless (to_storage, frames): about half for each port."""
    while True:
        bases = base_messages(rng)
        for to_storage, base in rng.sample(bases, k=len(bases)):
            yield to_storage, mutate(rng, base)


@dataclass
class FuzzCounts:
    scheduler: int = 0
    storage: int = 0


def send_hostile_frames(
    scheduler: str, storage: str, total: int, seed: int, pace: Callable[[], None] | None = None
) -> FuzzCounts:
    """Send ``total`` hostile frames to the two addresses from a pool of sockets with random identities."""
    rng = random.Random(seed)
    context = zmq.Context()
    pools: dict[bool, list[zmq.Socket[Any]]] = {False: [], True: []}
    counts = FuzzCounts()

    def fresh(address: str) -> zmq.Socket[Any]:
        socket = context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SNDHWM, 1000)
        socket.setsockopt(zmq.IDENTITY, rng.randbytes(rng.randrange(1, 40)) or b"x")
        socket.connect(address)
        return socket

    for to_storage, address in ((False, scheduler), (True, storage)):
        pools[to_storage] = [fresh(address) for _ in range(IDENTITY_POOL)]
    try:
        for sent, (to_storage, frames) in enumerate(hostile_frames(rng)):
            if sent >= total:
                break
            pool = pools[to_storage]
            slot = rng.randrange(len(pool))
            if rng.randrange(RENEW_EVERY) == 0:
                pool[slot].close(linger=0)
                pool[slot] = fresh(storage if to_storage else scheduler)
            try:
                pool[slot].send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                pool[slot].send_multipart(frames)
            if to_storage:
                counts.storage += 1
            else:
                counts.scheduler += 1
            for socket in pool:  # drain answers (the servers do answer well-formed requests)
                while socket.poll(0):
                    socket.recv_multipart()
            if pace is not None and sent % 1000 == 0:
                pace()
    finally:
        for pool in pools.values():
            for socket in pool:
                socket.close(linger=1000)
        context.term()
    return counts


# --- a cluster of real commands, with its logs in files ----------------------------------------------------------


@dataclass
class Cluster:
    address: str
    storage_address: str
    scheduler_pid: int
    storage_pid: int
    logs: list[Path]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def rss(self) -> tuple[int, int]:
        return psutil.Process(self.scheduler_pid).memory_info().rss, psutil.Process(self.storage_pid).memory_info().rss

    def log_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.logs)

    def alive(self) -> bool:
        return all(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in (self.scheduler_pid, self.storage_pid))  # fmt: skip


@contextmanager
def real_cluster(directory: Path, workers: int = 2) -> Iterator[Cluster]:
    """``scaler_scheduler`` (protected: a fuzzed ClientDisconnect must not stop it; workers time out after 5 s, so
    that tasks handed to a fuzzed "worker" come back soon) and a baremetal worker manager."""
    port = free_tcp_port()
    while port + 2 >= 65535 or not _free(port + 1) or not _free(port + 2):
        port = free_tcp_port()
    address = f"tcp://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    logs = [directory / "scheduler.log", directory / "workers.log"]
    try:
        with open(logs[0], "wb") as log:
            command = [str(BIN / "scaler_scheduler"), address, "--protected", "-wt", "5"]
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        with open(logs[1], "wb") as log:
            processes.append(subprocess.Popen(
                [str(BIN / "scaler_worker_manager"), "baremetal_native", address, "--mode", "fixed",
                 "--max-task-concurrency", str(workers)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))  # fmt: skip
        scheduler = psutil.Process(processes[0].pid)
        storage = _storage_child(scheduler, processes[0], logs[0])
        yield Cluster(address, f"tcp://127.0.0.1:{port + 1}", scheduler.pid, storage.pid, logs, processes)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(processes):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _storage_child(scheduler: psutil.Process, process: subprocess.Popen[bytes], log: Path) -> psutil.Process:
    """The scheduler's object storage child, once started (another short-lived child, or none yet, is waited out);
    a scheduler that exits first is reported with its log."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the scheduler exited ({process.returncode}) while starting: {log.read_text()[-2000:]}")
        for child in scheduler.children():
            try:
                if "scaler.object_storage" in " ".join(child.cmdline()):
                    return child
            except psutil.Error:  # gone already
                continue
        time.sleep(0.05)
    raise RuntimeError(f"the scheduler started no object storage in 60 s: {log.read_text()[-2000:]}")


def _free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LegitimateClient(threading.Thread):
    """Submits small batches (and a large argument now and then) and checks every result until stopped."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.batches = 0
        self.wrong: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        from scaler import Client

        try:
            with Client(address=self.address, timeout_seconds=120) as client:
                while not self._stop_event.is_set():
                    values = [-v for v in range(self.batches, self.batches + 20)]  # builtins: nothing to import
                    if client.map(abs, values) != [-v for v in values]:
                        self.wrong.append(f"batch {self.batches}: wrong results")
                    big = os.urandom(200_000)
                    if client.submit(len, big).result(timeout=120) != len(big):
                        self.wrong.append(f"batch {self.batches}: wrong length")
                    self.batches += 1
        except Exception as error:  # reported by the caller: any failure of the legitimate client is a defect
            self.wrong.append(f"{type(error).__name__}: {error}")

    def stop(self) -> None:
        self._stop_event.set()
        self.join(300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-logs", help="copy the logs to this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, real_cluster(Path(directory)) as cluster:
        client = LegitimateClient(cluster.address)
        client.start()
        while client.batches < 3 and not client.wrong:
            time.sleep(0.1)
        rss_before, log_before = cluster.rss(), cluster.log_bytes()
        started = time.monotonic()
        counts = send_hostile_frames(cluster.address, cluster.storage_address, args.frames, args.seed)
        elapsed = time.monotonic() - started
        during = client.batches
        time.sleep(15)  # past the 10 s grace of objects whose owner is no client: storage reclaims them
        rss_after = cluster.rss()
        after = client.batches
        client.stop()
        print(f"frames sent: {counts.scheduler + counts.storage} ({counts.scheduler} to the scheduler, "
              f"{counts.storage} to object storage) in {elapsed:.1f}s")  # fmt: skip
        print(f"scheduler RSS: {rss_before[0] / 2**20:.1f} MB before, {rss_after[0] / 2**20:.1f} MB after")
        print(f"object storage RSS: {rss_before[1] / 2**20:.1f} MB before, {rss_after[1] / 2**20:.1f} MB after")
        print(f"log bytes written while fuzzing: {cluster.log_bytes() - log_before}")
        print(f"processes alive: {cluster.alive()}")
        print(f"legitimate client: {after} batches checked ({during} by the end of the fuzzing), "
              f"{len(client.wrong)} wrong: {client.wrong[:3]}")  # fmt: skip
        if args.keep_logs:
            import shutil

            for path in cluster.logs:
                shutil.copy(path, args.keep_logs)


if __name__ == "__main__":
    main()
