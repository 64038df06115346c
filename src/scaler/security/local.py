"""Credentials a process made for its own cluster (a combo's ephemeral keys), found by the cluster's address.

``SchedulerClusterCombo()`` with no credentials generates a fresh key set in memory and registers the client's
credentials here under its scheduler address, so that ``Client(address)`` in the same process connects with
them while other local users, who cannot read this process's memory, cannot connect at all.
"""

from __future__ import annotations

import os
from typing import Any

from scaler.io.sockets import FROM_ENVIRONMENT
from scaler.security.credentials import CredentialsError, PeerCredentials, resolve

_by_address: dict[str, PeerCredentials] = {}


def register(address: str, credentials: PeerCredentials) -> None:
    _by_address[address] = credentials


def unregister(address: str) -> None:
    _by_address.pop(address, None)


def client_credentials(credentials: str | os.PathLike[str] | PeerCredentials | None, address: str) -> Any:
    """What a client at ``address`` connects with: the given credentials, those of a cluster this process
    started there, or (``FROM_ENVIRONMENT``) whatever ``SCALER_CREDENTIALS`` names."""
    if credentials is None:
        return _by_address.get(address, FROM_ENVIRONMENT)
    loaded = resolve(credentials)
    if not isinstance(loaded, PeerCredentials):
        raise CredentialsError("a client needs a peer's credentials file (scaler_keys add), not a scheduler's")
    return loaded
