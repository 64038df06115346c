"""A second "host" for partition tests: a network namespace joined to this one by a veth pair.

Only the two addresses assigned here, on this test's own veth pair, ever carry traffic: the host side gets
``host_ip`` and the namespace side ``peer_ip`` (a /30 of its own, picked at random in 10.213.0.0/16 so that
parallel runs do not collide). ``link_down()`` and ``link_up()`` partition and heal the link. Everything is
torn down on exit, processes started in the namespace first, even when the test fails.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def _ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip", *args] if namespace is None else ["ip", "netns", "exec", namespace, "ip", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=30)


class VethHost:
    def __init__(self, name: str, host_if: str, peer_if: str, host_ip: str, peer_ip: str) -> None:
        self.name = name
        self.host_if = host_if
        self.peer_if = peer_if
        self.host_ip = host_ip
        self.peer_ip = peer_ip
        self.processes: list[subprocess.Popen[bytes]] = []

    def popen(self, command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start ``command`` inside the namespace; it is killed (by PID) at teardown."""
        process: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            ["ip", "netns", "exec", self.name, *command], stdin=subprocess.DEVNULL, **kwargs
        )
        self.processes.append(process)
        return process

    def link_down(self) -> None:
        _ip("link", "set", self.host_if, "down")

    def link_up(self) -> None:
        _ip("link", "set", self.host_if, "up")


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    return None


@contextmanager
def veth_host() -> Iterator[VethHost]:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    tag = f"{os.getpid() % 10000}{random.randrange(1000)}"
    subnet = random.randrange(64)  # 10.213.<a>.<4b..4b+3>: the pair's own /30
    block = random.randrange(1, 250)
    base = subnet * 4
    host = VethHost(
        f"scaler-{tag}", f"sch{tag}", f"scw{tag}", f"10.213.{block}.{base + 1}", f"10.213.{block}.{base + 2}"
    )
    try:
        _ip("netns", "add", host.name)
    except subprocess.CalledProcessError as error:
        pytest.skip(f"cannot create a network namespace here: {error.stderr.decode(errors='replace').strip()}")
    try:
        _ip("link", "add", host.host_if, "type", "veth", "peer", "name", host.peer_if)
        _ip("link", "set", host.peer_if, "netns", host.name)
        _ip("addr", "add", f"{host.host_ip}/30", "dev", host.host_if)
        _ip("link", "set", host.host_if, "up")
        _ip("addr", "add", f"{host.peer_ip}/30", "dev", host.peer_if, namespace=host.name)
        _ip("link", "set", host.peer_if, "up", namespace=host.name)
        _ip("link", "set", "lo", "up", namespace=host.name)
        yield host
    finally:
        for process in host.processes:
            if process.poll() is None:
                process.kill()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        subprocess.run(["ip", "link", "del", host.host_if], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", host.name], capture_output=True, timeout=30)
