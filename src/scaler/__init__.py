"""Scaler: distributed task execution for Python.

    from scaler import Client, SchedulerClusterCombo

    cluster = SchedulerClusterCombo(n_workers=4)
    with Client(address=cluster.get_address()) as client:
        print(client.map(abs, [-1, -2, 3]))   # [1, 2, 3]
    cluster.shutdown()

The public names are imported lazily, so that a worker's processes (which import ``scaler.worker...``)
do not pay for the client, the scheduler and their dependencies at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scaler.version import __version__

if TYPE_CHECKING:
    from scaler.client.client import Client
    from scaler.client.future import ScalerFuture
    from scaler.client.object_reference import ObjectReference
    from scaler.client.progress import progress
    from scaler.cluster.combo import SchedulerClusterCombo
    from scaler.errors import AuthenticationError
    from scaler.serialization import Serializer

_EXPORTS = {
    "AuthenticationError": "scaler.errors",
    "Client": "scaler.client.client",
    "ScalerFuture": "scaler.client.future",
    "ObjectReference": "scaler.client.object_reference",
    "progress": "scaler.client.progress",
    "SchedulerClusterCombo": "scaler.cluster.combo",
    "Serializer": "scaler.serialization",
}

__all__ = [
    "AuthenticationError",
    "Client",
    "ObjectReference",
    "ScalerFuture",
    "SchedulerClusterCombo",
    "Serializer",
    "__version__",
    "progress",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scaler' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
