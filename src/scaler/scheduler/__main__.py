"""``python -m scaler.scheduler '<SchedulerOptions as JSON>' [LOGGING_LEVEL]``: how combos start a scheduler (no
CLI parsing)."""

import dataclasses
import sys

import msgspec

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.io.logs import basic_logging
from scaler.scheduler.server import SchedulerOptions, serve
from scaler.security.local import environment_server_credentials


def run(argv: list[str]) -> int:
    """The process's whole life, from its arguments (without the program name) to its exit status."""
    options = msgspec.json.decode(argv[0], type=SchedulerOptions)
    if options.credentials is None:  # a secret travels in the environment, never on a command line
        options = dataclasses.replace(options, credentials=environment_server_credentials())
    basic_logging(argv[1] if len(argv) > 1 else "INFO")
    serve(options)
    return 0


if __name__ == "__main__":
    exit_with_parent_from_env()
    sys.exit(run(sys.argv[1:]))
