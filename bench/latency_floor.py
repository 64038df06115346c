"""The latency floor of Scaler's path on this machine, with no Scaler code in it: what the hops alone cost.

    .venv/bin/python bench/latency_floor.py [--samples 5000]

A round trip of a 50-byte message, median over ``--samples``, through bare pyzmq and os pipes in the shape of a
task's path, each hop a process of its own, each doing nothing but forwarding:

- ``zmq 2 hops``: client DEALER -> broker ROUTER -> worker DEALER, and back (a scheduler and a worker);
- ``zmq 2 hops + pipe``: the same, the worker handing each message to a child process over a pipe and back (the
  agent and its processor);
- ``zmq 2 hops + pipe, client I/O thread``: the same again, in the client's shape as well: the calling thread
  sends on a send-only socket of its own and waits on a lock, and a second thread reads the answers and releases
  the lock (Scaler's client: ``submit`` sends from the calling thread, the I/O thread settles the future). This is
  the floor of Scaler's path with every process and thread it has, and none of its code;
- ``pipe only``: client and child over two pipes (ProcessPoolExecutor's shape: one hop each way).

Compare with the latency row of ``bench/compare.py``: the difference between Scaler's median and
``zmq 2 hops + pipe, client I/O thread`` is what Scaler's own code adds (the Python each process runs per message).
Prints numbers only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import threading
import time
from typing import Any

import zmq

PAYLOAD = b"x" * 50
SEND_ONLY = b"|tx"


def _poller(*readables: Any) -> zmq.Poller:
    poller = zmq.Poller()
    for readable in readables:
        poller.register(readable, zmq.POLLIN)
    return poller


def _broker(ports: Any) -> None:
    context: zmq.Context[Any] = zmq.Context()
    front, back = context.socket(zmq.ROUTER), context.socket(zmq.ROUTER)
    ports.send((front.bind_to_random_port("tcp://127.0.0.1"), back.bind_to_random_port("tcp://127.0.0.1")))
    poller = _poller(front, back)
    worker = b""
    while True:
        ready = dict(poller.poll())
        if back in ready:
            frames = back.recv_multipart()
            if frames[1] == b"ready":
                worker = frames[0]
            else:
                front.send_multipart(frames[1:])
        if front in ready:
            frames = front.recv_multipart()
            if frames[0].endswith(SEND_ONLY):  # answered to the sender's receiving socket (Scaler's scheduler too)
                frames[0] = frames[0][: -len(SEND_ONLY)]
            back.send_multipart([worker, *frames])


def _echo_child(read_fd: int, write_fd: int) -> None:
    while True:
        data = os.read(read_fd, 1 << 16)
        if not data:
            os._exit(0)
        os.write(write_fd, data)


def _worker(worker_port: int, through_pipe: bool) -> None:
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.connect(f"tcp://127.0.0.1:{worker_port}")
    socket.send(b"ready")
    if not through_pipe:
        while True:
            socket.send_multipart(socket.recv_multipart())
    to_child, from_child = _start_echo_child()
    poller = _poller(socket, from_child)
    client = b""
    while True:
        ready = dict(poller.poll())
        if socket in ready:
            client, message = socket.recv_multipart()
            os.write(to_child, message)
        if from_child in ready:
            socket.send_multipart([client, os.read(from_child, 1 << 16)])


def _start_echo_child() -> tuple[int, int]:
    """(write end to the child, read end from it)."""
    task_read, task_write = os.pipe()
    result_read, result_write = os.pipe()
    if os.fork() == 0:  # not multiprocessing: a daemonic worker may not have children of its own
        os.close(task_write)
        os.close(result_read)
        _echo_child(task_read, result_write)  # exits when the pipe closes: with its parent
    os.close(task_read)
    os.close(result_write)
    return task_write, result_read


def _median_round_trip(send: Any, receive: Any, samples: int) -> float:
    times = []
    for _ in range(samples + samples // 10):
        started = time.perf_counter()
        send(PAYLOAD)
        receive()
        times.append(time.perf_counter() - started)
    return statistics.median(times[samples // 10 :])  # the first tenth warms up


def zmq_hops(through_pipe: bool, samples: int, client_thread: bool = False) -> float:
    fork = multiprocessing.get_context("fork")
    receiver, sender = fork.Pipe(duplex=False)
    processes = [fork.Process(target=_broker, args=(sender,), daemon=True)]
    processes[0].start()
    client_port, worker_port = receiver.recv()
    processes.append(fork.Process(target=_worker, args=(worker_port, through_pipe), daemon=True))
    processes[1].start()
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.IDENTITY, b"client")
    socket.connect(f"tcp://127.0.0.1:{client_port}")
    try:
        socket.send(b"hello")  # the worker may register after this: wait for the first echo
        while not socket.poll(100):
            socket.send(b"hello")
        while socket.poll(100):
            socket.recv()
        if not client_thread:
            return _median_round_trip(socket.send, socket.recv, samples)
        send_only = context.socket(zmq.DEALER)
        send_only.setsockopt(zmq.IDENTITY, b"client" + SEND_ONLY)
        send_only.connect(f"tcp://127.0.0.1:{client_port}")
        answered = threading.Lock()
        answered.acquire()
        stopping = threading.Event()
        io_thread = threading.Thread(target=_client_io, args=(socket, answered, stopping), daemon=True)
        io_thread.start()
        try:
            return _median_round_trip(send_only.send, answered.acquire, samples)
        finally:
            stopping.set()
            io_thread.join()
            send_only.close(linger=0)
    finally:
        socket.close(linger=0)
        context.term()
        for process in processes:
            process.kill()
            process.join()


def _client_io(socket: zmq.Socket[Any], answered: threading.Lock, stopping: threading.Event) -> None:
    """The client's I/O thread: read each answer, wake the thread waiting for it."""
    while not stopping.is_set():
        if socket.poll(100):
            socket.recv()
            answered.release()


def pipe_only(samples: int) -> float:
    to_child, from_child = _start_echo_child()
    try:
        return _median_round_trip(lambda data: os.write(to_child, data), lambda: os.read(from_child, 1 << 16), samples)
    finally:
        os.close(to_child)
        os.close(from_child)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args()
    print("| path | median round trip (ms) |")
    print("|---|---:|")
    print(f"| zmq 2 hops | {zmq_hops(False, args.samples) * 1000:.3f} |")
    print(f"| zmq 2 hops + pipe | {zmq_hops(True, args.samples) * 1000:.3f} |")
    print(f"| zmq 2 hops + pipe, client I/O thread | {zmq_hops(True, args.samples, client_thread=True) * 1000:.3f} |")
    print(f"| pipe only | {pipe_only(args.samples) * 1000:.3f} |")


if __name__ == "__main__":
    main()
