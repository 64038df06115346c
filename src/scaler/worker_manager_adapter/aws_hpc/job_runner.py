"""The AWS Batch job runner: run one job payload and write its outcome to S3. Needs only boto3 and cloudpickle.

It is a standalone script (it never imports scaler): the job image holds it beside a copy of
``scaler/worker_manager_adapter/job_proxy/payload.py`` (see utility/Dockerfile.batch); in a source tree it
finds that file where it lives. Its interface is the environment the aws_hpc manager sets on each job:

    SCALER_JOB_BUCKET      the S3 bucket
    SCALER_JOB_PAYLOAD     the payload, base64 (gzipped when it starts with the gzip magic), or
    SCALER_JOB_INPUT_KEY   the S3 key of the payload when it was too big to travel inline
    SCALER_JOB_RESULT_KEY  where to write the outcome (gzipped when over 4 KiB)

The task's own exception is part of its outcome, so the runner exits 0 for it; a non-zero exit means the runner
itself could not read the payload or write the outcome, which the manager reports as a failed job.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

GZIP_MAGIC = b"\x1f\x8b"
COMPRESS_OVER_BYTES = 4 * 1024


def _load_run_payload() -> Callable[[bytes], bytes]:
    here = Path(__file__).resolve().parent
    for candidate in (here / "payload.py", here.parent / "job_proxy" / "payload.py"):
        if candidate.is_file():
            spec = importlib.util.spec_from_file_location("scaler_job_payload", candidate)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            run: Callable[[bytes], bytes] = module.run_payload
            return run
    raise SystemExit("job runner: payload.py is neither beside this script nor in scaler's job_proxy package")


def _unpack(data: bytes) -> bytes:
    return gzip.decompress(data) if data.startswith(GZIP_MAGIC) else data


def main() -> int:
    # botocore (boto3's core) alone: a job pays for its runner's start-up, and boto3's transfer layer is not needed
    import botocore.session

    s3: Any = botocore.session.get_session().create_client("s3")
    bucket = os.environ["SCALER_JOB_BUCKET"]
    inline = os.environ.get("SCALER_JOB_PAYLOAD")
    if inline is not None:
        payload = _unpack(base64.b64decode(inline))
    else:
        payload = _unpack(s3.get_object(Bucket=bucket, Key=os.environ["SCALER_JOB_INPUT_KEY"])["Body"].read())
    outcome = _load_run_payload()(payload)
    if len(outcome) > COMPRESS_OVER_BYTES:
        outcome = gzip.compress(outcome)
    s3.put_object(Bucket=bucket, Key=os.environ["SCALER_JOB_RESULT_KEY"], Body=outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
