"""``python -m scaler.worker.agent '<WorkerOptions as JSON>'``: how managers and combos start a worker.

The first processor is started first thing, before the agent imports its own heavier dependencies (zmq, psutil)
and starts any thread: in a fresh interpreter, as a fork of this one (no interpreter start, its modules imported
once); in a combo's forked agent (which carries the user's process's state), as a fresh interpreter of its own.
"""

import sys

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.worker.agent.options import WorkerOptions
from scaler.worker.agent.processors import ProcessorHandle


def run(argv: list[str], fresh_interpreter: bool = False) -> int:
    """The process's whole life, from its arguments (without the program name) to its exit status."""
    options = WorkerOptions.from_json(argv[0])
    first_processor = ProcessorHandle(options, fork=fresh_interpreter)

    from scaler.config.log_setup import setup_logging
    from scaler.worker.agent.agent import run_worker

    # Where the manager that started this worker logs (its -lp/-lcf), at its level.
    setup_logging(options.logging_level, options.logging_paths, options.logging_config_file)
    return run_worker(options, first_processor)


if __name__ == "__main__":
    exit_with_parent_from_env()
    sys.exit(run(sys.argv[1:], fresh_interpreter=True))
