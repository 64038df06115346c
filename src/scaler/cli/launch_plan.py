"""What ``scaler CONFIG.toml`` will start, decided and validated before anything starts.

Every section is validated up front, so that a typo in the last ``[[worker_manager]]`` fails before the
scheduler binds its port. Start order: ``[object_storage_server]``, ``[scheduler]``, each ``[[worker_manager]]``,
``[gui]``. ``[top]`` is validated but not started: it is an interactive terminal view, which cannot share the
terminal with the other processes' logs; run ``scaler_top --config CONFIG.toml`` in a terminal of its own.
"""

from __future__ import annotations

import dataclasses
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

STARTED_SECTIONS = ("object_storage_server", "scheduler", WORKER_MANAGER_SECTION, "gui")
VALIDATED_ONLY_SECTIONS = ("top",)


@dataclasses.dataclass(frozen=True)
class LaunchStep:
    """One child process: ``command + ["--config", FILE]`` where FILE holds ``toml_text``."""

    label: str  # how logs and errors name it: "[scheduler]", "[[worker_manager]] #2 (type = 'baremetal_native')"
    command: tuple[str, ...]
    toml_text: str
    ready_address: Address | None = None  # wait until it accepts connections before starting the next step
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
    known = (*STARTED_SECTIONS, *VALIDATED_ONLY_SECTIONS)
    expected = ", ".join(section_header(name) for name in known)
    unknown = [name for name in document if name not in known]
    if len(unknown) == len(document):
        found = ", ".join(f"[{name}]" for name in unknown) or "an empty file"
        raise ConfigError(f"{path}: no recognized section (expected {expected}; found {found})")
    if unknown:
        raise ConfigError(f"{path}: unknown section [{unknown[0]}] (recognized sections: {expected})")

    steps: list[LaunchStep] = []
    storage: ObjectStorageServerConfig | None = None
    if ObjectStorageServerConfig.section in document:
        storage, table = _section(ObjectStorageServerConfig, document, path, environ)
        steps.append(_step(storage, table, ready_address=storage.object_storage_address))
    if SchedulerConfig.section in document:
        scheduler, table = _section(SchedulerConfig, document, path, environ)
        _check_storage_conflict(scheduler, storage, path)
        steps.append(_step(scheduler, table))
    steps.extend(_worker_manager_steps(document, path, environ))
    if GuiConfig.section in document:
        gui, table = _section(GuiConfig, document, path, environ)
        steps.append(_step(gui, table))
    if TopConfig.section in document:
        _section(TopConfig, document, path, environ)
    if not steps:
        raise ConfigError(
            f"{path}: nothing to start: [top] is not started by scaler (run scaler_top --config {path}); "
            f"add one of {', '.join(section_header(name) for name in STARTED_SECTIONS)}"
        )
    return steps


def _step(config: ConfigSection, table: Mapping[str, Any], ready_address: Address | None = None) -> LaunchStep:
    name = config.section
    return LaunchStep(f"[{name}]", _command(name), format_toml_table(f"[{name}]", table), ready_address)


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


def _worker_manager_steps(document: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> list[LaunchStep]:
    steps = []
    for type_name, origin, table in worker_manager_entries(document, path):
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
