"""What ``scaler CONFIG.toml`` will start, decided and validated before anything starts.

Every section is validated up front, so that a typo in the last ``[[worker_manager]]`` fails before the
scheduler binds its port. Start order: ``[object_storage_server]``, ``[scheduler]``, each ``[[worker_manager]]``,
``[gui]``, ``[top]``. A section the launcher does not know is reported with a warning and skipped (an unknown
*key* in a known section stays an error: that is a typo, while a section may be meant for another tool).

A ``[[worker_manager]]`` entry without ``scheduler_address`` connects to the ``[scheduler]`` of the same file.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, TypeVar

from scaler.config import (
    ConfigError,
    ConfigSection,
    GuiConfig,
    ObjectStorageServerConfig,
    SchedulerConfig,
    TopConfig,
    resolve_config,
    section_table,
    worker_manager_entries,
)
from scaler.config.toml_source import TYPE_KEY, WORKER_MANAGER_SECTION, format_toml_table
from scaler.io.address import Address
from scaler.worker_manager_adapter.registry import ADAPTERS, available_adapter_names

SectionT = TypeVar("SectionT", bound=ConfigSection)

logger = logging.getLogger(__name__)

STARTED_SECTIONS = ("object_storage_server", "scheduler", WORKER_MANAGER_SECTION, "gui", "top")
# A manager connecting to a scheduler bound on every interface connects through loopback.
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@dataclasses.dataclass(frozen=True)
class LaunchStep:
    """One child process: ``command + ["--config", FILE]`` where FILE holds ``toml_text``."""

    label: str  # how logs and errors name it: "[scheduler]", "[[worker_manager]] #2 (type = 'baremetal_native')"
    command: tuple[str, ...]
    toml_text: str
    ready_address: Address | None = None  # wait until it accepts connections before starting the next step
    # The stack cannot run without it (the scheduler, the object storage it uses): when it exits, all stop.
    # Any other child that exits is reported, and the rest keep running.
    essential: bool = False
    environment: tuple[tuple[str, str], ...] = ()  # added to the child's environment (credentials: never argv)


def section_header(name: str) -> str:
    """How a section is written in TOML (and in messages): ``[scheduler]``, ``[[worker_manager]]``."""
    return f"[[{name}]]" if name == WORKER_MANAGER_SECTION else f"[{name}]"


def _command(name: str, *arguments: str) -> tuple[str, ...]:
    # The same interpreter as the launcher, so a virtual environment carries over to the children.
    return (sys.executable, "-m", f"scaler.cli.{name}", *arguments)


def _section(
    cls: type[SectionT], document: Mapping[str, Any], path: str, environ: Mapping[str, str]
) -> tuple[SectionT, dict[str, Any]]:
    table = section_table(document, cls.section, path)
    return resolve_config(cls, toml=table, origin=f"{path}: [{cls.section}]", environ=environ), table


def plan_launch(document: Mapping[str, Any], path: str, environ: Mapping[str, str] | None = None) -> list[LaunchStep]:
    """Validate every section of ``document`` (read from ``path``) and return the processes to start, in order."""
    environ = os.environ if environ is None else environ
    expected = ", ".join(section_header(name) for name in STARTED_SECTIONS)
    unknown = [name for name in document if name not in STARTED_SECTIONS]
    if len(unknown) == len(document):
        found = ", ".join(f"[{name}]" for name in unknown) or "an empty file"
        raise ConfigError(f"{path}: no recognized section (expected {expected}; found {found})")
    for name in unknown:
        logger.warning("%s: skipping unknown section [%s] (recognized sections: %s)", path, name, expected)

    steps: list[LaunchStep] = []
    storage: ObjectStorageServerConfig | None = None
    scheduler: SchedulerConfig | None = None
    if ObjectStorageServerConfig.section in document:
        storage, table = _section(ObjectStorageServerConfig, document, path, environ)
        steps.append(_step(storage, table, ready_address=storage.object_storage_address, essential=True))
    if SchedulerConfig.section in document:
        scheduler, table = _section(SchedulerConfig, document, path, environ)
        _check_storage_conflict(scheduler, storage, path)
        steps.append(_step(scheduler, table, essential=True))
    steps.extend(_worker_manager_steps(document, path, environ, scheduler))
    for cls in (GuiConfig, TopConfig):
        if cls.section in document:
            config, table = _section(cls, document, path, environ)
            steps.append(_step(config, table))
    return steps


def _step(
    config: ConfigSection, table: Mapping[str, Any], ready_address: Address | None = None, essential: bool = False
) -> LaunchStep:
    name = config.section
    return LaunchStep(f"[{name}]", _command(name), format_toml_table(f"[{name}]", table), ready_address, essential)


def _check_storage_conflict(scheduler: SchedulerConfig, storage: ObjectStorageServerConfig | None, path: str) -> None:
    # Without object_storage_address the scheduler starts its own server at port + 1, which would collide with a
    # [object_storage_server] bound there; the intent is surely to use that server.
    if storage is None or scheduler.object_storage_address is not None:
        return
    if scheduler.effective_object_storage_address == storage.object_storage_address:
        raise ConfigError(
            f"{path}: [scheduler] has no object_storage_address, so the scheduler would start its own object "
            f"storage at {storage.object_storage_address}, where [object_storage_server] already binds; "
            f'set object_storage_address = "{storage.object_storage_address}" in [scheduler]'
        )


def scheduler_address_for_managers(scheduler: SchedulerConfig) -> str:
    """The address a manager in the same file connects to: the scheduler's, through loopback if it binds ``*``."""
    address = scheduler.scheduler_address
    host = _WILDCARD_HOSTS.get(address.host, address.host) if address.scheme == "tcp" else address.host
    return str(dataclasses.replace(address, host=host))


def _worker_manager_steps(
    document: Mapping[str, Any], path: str, environ: Mapping[str, str], scheduler: SchedulerConfig | None
) -> list[LaunchStep]:
    steps = []
    for type_name, origin, table in worker_manager_entries(document, path):
        if scheduler is not None and not ({"scheduler_address", "scheduler-address"} & table.keys()):
            table = {"scheduler_address": scheduler_address_for_managers(scheduler), **table}
        entry = ADAPTERS.get(type_name)
        if entry is None:
            raise ConfigError(f"{origin}: unknown worker manager type (known types: {', '.join(ADAPTERS)})")
        if not entry.available:
            raise ConfigError(
                f"{origin}: worker manager type {type_name!r} is not yet available in this version "
                f"(available: {', '.join(available_adapter_names())})"
            )
        resolve_config(entry.load_config_class(), toml=table, origin=origin, environ=environ)
        label = origin.removeprefix(f"{path}: ")
        text = format_toml_table(f"[[{WORKER_MANAGER_SECTION}]]", {TYPE_KEY: type_name, **table})
        steps.append(LaunchStep(label, _command(WORKER_MANAGER_SECTION, type_name), text))
    return steps
