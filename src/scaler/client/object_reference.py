"""A handle on an object uploaded once with ``Client.send_object`` and passed to many tasks.

The upload lives while the handle does (or a task using it is unfinished), so copies are the handle itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ObjectReference:
    """A handle on an object uploaded with ``Client.send_object``: pass it as a task argument.

    The task receives the object itself, not the handle. ``name`` is the label given to ``send_object`` (or
    empty), ``size`` the serialized size in bytes, ``object_id`` its id in object storage.
    """

    name: bytes
    size: int
    object_id: bytes

    def __repr__(self) -> str:
        return f"ObjectReference(name={self.name!r}, size={self.size}, object_id={self.object_id.hex()[:16]}...)"

    def __copy__(self) -> ObjectReference:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ObjectReference:
        return self
