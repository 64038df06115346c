"""``python -m scaler.object_storage ADDRESS``: the object storage server the scheduler starts for itself."""

import sys

from scaler.io.lifetime import exit_with_parent_from_env
from scaler.io.logs import basic_logging
from scaler.object_storage.server import serve

if __name__ == "__main__":
    exit_with_parent_from_env()
    if len(sys.argv) != 2:
        sys.exit("usage: python -m scaler.object_storage tcp://HOST:PORT")
    basic_logging("INFO")
    serve(sys.argv[1])
