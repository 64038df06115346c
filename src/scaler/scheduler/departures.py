"""Clients the scheduler dropped because they went silent: when their objects go, and what to tell them if
they come back.

A client that stops heartbeating may only have been cut off (a laptop that slept, a network partition), not
gone. Its tasks are cancelled at once, but its objects are kept for ``object_retention_seconds``; and if it
speaks again it is told it was dropped (so its pending futures fail with the reason instead of waiting
forever), not readmitted as if nothing had happened. Pure bookkeeping with no clock of its own.
"""

from __future__ import annotations

from collections import OrderedDict, deque

REMEMBERED = 10_000  # dropped client ids kept to answer; the oldest are forgotten first


class DepartedClients:
    def __init__(self, retention_seconds: float) -> None:
        self._retention = retention_seconds
        self._deletions: deque[tuple[float, bytes]] = deque()  # (when its objects go, client id), in time order
        self._reasons: OrderedDict[bytes, str] = OrderedDict()

    def dropped(self, client_id: bytes, why: str, now: float) -> None:
        self._deletions.append((now + self._retention, client_id))
        self._reasons[client_id] = f"the scheduler dropped this client: it {why}; its tasks were cancelled"
        if len(self._reasons) > REMEMBERED:
            self._reasons.popitem(last=False)

    def reason(self, client_id: bytes) -> str | None:
        """Why this client was dropped, if it was."""
        return self._reasons.get(client_id)

    def objects_due(self, now: float) -> list[bytes]:
        """The clients whose objects are to be deleted now."""
        due = []
        while self._deletions and self._deletions[0][0] <= now:
            due.append(self._deletions.popleft()[1])
        return due
