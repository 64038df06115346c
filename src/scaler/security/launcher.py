"""Secure by default for ``scaler CONFIG.toml``: a stack configured without credentials gets throw-away ones.

The scheduler and object storage get the server's keys, worker managers (and so their workers) a manager's, the
GUI the owner's (an admin: it reads the monitor stream), each through its environment. The owner's credentials
are published in this user's runtime directory (see ``runtime``) so that this user's clients find them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from scaler.cli.launch_plan import LaunchStep
from scaler.config import SchedulerConfig, resolve_config, section_table
from scaler.security.credentials import ENVIRONMENT_VARIABLE
from scaler.security.ephemeral import cluster_keys
from scaler.security.exposure import is_loopback
from scaler.security.runtime import publish

logger = logging.getLogger("scaler.security")

_SERVER_MODULES = ("scaler.cli.scheduler", "scaler.cli.object_storage_server")


def with_ephemeral_credentials(
    steps: list[LaunchStep], document: Mapping[str, Any], path: str
) -> tuple[list[LaunchStep], list[Path]]:
    """``steps`` with credentials in their environments, and the files published for clients (to remove at the
    end); unchanged when the file or the environment already names credentials, or there is no scheduler."""
    configured = any(isinstance(table, dict) and "credentials" in table for table in _tables(document))
    if configured or os.environ.get(ENVIRONMENT_VARIABLE) or SchedulerConfig.section not in document:
        return steps, []
    scheduler = resolve_config(SchedulerConfig, toml=section_table(document, "scheduler", path), origin=path)
    keys = cluster_keys(loopback=is_loopback(scheduler.scheduler_address))
    secured = []
    for step in steps:
        module = step.command[2] if len(step.command) > 2 else ""
        if module in _SERVER_MODULES:
            credentials = keys.server.to_toml()
        elif module == "scaler.cli.worker_manager":
            credentials = keys.manager.to_toml()
        else:
            credentials = keys.owner.to_toml()
        secured.append(replace(step, environment=(*step.environment, (ENVIRONMENT_VARIABLE, credentials))))
    addresses = [
        str(scheduler.scheduler_address),
        str(scheduler.effective_object_storage_address),
        str(scheduler.effective_monitor_address),
    ]
    published = publish(addresses, keys.owner)
    logger.info(
        "no credentials configured: this cluster uses throw-away keys; your clients find them in %s (other users "
        "cannot connect)",
        published[0].parent,
    )
    return secured, published


def _tables(document: Mapping[str, Any]) -> list[Any]:
    tables: list[Any] = []
    for value in document.values():
        tables.extend(value if isinstance(value, list) else [value])
    return tables
