"""Starting an OCI manager: the SDK present, credentials usable, access checked; each failure one line, then exit.

A manager that cannot authenticate should say so in one line (the service's own words), not print a traceback per
retry. These helpers print ``scaler_worker_manager: error: ...`` and exit with status 1.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

from scaler.worker_manager_adapter.oci_common.config import OciContainerInstanceConfig
from scaler.worker_manager_adapter.oci_common.models import OciConnection, OciError, OciSetupError

if TYPE_CHECKING:
    from scaler.worker_manager_adapter.oci_common.gateway import OciGateway

PROG = "scaler_worker_manager"
INSTALL_HINT = "pip install 'scaler[oci]'"
T = TypeVar("T")


def fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def require_oci_sdk(adapter: str) -> None:
    try:
        importlib.import_module("oci")
    except ImportError as error:  # missing, or installed without one of its own dependencies
        fail(f"the {adapter} worker manager needs the OCI SDK ({error}): {INSTALL_HINT}")


def connection_from_config(config: OciContainerInstanceConfig) -> OciConnection:
    return OciConnection(
        region=config.oci_region,
        auth_type=config.auth_type,
        profile=config.oci_profile,
        config_file=config.oci_config_file,
        endpoint=config.oci_endpoint,
    )


def open_gateway(adapter: str, connection: OciConnection) -> OciGateway:
    require_oci_sdk(adapter)
    from scaler.worker_manager_adapter.oci_common.gateway import OciGateway

    try:
        return OciGateway.connect(connection)
    except OciSetupError as error:
        fail(str(error))


def checked(what: str, call: Callable[[], T]) -> T:
    """``call()``; an OCI failure exits with one line that says what was being checked and what OCI answered."""
    try:
        return call()
    except OciError as error:
        if error.status == 401:
            fail(f"OCI authentication failed while {what}: {error}")
        fail(f"OCI refused {what}: {error}")
