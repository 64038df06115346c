"""Owner credentials of the clusters this user started with ``scaler CONFIG.toml``, found by address.

Like Jupyter's connection files: the launcher generates throw-away keys and writes the owner's credentials to
``RUNTIME_DIR/<address>.toml`` (a 0700 directory, 0600 files), so that the same user's clients, ``scaler_top``
and scripts connect with no setup, while other users of the machine cannot read the keys and get nothing. The
files are removed when the launcher stops; a stale one (after a crash) is overwritten by the next cluster there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from scaler.security.credentials import CredentialsError, PeerCredentials, load_credentials, write_private

RUNTIME_DIR_VARIABLE = "SCALER_RUNTIME_DIR"


def runtime_dir() -> Path:
    explicit = os.environ.get(RUNTIME_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return Path(xdg) / "scaler" if xdg else Path.home() / ".cache" / "scaler" / "runtime"


def cluster_file(address: str) -> Path:
    return runtime_dir() / (re.sub(r"[^A-Za-z0-9_.-]", "_", address) + ".toml")


def publish(addresses: list[str], credentials: PeerCredentials) -> list[Path]:
    directory = runtime_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    paths = [cluster_file(address) for address in addresses]
    for path in paths:
        write_private(path, credentials.to_toml())
    return paths


def withdraw(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def published_credentials(address: str) -> PeerCredentials | None:
    """The owner credentials published for ``address`` by this user's launcher, if any."""
    path = cluster_file(address)
    if not path.is_file():
        return None
    try:
        loaded = load_credentials(path)
    except CredentialsError:
        return None
    return loaded if isinstance(loaded, PeerCredentials) else None
