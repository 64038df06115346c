"""Read TOML config files and pick the table a command needs.

A file holds one table per command (``[scheduler]``, ``[gui]``, ...) and an array of worker-manager tables
(``[[worker_manager]]``, each with a ``type`` key). Every error names the file and the table; a table is
described by an *origin* string such as ``cluster.toml: [scheduler]`` that the loader puts in front of key errors.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from scaler.config.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

WORKER_MANAGER_SECTION = "worker_manager"
TYPE_KEY = "type"


def read_toml(path: str) -> dict[str, Any]:
    """The parsed document; ``ConfigError`` when the file is missing or is not valid TOML (with its line)."""
    try:
        with open(path, "rb") as file:
            document: dict[str, Any] = tomllib.load(file)
            return document
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        # The decoder's message already carries "(at line N, column M)".
        raise ConfigError(f"{path}: invalid TOML: {error}") from None


def section_table(document: Mapping[str, Any], section: str, path: str) -> dict[str, Any]:
    """The ``[section]`` table of ``document``; an error when it is missing or is not a table."""
    if section not in document:
        present = ", ".join(f"[{name}]" for name in document) or "none"
        raise ConfigError(f"{path}: no [{section}] section (sections in the file: {present})")
    table = document[section]
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{section}] must be a table, got {type(table).__name__}")
    return table


def worker_manager_entries(document: Mapping[str, Any], path: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every worker-manager entry as ``(type, origin, table without the type key)``.

    ``[[worker_manager]]`` (an array of tables) is the usual form; a single ``[worker_manager]`` table is
    accepted too. An entry without a string ``type`` is an error: nothing could select it.
    """
    raw = document.get(WORKER_MANAGER_SECTION)
    if raw is None:
        return []
    tables = [raw] if isinstance(raw, dict) else raw
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise ConfigError(f"{path}: [[{WORKER_MANAGER_SECTION}]] must be a table or an array of tables")
    entries = []
    for number, table in enumerate(tables, start=1):
        where = f"{path}: [[{WORKER_MANAGER_SECTION}]] #{number}"
        type_name = table.get(TYPE_KEY)
        if not isinstance(type_name, str) or not type_name:
            raise ConfigError(f'{where}: missing the {TYPE_KEY} key (for example {TYPE_KEY} = "baremetal_native")')
        body = {key: value for key, value in table.items() if key != TYPE_KEY}
        entries.append((type_name, f"{where} (type = {type_name!r})", body))
    return entries


def select_worker_manager(document: Mapping[str, Any], type_name: str, path: str) -> tuple[str, dict[str, Any]]:
    """The one entry whose ``type`` is ``type_name`` as ``(origin, table)``; none or several is an error."""
    entries = worker_manager_entries(document, path)
    matches = [(origin, table) for entry_type, origin, table in entries if entry_type == type_name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        found = ", ".join(sorted({entry_type for entry_type, _, _ in entries})) or "no entries"
        raise ConfigError(
            f"{path}: no [[{WORKER_MANAGER_SECTION}]] entry has {TYPE_KEY} = {type_name!r} (found: {found})"
        )
    raise ConfigError(
        f"{path}: {len(matches)} [[{WORKER_MANAGER_SECTION}]] entries have {TYPE_KEY} = {type_name!r}; "
        "keep exactly one (or start the others with the scaler launcher)"
    )


def format_toml_value(value: object) -> str:
    """One TOML value as text: strings, numbers, booleans, arrays and inline tables (what config tables hold)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{_format_string(key)} = {format_toml_value(item)}" for key, item in value.items()) + "}"
        )
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def format_toml_table(header: str, table: Mapping[str, Any]) -> str:
    """A table as TOML text; ``header`` is ``"[name]"`` or ``"[[name]]"``."""
    lines = [header]
    lines.extend(f"{_format_key(key)} = {format_toml_value(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


def _format_key(key: str) -> str:
    bare = key and all(char.isascii() and (char.isalnum() or char in "_-") for char in key)
    return key if bare else _format_string(key)


def _format_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
