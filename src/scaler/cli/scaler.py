"""``scaler CONFIG.toml`` (or ``scaler --config CONFIG.toml``): start a whole stack from one TOML file.

Recognized sections, in start order: ``[object_storage_server]``, ``[scheduler]``, each ``[[worker_manager]]``
entry (dispatched on its ``type``), ``[gui]``, ``[top]``; each runs in its own process (see ``launch_plan``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from scaler.cli._entry import fail
from scaler.cli.launch_plan import STARTED_SECTIONS, plan_launch, section_header
from scaler.cli.supervisor import supervise
from scaler.config import ConfigError, read_toml, setup_logging
from scaler.config.parser import add_version_argument
from scaler.security.launcher import with_ephemeral_credentials
from scaler.security.runtime import withdraw

PROG = "scaler"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start a whole scaler stack from one TOML file, each section in its own process.",
        epilog="Every section is validated before anything starts. A process that exits is reported and the others "
        "keep running, unless it is the scheduler (or its object storage server): then, and on SIGINT/SIGTERM, "
        "all are stopped in reverse start order.",
        allow_abbrev=False,
    )
    sections = ", ".join(section_header(name) for name in STARTED_SECTIONS)
    parser.add_argument("config", metavar="CONFIG.toml", nargs="?", help=f"TOML file with {sections}")
    # Every command takes -c/--config; for scaler it is the same file as the positional argument.
    parser.add_argument("-c", "--config", dest="config_option", metavar="CONFIG.toml", help="the same, as an option")
    add_version_argument(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.config is not None and arguments.config_option is not None:
        parser.error("give the TOML file once: either as CONFIG.toml or with -c/--config")
    path = arguments.config if arguments.config is not None else arguments.config_option
    if path is None:
        parser.error("a TOML file is required: scaler CONFIG.toml (or scaler --config CONFIG.toml)")
    setup_logging("INFO", ("/dev/stdout",), None)  # before planning: an unknown section is logged as a warning
    try:
        document = read_toml(path)
        steps = plan_launch(document, path)
    except ConfigError as error:
        fail(PROG, str(error))
    steps, published = with_ephemeral_credentials(steps, document, path)
    try:
        raise SystemExit(supervise(steps))
    finally:
        withdraw(published)


if __name__ == "__main__":
    main()
