"""``python -m scaler.scheduler '<SchedulerOptions as JSON>'``: how combos start a scheduler (no CLI parsing)."""

import dataclasses
import sys

import msgspec

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.io.logs import basic_logging
from scaler.scheduler.server import SchedulerOptions, serve
from scaler.security.local import environment_server_credentials

if __name__ == "__main__":
    exit_with_parent_from_env()
    options = msgspec.json.decode(sys.argv[1], type=SchedulerOptions)
    if options.credentials is None:  # a secret travels in the environment, never on a command line
        options = dataclasses.replace(options, credentials=environment_server_credentials())
    level = sys.argv[2] if len(sys.argv) > 2 else "INFO"
    basic_logging(level)
    serve(options)
