"""scaler_keys and the credentials files: modes, contents, refusals, and the key ring's reload."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from scaler.cli import keys
from scaler.security.credentials import (
    CredentialsError,
    PeerCredentials,
    ServerCredentials,
    load_credentials,
    new_server_credentials,
)
from scaler.security.keyring import MONITOR_DOMAIN
from tests.security.conftest import key_ring_with


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_add_revoke_write_private_files_and_authorize_by_role(tmp_path: Path) -> None:
    keys.main(["init", str(tmp_path)])
    keys.main(["add", str(tmp_path), "--role", "worker", "--name", "w1"])
    keys.main(["add", str(tmp_path), "--role", "admin", "--name", "ops"])
    server = load_credentials(tmp_path / "scheduler.toml")
    worker = load_credentials(tmp_path / "w1.toml")
    assert isinstance(server, ServerCredentials) and isinstance(worker, PeerCredentials)
    assert all(_mode(path) == 0o600 for path in tmp_path.glob("*.toml"))
    assert worker.role == "worker" and worker.server_public_key == server.public_key
    assert server.identity_of(worker.public_key) is not None
    assert server.identity_of(worker.public_key).role == "worker"  # type: ignore[union-attr]

    keys.main(["revoke", str(tmp_path), "--name", "w1"])
    server = load_credentials(tmp_path / "scheduler.toml")
    assert isinstance(server, ServerCredentials)
    assert server.identity_of(worker.public_key) is None
    assert not (tmp_path / "w1.toml").exists()
    assert [who.name for who in server.authorized.values()] == ["ops"]


def test_the_tool_refuses_what_would_lose_or_leak_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys.main(["init", str(tmp_path)])
    with pytest.raises(SystemExit):
        keys.main(["init", str(tmp_path)])  # would invalidate every issued file
    assert "exists" in capsys.readouterr().err
    keys.main(["add", str(tmp_path), "--role", "client", "--name", "alice"])
    with pytest.raises(SystemExit):
        keys.main(["add", str(tmp_path), "--role", "client", "--name", "alice"])
    with pytest.raises(SystemExit):
        keys.main(["add", str(tmp_path), "--role", "client", "--name", "../evil"])
    with pytest.raises(SystemExit):
        keys.main(["revoke", str(tmp_path), "--name", "nobody"])
    error = capsys.readouterr().err
    assert "already authorized" in error and "invalid name" in error and "not authorized" in error
    secret = load_credentials(tmp_path / "alice.toml").secret_key
    assert secret not in error


def test_a_file_other_users_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.toml"
    path.write_text(new_server_credentials().to_toml())
    path.chmod(0o644)
    with pytest.raises(CredentialsError, match="chmod 600"):
        load_credentials(path)


def test_bad_contents_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="public_key must be a 40-character"):
        load_credentials('role = "client"\npublic_key = "x"\n')
    with pytest.raises(CredentialsError, match="role must be one of"):
        load_credentials('role = "root"\npublic_key = "x"\n')
    with pytest.raises(CredentialsError, match="cannot read"):
        load_credentials(tmp_path / "missing.toml")


def test_text_credentials_round_trip() -> None:
    server = new_server_credentials()
    loaded = load_credentials(server.to_toml())
    assert isinstance(loaded, ServerCredentials) and loaded.public_key == server.public_key


def test_key_ring_reloads_a_changed_file_and_reports_revoked_keys(tmp_path: Path) -> None:
    manager, ring = key_ring_with(tmp_path, "m1", "manager")
    key = manager.public_key.encode()
    assert ring.callback("scaler", key)
    assert not ring.callback(MONITOR_DOMAIN, key)  # only admins read the monitor stream
    keys.main(["revoke", str(tmp_path), "--name", "m1"])
    ring.reload()  # what SIGHUP does; without it the change is seen within RELOAD_CHECK_SECONDS
    assert not ring.callback("scaler", key)
    assert ring.take_revoked() == {manager.public_key}
    assert ring.take_revoked() == set()
