"""Run the stand-in by hand, to try the documents' commands with no tenancy:

    python -m tests.worker_manager_adapter.oci_standin --port 9555 --folder /tmp/oci-standin --bucket scaler-tasks

It prints what to export (the endpoint override and an OCI config file it trusts) and the image names it can
"run" (the oci_raw worker image and the oci_hpc job runner image, as local processes). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from tests.worker_manager_adapter.oci_standin.standin import (
    AVAILABILITY_DOMAIN,
    COMPARTMENT_ID,
    NAMESPACE,
    SUBNET_ID,
    StandIn,
    standin_images,
)


def main() -> None:
    parser = argparse.ArgumentParser(description="A local stand-in of the OCI APIs the scaler OCI managers call.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=Path("oci-standin"))
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket (repeatable)")
    args = parser.parse_args()
    with StandIn(args.folder, images=standin_images(), port=args.port) as standin:
        for bucket in args.bucket:
            standin.create_bucket(bucket)
        config = standin.write_oci_config(args.folder / "oci")
        print(f"export SCALER_OCI_ENDPOINT={standin.endpoint}")
        print(f"export OCI_CONFIG_FILE={config}")
        print(f"compartment {COMPARTMENT_ID}\nsubnet {SUBNET_ID}\navailability domain {AVAILABILITY_DOMAIN}")
        print(f"namespace {NAMESPACE}")
        for image in standin.runtime.images:
            print(f"image {image}")
        print(f"container logs in {standin.runtime.log_dir}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()


if __name__ == "__main__":
    main()
