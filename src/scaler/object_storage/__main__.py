"""``python -m scaler.object_storage ADDRESS [LOGGING_LEVEL [MAX_BYTES_PER_OWNER]]``: the server a scheduler or a
combo starts for itself. With ``SCALER_READY_FD`` set, it reports on that pipe whether it could bind."""

import os
import sys

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.io.logs import FatalError, basic_logging
from scaler.object_storage.server import serve

READY_FD_ENV = "SCALER_READY_FD"


def run(argv: list[str]) -> int:
    """The process's whole life, from its arguments (without the program name) to its exit status."""
    if len(argv) not in (1, 2, 3):
        print(
            "usage: python -m scaler.object_storage tcp://HOST:PORT [LOGGING_LEVEL [MAX_BYTES_PER_OWNER]]",
            file=sys.stderr,
        )
        return 1
    basic_logging(argv[1] if len(argv) >= 2 else "INFO")
    ready_fd = os.environ.pop(READY_FD_ENV, "")
    quota = int(argv[2]) if len(argv) == 3 else 0
    try:
        serve(argv[0], quota, int(ready_fd) if ready_fd.isdigit() else None)
    except FatalError as error:  # e.g. the port is taken: one line, no traceback
        print(f"object storage server: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_with_parent_from_env()
    sys.exit(run(sys.argv[1:]))
