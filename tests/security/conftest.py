"""A secured cluster whose credentials come from scaler_keys, with one file per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scaler import SchedulerClusterCombo
from scaler.cli import keys
from scaler.security.credentials import PeerCredentials, ServerCredentials, load_credentials
from scaler.security.keyring import KeyRing

ROLES_BY_NAME = {"alice": "client", "bob": "client", "w": "worker", "m": "manager", "ops": "admin"}


@dataclass
class SecuredCluster:
    combo: SchedulerClusterCombo
    directory: Path

    @property
    def address(self) -> str:
        return self.combo.get_address()

    def file(self, name: str) -> Path:
        return self.directory / f"{name}.toml"

    def peer(self, name: str) -> PeerCredentials:
        credentials = load_credentials(self.file(name))
        assert isinstance(credentials, PeerCredentials)
        return credentials


def make_keys(directory: Path, names: dict[str, str]) -> None:
    keys.main(["init", str(directory)])
    for name, role in names.items():
        keys.main(["add", str(directory), "--role", role, "--name", name])


def key_ring_with(directory: Path, name: str, role: str) -> tuple[PeerCredentials, KeyRing]:
    """A fresh key directory with one peer: that peer's credentials, and the scheduler's key ring read from it (so
    ``scaler_keys revoke`` on the directory, then ``reload()``, takes the peer's key away)."""
    make_keys(directory, {name: role})
    peer = load_credentials(directory / f"{name}.toml")
    server = load_credentials(directory / "scheduler.toml")
    assert isinstance(peer, PeerCredentials) and isinstance(server, ServerCredentials)
    return peer, KeyRing(server)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredCluster]:
    directory = tmp_path_factory.mktemp("keys")
    make_keys(directory, ROLES_BY_NAME)
    combo = SchedulerClusterCombo(
        n_workers=1, credentials=directory / "scheduler.toml", protected=False, logging_level="WARNING"
    )
    try:
        yield SecuredCluster(combo, directory)
    finally:
        combo.shutdown()
