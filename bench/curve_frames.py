"""Where the time of a large CURVE transfer goes: one loopback hop, plain vs CURVE, one frame vs bounded frames.

    .venv/bin/python bench/curve_frames.py                 # 100 MB, frames of 100 MB, 4 MB and 1 MB
    .venv/bin/python bench/curve_frames.py --megabytes 10

Prints, per setting, the median seconds to send ``--megabytes`` of fresh random bytes from a DEALER to a ROUTER
over tcp://127.0.0.1 and receive all of it; plus what the parts cost alone: libsodium's XSalsa20-Poly1305
(``crypto_box_easy_afternm``, the box CURVE puts every message in) on a buffer of that size, and touching a
freshly allocated buffer of that size (page faults). Prints numbers only; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import statistics
import time
from pathlib import Path
from typing import Any

import zmq


def hop(megabytes: int, frame_megabytes: int, curve: bool, repeats: int) -> float:
    context: zmq.Context[Any] = zmq.Context()
    server, client = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    if curve:
        server_public, server_secret = zmq.curve_keypair()
        client_public, client_secret = zmq.curve_keypair()
        server.curve_server, server.curve_publickey, server.curve_secretkey = True, server_public, server_secret
        client.curve_publickey, client.curve_secretkey = client_public, client_secret
        client.curve_serverkey = server_public
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client.connect(f"tcp://127.0.0.1:{port}")
    client.send(b"hello")
    server.recv_multipart()
    times = []
    size, step = megabytes << 20, frame_megabytes << 20
    for _ in range(repeats):
        payload = os.urandom(size)
        frames = [memoryview(payload)[offset : offset + step] for offset in range(0, size, step)]
        started = time.perf_counter()
        client.send_multipart(frames, copy=False)
        received = server.recv_multipart(copy=False)
        times.append(time.perf_counter() - started)
        assert sum(len(frame.buffer) for frame in received[1:]) == size
        del payload, frames, received
    context.destroy(linger=0)
    return statistics.median(times)


def sodium_box_seconds(megabytes: int) -> float | None:
    """One crypto_box_easy_afternm over ``megabytes`` with the libsodium pyzmq bundles (None if not found)."""
    import zmq as package

    candidates = glob.glob(str(Path(package.__file__).parent.parent / "pyzmq.libs" / "libsodium*"))
    if not candidates:
        return None
    sodium = ctypes.CDLL(candidates[0])
    sodium.sodium_init()
    size = megabytes << 20
    message, cipher = ctypes.create_string_buffer(size), ctypes.create_string_buffer(size + 16)
    key, nonce = ctypes.create_string_buffer(32), ctypes.create_string_buffer(24)
    started = time.perf_counter()
    sodium.crypto_box_easy_afternm(cipher, message, ctypes.c_ulonglong(size), nonce, key)
    return time.perf_counter() - started


def fresh_buffer_seconds(megabytes: int) -> float:
    started = time.perf_counter()
    buffer = bytearray(megabytes << 20)  # calloc'ed: the pages fault in as they are written
    buffer[::4096] = b"\1" * len(range(0, len(buffer), 4096))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    size = arguments.megabytes
    box = sodium_box_seconds(size)
    print(f"libsodium box of {size} MB: " + (f"{box:.3f} s ({size / box:,.0f} MB/s)" if box else "not found"))
    print(f"fresh {size} MB buffer, pages touched: {fresh_buffer_seconds(size):.3f} s")
    print(f"| one hop of {size} MB | plain (s) | CURVE (s) | CURVE / plain |")
    print("| --- | ---: | ---: | ---: |")
    for frame in sorted({size, 4, 1}, reverse=True):
        plain = hop(size, frame, False, arguments.repeats)
        curve = hop(size, frame, True, arguments.repeats)
        print(f"| frames of {frame} MB | {plain:.3f} | {curve:.3f} | {curve / plain:.2f}x |")


if __name__ == "__main__":
    main()
