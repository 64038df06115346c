"""pytest fixtures around the stand-in (imported by the conftest.py of each OCI test folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker_manager_adapter.oci_standin.standin import StandIn, standin_images


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    with StandIn(tmp_path / "standin", images=standin_images()) as oci:
        yield oci


@pytest.fixture
def oci_config_file(standin: StandIn, tmp_path: Path) -> Path:
    """An OCI CLI config file whose API key the stand-in trusts."""
    return standin.write_oci_config(tmp_path / "oci-config")
