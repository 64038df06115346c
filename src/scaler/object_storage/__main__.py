"""``python -m scaler.object_storage ADDRESS [LOGGING_LEVEL]``: the server a scheduler or a combo starts for itself."""

import sys

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.io.logs import basic_logging
from scaler.object_storage.server import serve

if __name__ == "__main__":
    exit_with_parent_from_env()
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m scaler.object_storage tcp://HOST:PORT [LOGGING_LEVEL]")
    basic_logging(sys.argv[2] if len(sys.argv) == 3 else "INFO")
    serve(sys.argv[1])
