"""``python -m scaler.scheduler '<SchedulerOptions as JSON>'``: how combos start a scheduler (no CLI parsing)."""

import logging
import sys

import msgspec

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.scheduler.server import SchedulerOptions, serve

if __name__ == "__main__":
    exit_with_parent_from_env()
    options = msgspec.json.decode(sys.argv[1], type=SchedulerOptions)
    level = sys.argv[2] if len(sys.argv) > 2 else "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s scaler[%(process)d]: %(message)s")
    serve(options)
