"""Parse and derive the address strings every component is configured with.

An address is ``tcp://HOST:PORT`` or ``ipc://PATH``: exactly what ZeroMQ binds and connects to. Parsing is
strict so that a typo in a flag or a TOML file fails at start-up with the offending text, not later as a
socket error deep inside a process.
"""

from __future__ import annotations

import dataclasses
import socket

SCHEMES = ("tcp", "ipc")


class AddressError(ValueError):
    """An address string that is not ``tcp://HOST:PORT`` or ``ipc://PATH``."""


@dataclasses.dataclass(frozen=True)
class Address:
    scheme: str
    host: str  # for ipc: the socket path
    port: int  # 0 for ipc

    @staticmethod
    def parse(text: str) -> Address:
        if not isinstance(text, str) or "://" not in text:
            raise AddressError(f"invalid address {text!r}: expected tcp://HOST:PORT or ipc://PATH")
        scheme, _, rest = text.partition("://")
        if scheme not in SCHEMES:
            raise AddressError(f"invalid address {text!r}: scheme must be one of {', '.join(SCHEMES)}")
        if scheme == "ipc":
            if not rest:
                raise AddressError(f"invalid address {text!r}: ipc:// needs a path")
            return Address("ipc", rest, 0)
        host, sep, port_text = rest.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise AddressError(f"invalid address {text!r}: expected tcp://HOST:PORT")
        port = int(port_text)
        if not 0 < port < 65536:
            raise AddressError(f"invalid address {text!r}: port must be in 1..65535")
        return Address("tcp", host.strip("[]"), port)

    def with_port_offset(self, offset: int) -> Address:
        """The address ``offset`` ports above this one (object storage at +1, monitor at +2)."""
        if self.scheme == "ipc":
            return Address("ipc", f"{self.host}.{offset}", 0)
        return Address(self.scheme, self.host, self.port + offset)

    def __str__(self) -> str:
        if self.scheme == "ipc":
            return f"ipc://{self.host}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for tests and for combos started without an address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
