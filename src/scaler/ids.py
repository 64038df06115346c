"""Identities of peers, tasks and objects.

Every id is ``bytes``. Peers (clients, workers, managers) use readable ids such as
``b"Client|3f2a..."`` because they appear in logs and monitors. Object ids are 32 bytes: a 16-byte
*owner prefix* (a hash of the owning client's id) followed by 16 bytes that are unique within that owner.
The prefix lets the object storage server drop everything a departed client owned in one operation.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket

OWNER_PREFIX_BYTES = 16
OBJECT_ID_BYTES = 32


def new_client_id() -> bytes:
    return b"Client|" + os.urandom(12).hex().encode()


def new_worker_id(prefix: str) -> bytes:
    return f"Worker|{prefix}|{socket.gethostname()}|{os.getpid()}|{os.urandom(4).hex()}".encode()


def owner_prefix(owner_id: bytes) -> bytes:
    return hashlib.blake2b(owner_id, digest_size=OWNER_PREFIX_BYTES).digest()


def content_object_id(owner_id: bytes, content: bytes | memoryview, salt: bytes = b"") -> bytes:
    """An id that is the same for the same content of the same owner: repeated uploads become no-ops."""
    digest = hashlib.blake2b(content, digest_size=16, key=salt[:64]).digest()
    return owner_prefix(owner_id) + digest


def random_object_id(owner_id: bytes) -> bytes:
    return owner_prefix(owner_id) + os.urandom(16)


class TaskIdFactory:
    """Task ids: a random per-client prefix and a counter; cheap enough for millions of tasks."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8)
        self._counter = itertools.count()

    def __call__(self) -> bytes:
        return self._prefix + next(self._counter).to_bytes(8, "big")


def short(identity: bytes) -> str:
    """A printable form of an id for logs."""
    text = identity.decode(errors="replace") if identity[:1].isalpha() else identity.hex()
    return text if len(text) <= 48 else text[:45] + "..."
