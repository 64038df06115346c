"""A handle on an object uploaded once with ``Client.send_object`` and passed to many tasks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectReference:
    name: bytes
    size: int
    object_id: bytes

    def __repr__(self) -> str:
        return f"ObjectReference(name={self.name!r}, size={self.size}, object_id={self.object_id.hex()[:16]}...)"
