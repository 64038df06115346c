"""Which credentials a connecting socket uses when it is given none: the process-wide registries.

In order: those of a cluster this process started at that address (``register_local_cluster``: a combo's
in-memory keys), else those named by ``SCALER_CREDENTIALS`` (a file path or the TOML text: how a process hands
its credentials to its children), else those this user's launcher published for the address (``runtime``).
"""

from __future__ import annotations

import os
from typing import Any, Final

from scaler.security.credentials import (
    ENVIRONMENT_VARIABLE,
    CredentialsError,
    PeerCredentials,
    ServerCredentials,
    load_credentials,
    resolve,
)
from scaler.security.runtime import published_credentials


class _FromEnvironment:
    """The default of ``credentials`` parameters: whatever ``SCALER_CREDENTIALS`` names (maybe nothing)."""


FROM_ENVIRONMENT: Final = _FromEnvironment()
_environment_cache: dict[str, PeerCredentials] = {}
_local_clusters: dict[str, PeerCredentials] = {}  # address -> the credentials of a cluster this process started


def register_local_cluster(addresses: list[str], credentials: PeerCredentials | None) -> None:
    """Connect to ``addresses`` (a combo's scheduler, object storage and monitor) with ``credentials`` by
    default; None forgets them. In-memory keys: other local users cannot connect to such a cluster."""
    for address in addresses:
        if credentials is None:
            _local_clusters.pop(address, None)
        else:
            _local_clusters[address] = credentials


def forget_inherited() -> None:
    """In a forked child that is to act as a fresh interpreter (a combo's scheduler, storage or worker): drop what
    its parent registered. A worker forked from the process that started its combo would otherwise connect with the
    owner's keys rather than its own (``SCALER_CREDENTIALS``), and the scheduler then refuses what its tasks' own
    clients submit, which use the worker's keys."""
    _local_clusters.clear()
    _environment_cache.clear()


def environment_credentials() -> PeerCredentials | None:
    """The connecting credentials named by ``SCALER_CREDENTIALS`` (a scheduler's file acts as its own key)."""
    source = os.environ.get(ENVIRONMENT_VARIABLE)
    if not source:
        return None
    cached = _environment_cache.get(source)
    if cached is None:
        loaded = load_credentials(source)
        cached = loaded.as_peer() if isinstance(loaded, ServerCredentials) else loaded
        _environment_cache[source] = cached
    return cached


def environment_server_credentials() -> ServerCredentials | None:
    source = os.environ.get(ENVIRONMENT_VARIABLE)
    loaded = load_credentials(source) if source else None
    return loaded if isinstance(loaded, ServerCredentials) else None


def connecting_credentials(
    credentials: PeerCredentials | _FromEnvironment | None, address: str
) -> PeerCredentials | None:
    """What a socket connecting to ``address`` uses: ``credentials``, or for ``FROM_ENVIRONMENT`` the defaults
    above (None: a plain socket)."""
    if isinstance(credentials, _FromEnvironment):
        return _local_clusters.get(address) or environment_credentials() or published_credentials(address)
    return credentials


def client_credentials(credentials: str | os.PathLike[str] | PeerCredentials | None) -> Any:
    """The given credentials (a file, TOML text or an object), or ``FROM_ENVIRONMENT``: those of a cluster this
    process started at the address (see ``register_local_cluster``), else whatever ``SCALER_CREDENTIALS`` names."""
    if credentials is None:
        return FROM_ENVIRONMENT
    loaded = resolve(credentials)
    if not isinstance(loaded, PeerCredentials):
        raise CredentialsError("a client needs a peer's credentials file (scaler_keys add), not a scheduler's")
    return loaded
