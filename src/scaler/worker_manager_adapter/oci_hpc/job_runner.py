"""The oci_hpc job runner: what each task's container instance runs (the job runner image's entrypoint).

    python -m scaler.worker_manager_adapter.oci_hpc.job_runner

It authenticates with the instance's Resource Principal (no credentials in the image), downloads the payload
object, runs it (``job_proxy.payload.run_payload``: the task's result, or its exception with the traceback) and
uploads the outcome as the result object. Its interface is the environment the oci_hpc manager sets:

    SCALER_JOB_NAMESPACE, SCALER_JOB_BUCKET       where the objects are
    SCALER_JOB_PAYLOAD_OBJECT                     the payload to run
    SCALER_JOB_RESULT_OBJECT                      where to write the outcome
    SCALER_OCI_OBJECT_STORAGE_ENDPOINT            (optional) the Object Storage endpoint override
    OCI_RESOURCE_PRINCIPAL_*                      set by OCI in every container instance

A task's own exception is part of its outcome, so the runner exits 0 for it. A non-zero exit means the runner
itself could not read the payload or write the outcome; the manager then finds no result object and says so.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from scaler.worker_manager_adapter.job_proxy.payload import run_payload
from scaler.worker_manager_adapter.oci_common.models import OciConnection, OciError, OciSetupError

T = TypeVar("T")
ATTEMPTS = 5

EXIT_BAD_ENVIRONMENT = 2
EXIT_NO_PAYLOAD = 3
EXIT_STORAGE_FAILED = 4


def main() -> int:
    try:
        namespace, bucket, payload_name, result_name = (
            os.environ[name]
            for name in ("SCALER_JOB_NAMESPACE", "SCALER_JOB_BUCKET", "SCALER_JOB_PAYLOAD_OBJECT",
                         "SCALER_JOB_RESULT_OBJECT")
        )  # fmt: skip
    except KeyError as missing:
        print(f"job runner: environment variable {missing} is not set", file=sys.stderr)
        return EXIT_BAD_ENVIRONMENT
    from scaler.worker_manager_adapter.oci_common.gateway import OciGateway

    connection = OciConnection(
        region=os.environ.get("OCI_RESOURCE_PRINCIPAL_REGION", ""),
        auth_type="resource_principal",
        endpoint=os.environ.get("SCALER_OCI_OBJECT_STORAGE_ENDPOINT") or None,
    )
    try:
        gateway = OciGateway.connect(connection)
        payload = _retrying(lambda: gateway.get_object(namespace, bucket, payload_name))
        if payload is None:
            print(f"job runner: payload object oci://{namespace}/{bucket}/{payload_name} not found", file=sys.stderr)
            return EXIT_NO_PAYLOAD
        output = run_payload(payload)
        _retrying(lambda: gateway.put_object(namespace, bucket, result_name, output))
    except (OciError, OciSetupError) as error:
        print(f"job runner: {error}", file=sys.stderr)
        return EXIT_STORAGE_FAILED
    return 0


def _retrying(call: Callable[[], T]) -> T:
    for attempt in range(ATTEMPTS):
        try:
            return call()
        except OciError as error:
            if not error.transient or attempt == ATTEMPTS - 1:
                raise
            time.sleep(min(10.0, 2.0**attempt))
    raise AssertionError("unreachable")


if __name__ == "__main__":
    sys.exit(main())
