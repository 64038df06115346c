"""``python -m scaler``: say which commands this package installs (it is a library; the commands do the work)."""

from __future__ import annotations

import sys

from scaler.version import __version__

COMMANDS = (
    ("scaler", "start a whole stack (scheduler, worker managers, monitors) from one TOML file"),
    ("scaler_scheduler", "start a scheduler (and its object storage server)"),
    ("scaler_worker_manager", "start one worker manager of a given type"),
    ("scaler_object_storage_server", "start an object storage server"),
    ("scaler_top", "watch a scheduler in the terminal"),
    ("scaler_gui", "watch a scheduler in a web browser"),
)


def usage() -> str:
    width = max(len(name) for name, _ in COMMANDS)
    lines = [f"scaler {__version__}: distributed task execution for Python.", "", "Commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, summary in COMMANDS]
    lines += ["", "Run any of them with --help for its options; in Python: from scaler import Client."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments in (["--version"], ["-V"]):
        print(f"scaler {__version__}")
        return 0
    print(usage())
    return 0 if arguments in ([], ["-h"], ["--help"]) else 2


if __name__ == "__main__":
    sys.exit(main())
