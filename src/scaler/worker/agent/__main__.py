"""``python -m scaler.worker.agent '<WorkerOptions as JSON>'``: how managers and combos start a worker.

The processor is started first thing, before the agent imports its own heavier dependencies (zmq, psutil):
both processes then pay their start-up cost in parallel, which shortens the time to a worker's first task.
"""

import sys

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.worker.agent.options import WorkerOptions
from scaler.worker.agent.processors import ProcessorHandle


def run(argv: list[str]) -> int:
    """The process's whole life, from its arguments (without the program name) to its exit status."""
    options = WorkerOptions.from_json(argv[0])
    first_processor = ProcessorHandle(options)

    from scaler.config.log_setup import setup_logging
    from scaler.worker.agent.agent import run_worker

    # Where the manager that started this worker logs (its -lp/-lcf), at its level.
    setup_logging(options.logging_level, options.logging_paths, options.logging_config_file)
    return run_worker(options, first_processor)


if __name__ == "__main__":
    exit_with_parent_from_env()
    sys.exit(run(sys.argv[1:]))
