"""Which credentials a client connects with when it is given none."""

from __future__ import annotations

import os
from typing import Any

from scaler.io.sockets import FROM_ENVIRONMENT
from scaler.security.credentials import CredentialsError, PeerCredentials, resolve


def client_credentials(credentials: str | os.PathLike[str] | PeerCredentials | None) -> Any:
    """The given credentials (a file, TOML text or an object), or ``FROM_ENVIRONMENT``: those of a cluster this
    process started at the address (see ``register_local_cluster``), else whatever ``SCALER_CREDENTIALS`` names."""
    if credentials is None:
        return FROM_ENVIRONMENT
    loaded = resolve(credentials)
    if not isinstance(loaded, PeerCredentials):
        raise CredentialsError("a client needs a peer's credentials file (scaler_keys add), not a scheduler's")
    return loaded
