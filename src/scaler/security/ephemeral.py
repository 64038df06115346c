"""Throw-away credentials for a cluster that one process starts for itself (``SchedulerClusterCombo``).

The keys live only in this process's memory and in its children's environments (never in a file or on a
command line), so other users of the machine cannot connect to a quick-start cluster, while the code that
started it needs no setup at all.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from scaler.security.credentials import (
    ENVIRONMENT_VARIABLE,
    Identity,
    PeerCredentials,
    ServerCredentials,
    new_peer_credentials,
    new_server_credentials,
)


@dataclass(frozen=True)
class ClusterKeys:
    server: ServerCredentials
    worker: PeerCredentials
    owner: PeerCredentials  # the process that started the cluster: an admin (it may shut it down)
    manager: PeerCredentials  # worker managers, whose workers run with the same key

    def environment_for_server(self) -> dict[str, str]:
        return {ENVIRONMENT_VARIABLE: self.server.to_toml()}

    def environment_for_workers(self) -> dict[str, str]:
        return {ENVIRONMENT_VARIABLE: self.worker.to_toml()}


def cluster_keys(base: ServerCredentials | None = None, loopback: bool = False) -> ClusterKeys:
    """Keys for a combo: ``base`` (a scheduler's credentials, its authorized peers kept) or fresh ones, plus a
    worker key and an owner key authorized in memory only.

    A fresh cluster on loopback (``loopback``) gets passwords instead (ZeroMQ PLAIN): on loopback only other local
    users could connect, which a password stops, and none of them can read the traffic, so CURVE's encryption,
    which costs several times the time of a large transfer, would buy nothing."""
    if base is None and loopback:
        return _password_cluster()
    server = base or new_server_credentials()
    worker = new_peer_credentials(server, "combo-worker", "worker")
    owner = new_peer_credentials(server, "combo-owner", "admin")
    manager = new_peer_credentials(server, "combo-manager", "manager")
    authorized = {
        **server.authorized,
        **{peer.public_key: Identity(peer.name, peer.role) for peer in (worker, owner, manager)},
    }
    # path=None: the in-memory key set is the truth; reloading the file would forget the keys above.
    return ClusterKeys(replace(server, authorized=authorized, path=None), worker, owner, manager)


def _password_cluster() -> ClusterKeys:
    server = new_server_credentials()
    peers = {
        name: role
        for name, role in (("combo-worker", "worker"), ("combo-owner", "admin"), ("combo-manager", "manager"))
    }
    passwords = {name: secrets.token_hex(24) for name in ("scheduler", *peers)}
    server = replace(server, passwords=passwords, roles=peers)
    worker, owner, manager = (PeerCredentials(name, role, "", "", "", passwords[name]) for name, role in peers.items())
    return ClusterKeys(server, worker, owner, manager)
