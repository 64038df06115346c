"""``scaler CONFIG.toml``: start a whole stack from one TOML file, each section in its own process.

Recognized sections, in start order: ``[object_storage_server]``, ``[scheduler]``, each ``[[worker_manager]]``
entry (dispatched on its ``type``), ``[gui]``. ``[top]`` is validated but not started (see ``launch_plan``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from scaler.cli._entry import fail
from scaler.cli.launch_plan import STARTED_SECTIONS, plan_launch, section_header
from scaler.cli.supervisor import supervise
from scaler.config import ConfigError, read_toml, setup_logging
from scaler.security.launcher import with_ephemeral_credentials
from scaler.security.runtime import withdraw

PROG = "scaler"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start a whole scaler stack from one TOML file, each section in its own process.",
        epilog="Every section is validated before anything starts. When one process exits, or on SIGINT/SIGTERM, "
        "all are stopped in reverse start order.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "config",
        metavar="CONFIG.toml",
        help=f"TOML file with {', '.join(section_header(name) for name in STARTED_SECTIONS)}",
    )
    path = parser.parse_args(argv).config
    try:
        document = read_toml(path)
        steps = plan_launch(document, path)
    except ConfigError as error:
        fail(PROG, str(error))
    setup_logging("INFO", ("/dev/stdout",), None)
    steps, published = with_ephemeral_credentials(steps, document, path)
    try:
        raise SystemExit(supervise(steps))
    finally:
        withdraw(published)


if __name__ == "__main__":
    main()
