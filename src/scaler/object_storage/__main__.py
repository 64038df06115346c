"""``python -m scaler.object_storage ADDRESS [LOGGING_LEVEL [MAX_BYTES_PER_OWNER]]``: the server a scheduler or a
combo starts for itself. With ``SCALER_READY_FD`` set, it reports on that pipe whether it could bind."""

import os
import sys

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.io.logs import FatalError, basic_logging
from scaler.object_storage.server import serve

READY_FD_ENV = "SCALER_READY_FD"

if __name__ == "__main__":
    exit_with_parent_from_env()
    if len(sys.argv) not in (2, 3, 4):
        sys.exit("usage: python -m scaler.object_storage tcp://HOST:PORT [LOGGING_LEVEL [MAX_BYTES_PER_OWNER]]")
    basic_logging(sys.argv[2] if len(sys.argv) >= 3 else "INFO")
    ready_fd = os.environ.pop(READY_FD_ENV, "")
    quota = int(sys.argv[3]) if len(sys.argv) == 4 else 0
    try:
        serve(sys.argv[1], quota, int(ready_fd) if ready_fd.isdigit() else None)
    except FatalError as error:  # e.g. the port is taken: one line, no traceback
        sys.exit(f"object storage server: {error}")
