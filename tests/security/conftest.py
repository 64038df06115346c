"""A secured cluster whose credentials come from scaler_keys, with one file per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scaler import SchedulerClusterCombo
from scaler.cli import keys
from scaler.security.credentials import PeerCredentials, load_credentials

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
