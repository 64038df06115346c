"""Managers that start workers on other machines hand them credentials in the environment, never the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaler.config import resolve_config
from scaler.security.credentials import remote_worker_environment
from scaler.worker_manager_adapter.oci_raw.config import OciRawConfig
from scaler.worker_manager_adapter.oci_raw.manager import unit_settings
from tests.security.conftest import make_keys
from tests.worker_manager_adapter.oci_standin.standin import COMPARTMENT_ID, SUBNET_ID


def test_without_credentials_nothing_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCALER_CREDENTIALS", raising=False)
    assert remote_worker_environment() == {}


def test_oci_raw_units_get_the_credentials_text_in_their_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_keys(tmp_path, {"cloud": "manager"})
    credentials = tmp_path / "cloud.toml"
    monkeypatch.setenv("SCALER_CREDENTIALS", str(credentials))  # what --credentials does in the manager process
    config = resolve_config(OciRawConfig, cli={
        "scheduler_address": "tcp://10.0.0.1:8516", "worker_manager_id": "wm", "compartment_id": COMPARTMENT_ID,
        "availability_domain": "AD-1", "subnet_id": SUBNET_ID, "container_image": "img", "python_version": "3.12",
        "requirements_txt": "scaler[oci]\nnumpy",
    })  # fmt: skip
    settings = unit_settings(config)
    secret = credentials.read_text().split("secret_key = ")[1].split("\n")[0]
    assert settings.environment["SCALER_CREDENTIALS"] == credentials.read_text()
    assert secret not in settings.command("ab12cd34")
