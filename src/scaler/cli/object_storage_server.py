"""``scaler_object_storage_server [options] [object_storage_address]``: run an object storage server.

With --config it reads ``[object_storage_server]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from scaler.cli._entry import load_or_fail, start
from scaler.config import ObjectStorageServerConfig

PROG = "scaler_object_storage_server"


def main(argv: Sequence[str] | None = None) -> None:
    config = load_or_fail(ObjectStorageServerConfig, argv, PROG)
    start(PROG, config, "scaler.object_storage.server:run_object_storage_server")


if __name__ == "__main__":
    main()
