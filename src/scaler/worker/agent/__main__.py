"""``python -m scaler.worker.agent '<WorkerOptions as JSON>'``: how managers and combos start a worker.

The processor is started first thing, before the agent imports its own heavier dependencies (zmq, psutil):
both processes then pay their start-up cost in parallel, which shortens the time to a worker's first task.
"""

import sys

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.worker.agent.options import WorkerOptions
from scaler.worker.agent.processors import ProcessorHandle

if __name__ == "__main__":
    exit_with_parent_from_env()
    options = WorkerOptions.from_json(sys.argv[1])
    first_processor = ProcessorHandle(options)

    from scaler.config.log_setup import setup_logging
    from scaler.worker.agent.agent import run_worker

    # Where the manager that started this worker logs (its -lp/-lcf), at its level.
    setup_logging(options.logging_level, options.logging_paths, options.logging_config_file)
    sys.exit(run_worker(options, first_processor))
