"""A handle on an object uploaded once with ``Client.send_object`` and passed to many tasks.

The upload lives while the handle does (or a task using it is unfinished), so copies are the handle itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ObjectReference:
    name: bytes
    size: int
    object_id: bytes

    def __repr__(self) -> str:
        return f"ObjectReference(name={self.name!r}, size={self.size}, object_id={self.object_id.hex()[:16]}...)"

    def __copy__(self) -> ObjectReference:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ObjectReference:
        return self
