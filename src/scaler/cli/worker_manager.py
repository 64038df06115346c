"""``scaler_worker_manager TYPE [options] [scheduler_address]``: run one worker manager of the given type.

With ``--config FILE`` it reads the ``[[worker_manager]]`` entry whose ``type`` is TYPE (exactly one must match).
Only the selected type's config class is imported, so that listing the types never imports a cloud SDK.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from scaler.cli._entry import fail, start
from scaler.config import (
    ConfigError,
    SchedulerConfig,
    WorkerManagerConfig,
    add_config_arguments,
    parser_settings,
    read_toml,
    resolve_config,
    select_worker_manager,
)
from scaler.config.parser import CONFIG_FILE_DEST, HelpFormatter, add_version_argument
from scaler.worker_manager_adapter.registry import ADAPTERS, AdapterEntry, available_adapter_names

PROG = "scaler_worker_manager"
_TYPE_DEST = "adapter_type"


def build_parser(selected: AdapterEntry | None) -> argparse.ArgumentParser:
    """The parser with one subcommand per type; only ``selected`` gets its full set of options."""
    return _build_parsers(selected)[0]


def _build_parsers(selected: AdapterEntry | None) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser | None]:
    """The top-level parser and the ``selected`` type's own subparser (None when no type is selected)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start one worker manager. Run 'scaler_worker_manager TYPE --help' for the options of a type.",
        allow_abbrev=False,
        formatter_class=HelpFormatter,
    )
    add_version_argument(parser)
    subparsers = parser.add_subparsers(dest=_TYPE_DEST, metavar="TYPE", required=True, title="worker manager types")
    selected_parser = None
    for entry in ADAPTERS.values():
        summary = entry.summary if entry.available else f"{entry.summary} (not yet available)"
        if entry is selected:
            config_class = entry.load_config_class()
            selected_parser = subparsers.add_parser(entry.name, help=summary, **parser_settings(config_class))
            add_config_arguments(selected_parser, config_class)
            add_version_argument(selected_parser)
        else:
            subparsers.add_parser(entry.name, help=summary, description=summary)
    return parser, selected_parser


def load_worker_manager_config(
    arguments: Sequence[str], environ: Mapping[str, str]
) -> tuple[AdapterEntry, WorkerManagerConfig]:
    """Parse ``TYPE [options]`` and resolve the type's config; ``ConfigError`` for anything wrong in the values."""
    # The top-level parser has no options but -h, so the first argument not starting with "-" is the type.
    selected = ADAPTERS.get(next((argument for argument in arguments if not argument.startswith("-")), ""))
    if selected is not None and not selected.available:
        raise ConfigError(
            f"worker manager type {selected.name!r} is not yet available in this version "
            f"(available: {', '.join(available_adapter_names())})"
        )
    parser, selected_parser = _build_parsers(selected)
    namespace, unknown = parser.parse_known_args(arguments)
    assert selected is not None and selected_parser is not None  # argparse rejected every other first argument
    if unknown:
        # A typo in a type's flag: show that type's usage (argparse would show the top-level one).
        selected_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    config_class = selected.load_config_class()
    cli = {key: value for key, value in vars(namespace).items() if key not in (_TYPE_DEST, CONFIG_FILE_DEST)}
    path = getattr(namespace, CONFIG_FILE_DEST, None)
    if path is None:
        return selected, resolve_config(config_class, cli=cli, environ=environ)
    document = read_toml(path)
    origin, table = select_worker_manager(document, selected.name, path)
    if "scheduler_address" not in cli:
        table = with_scheduler_address_of_the_file(document, table, path)
    return selected, resolve_config(config_class, cli=cli, toml=table, origin=origin, environ=environ)


def with_scheduler_address_of_the_file(document: Mapping[str, Any], table: dict[str, Any], path: str) -> dict[str, Any]:
    """An entry without ``scheduler_address`` connects to the ``[scheduler]`` of the same file (as with scaler)."""
    if {"scheduler_address", "scheduler-address"} & table.keys() or not isinstance(document.get("scheduler"), dict):
        return table
    from scaler.cli.launch_plan import scheduler_address_for_managers

    scheduler = resolve_config(SchedulerConfig, toml=document["scheduler"], origin=f"{path}: [scheduler]", environ={})
    return {"scheduler_address": scheduler_address_for_managers(scheduler), **table}


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        entry, config = load_worker_manager_config(arguments, os.environ)
    except ConfigError as error:
        fail(PROG, str(error))
    assert entry.run_function_path is not None  # only available types get this far
    start(PROG, config, entry.run_function_path)


if __name__ == "__main__":
    main()
