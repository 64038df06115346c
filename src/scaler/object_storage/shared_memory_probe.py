"""Whether a process and object storage share a host and its shared memory.

Two steps: the storage address must be local (loopback, an ipc path, or an address of one of this host's
interfaces), and a one-time probe must succeed: the process writes a random token into a file of its shared-memory
directory and asks storage to read it (``SharedMemoryProbe``). A storage in another container (another
``/dev/shm``), of another user, or told another directory cannot read it, and the process keeps to TCP.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import stat

from scaler.io.address import Address, AddressError
from scaler.object_storage import shared_memory as shm

TOKEN_BYTES = 16
PROBE_SECONDS = 10.0  # how long a process waits for storage's answer before it keeps to TCP


def may_share(address: str) -> bool:
    """Shared memory is switched on and the storage at ``address`` looks local (the probe decides)."""
    return shm.enabled() and is_local_address(address)


def is_local_address(address: str) -> bool:
    try:
        parsed = Address.parse(address)
    except AddressError:
        return False
    if parsed.scheme == "ipc":
        return True
    try:
        infos = socket.getaddrinfo(parsed.host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    for family, _, _, _, sockaddr in infos:
        ip = str(sockaddr[0])
        try:
            parsed_ip = ipaddress.ip_address(ip.split("%")[0])
        except ValueError:
            continue
        if parsed_ip.is_loopback or parsed_ip.is_unspecified:
            return True
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((ip, 0))  # only an address of one of this host's interfaces can be bound
            return True
    return False


def write_probe(folder: str | None = None) -> tuple[str, bytes]:
    """Create a probe file; its name and token (the caller removes it with ``remove_probe`` once answered)."""
    name, token = shm.new_name(), os.urandom(TOKEN_BYTES)
    path = os.path.join(folder or shm.directory(), name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, token)
    finally:
        os.close(fd)
    return name, token


def remove_probe(name: str, folder: str | None = None) -> None:
    if shm.is_segment_name(name):
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder or shm.directory(), name))


def check_probe(name: str, token: bytes, folder: str | None = None) -> str:
    """Storage's side: "" when the probe file ``name`` holds ``token``, else why not."""
    if not shm.enabled():
        return "shared memory is switched off in object storage"
    if not shm.is_segment_name(name) or len(token) != TOKEN_BYTES:
        return "malformed probe"
    try:
        fd = os.open(os.path.join(folder or shm.directory(), name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        return f"object storage cannot open the probe file: {error.strerror}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return "the probe file belongs to another user"
        if os.read(fd, TOKEN_BYTES + 1) != token:
            return "the probe file holds another token (another shared-memory directory)"
    finally:
        os.close(fd)
    return ""
