"""Jobs as AWS Batch jobs: the JobBackend of the aws_hpc worker manager.

Every AWS call runs in the backend's own small thread pool, so the proxy's event loop never waits on AWS:
``submit`` and ``cancel`` only queue work, and ``poll`` hands over what the threads found and, once per poll
interval, starts one DescribeJobs sweep over the jobs in flight.

Payloads are gzipped over 4 KiB; one that is still over 28 KiB (base64) goes to S3 instead of into the job's
environment, which Batch caps at 30 KiB per request. The job runner writes its outcome to S3 (gzipped over
4 KiB); the backend reads it once the job SUCCEEDED and deletes it and the payload object.
"""

from __future__ import annotations

import base64
import gzip
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from scaler.worker_manager_adapter.aws_hpc.gateway import BatchJobStatus
from scaler.worker_manager_adapter.job_proxy.backend import JobOutcome
from scaler.worker_manager_adapter.sdk_calls import SdkCallPool

logger = logging.getLogger("scaler.aws_hpc")

COMPRESS_OVER_BYTES = 4 * 1024
INLINE_LIMIT_BYTES = 28 * 1024
GZIP_MAGIC = b"\x1f\x8b"  # a job payload or outcome is a pickle (b"\x80..."), so the two cannot be confused
CANCEL_REASON = "cancelled by scaler"

# The job runner's interface (see job_runner.py).
ENV_BUCKET = "SCALER_JOB_BUCKET"
ENV_PAYLOAD = "SCALER_JOB_PAYLOAD"
ENV_INPUT_KEY = "SCALER_JOB_INPUT_KEY"
ENV_RESULT_KEY = "SCALER_JOB_RESULT_KEY"


class BatchApi(Protocol):
    bucket: str

    def submit_job(
        self, name: str, queue: str, definition: str, environment: dict[str, str], timeout_seconds: int
    ) -> str: ...

    def describe_jobs(self, job_ids: list[str]) -> list[BatchJobStatus]: ...

    def terminate_job(self, job_id: str, reason: str) -> None: ...

    def put_object(self, key: str, data: bytes) -> None: ...

    def get_object(self, key: str) -> bytes | None: ...

    def delete_objects(self, keys: list[str]) -> None: ...


@dataclass(frozen=True)
class BatchJobSpec:
    job_queue: str
    job_definition: str
    s3_prefix: str
    timeout_seconds: int  # Batch's own attempt timeout (at least 60 s); the proxy enforces the exact one


@dataclass
class _Job:
    key: str
    result_key: str
    input_key: str | None = None
    job_id: str | None = None
    cancelled: bool = False


class BatchBackend:
    def __init__(self, api: BatchApi, spec: BatchJobSpec, poll_interval_seconds: float, threads: int = 4) -> None:
        self._api = api
        self._spec = spec
        self._poll_interval = poll_interval_seconds
        self._pool = SdkCallPool("aws-batch", logger, threads=threads)
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}  # job key -> job, until it ends or is cancelled
        self._outcomes: list[JobOutcome] = []
        self._sweeping = False
        self._next_sweep = 0.0

    # --- JobBackend --------------------------------------------------------------------------------------------

    def submit(self, job_key: str, payload: bytes) -> None:
        job = _Job(job_key, f"{self._spec.s3_prefix}/results/{job_key}.pkl")
        with self._lock:
            self._jobs[job_key] = job
        self._in_thread(self._submit, job, payload)

    def poll(self) -> list[JobOutcome]:
        now = time.monotonic()
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
            in_flight = {job.job_id: job for job in self._jobs.values() if job.job_id is not None}
            sweep = bool(in_flight) and not self._sweeping and now >= self._next_sweep
            if sweep:
                self._sweeping = True
                self._next_sweep = now + self._poll_interval
        if sweep:
            self._in_thread(self._sweep, in_flight)
        return outcomes

    def cancel(self, job_key: str) -> None:
        with self._lock:
            job = self._jobs.pop(job_key, None)
            if job is None:
                return
            job.cancelled = True
            submitted = job.job_id is not None
        if submitted:  # otherwise _submit terminates it as soon as Batch has given it an id
            self._in_thread(self._terminate, job)

    def close(self) -> None:
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
            for job in jobs:
                job.cancelled = True
        for job in jobs:
            if job.job_id is not None:
                self._in_thread(self._terminate, job)
        self._pool.shutdown(wait=True)

    # --- in the pool's threads -----------------------------------------------------------------------------------

    def _in_thread(self, function: Callable[..., None], *args: Any) -> None:
        self._pool.spawn(function, *args)  # logged if it raises, paced if the service throttles

    def _submit(self, job: _Job, payload: bytes) -> None:
        data = gzip.compress(payload) if len(payload) > COMPRESS_OVER_BYTES else payload
        environment = {ENV_BUCKET: self._api.bucket, ENV_RESULT_KEY: job.result_key}
        encoded = base64.b64encode(data).decode()
        try:
            if len(encoded) <= INLINE_LIMIT_BYTES:
                environment[ENV_PAYLOAD] = encoded
            else:
                job.input_key = f"{self._spec.s3_prefix}/inputs/{job.key}.pkl"
                self._api.put_object(job.input_key, data)
                environment[ENV_INPUT_KEY] = job.input_key
            job_id = self._api.submit_job(
                f"scaler-{job.key}"[:128], self._spec.job_queue, self._spec.job_definition, environment,
                self._spec.timeout_seconds,
            )  # fmt: skip
        except Exception as error:
            self._delete(job.input_key)
            self._finish(job, f"could not submit the AWS Batch job: {error}")
            return
        with self._lock:
            job.job_id = job_id
            cancelled = job.cancelled
        logger.debug("task %s is AWS Batch job %s", job.key, job_id)
        if cancelled:
            self._terminate(job)

    def _sweep(self, in_flight: dict[str, _Job]) -> None:
        try:
            for status in self._api.describe_jobs(list(in_flight)):
                job = in_flight.get(status.job_id)
                if job is None:
                    continue
                if status.status == "SUCCEEDED":
                    self._collect(job)
                elif status.status == "FAILED":
                    self._delete(job.input_key, job.result_key)
                    self._finish(job, _failure_text(status))
        finally:
            with self._lock:
                self._sweeping = False

    def _collect(self, job: _Job) -> None:
        output = self._api.get_object(job.result_key)
        self._delete(job.input_key, job.result_key if output is not None else None)
        if output is None:
            self._finish(job, f"AWS Batch job {job.job_id} succeeded but wrote no result at {job.result_key}")
            return
        self._finish(job, "", gzip.decompress(output) if output.startswith(GZIP_MAGIC) else output)

    def _finish(self, job: _Job, error: str, output: bytes | None = None) -> None:
        with self._lock:
            if self._jobs.get(job.key) is not job:
                return  # cancelled meanwhile: no outcome is expected
            del self._jobs[job.key]
            self._outcomes.append(JobOutcome(job.key, output, error))

    def _terminate(self, job: _Job) -> None:
        assert job.job_id is not None
        self._api.terminate_job(job.job_id, CANCEL_REASON)
        self._delete(job.input_key, job.result_key)

    def _delete(self, *keys: str | None) -> None:
        present = [key for key in keys if key is not None]
        if present:
            self._api.delete_objects(present)


def _failure_text(status: BatchJobStatus) -> str:
    reason = status.reason or "no reason given"
    code = f", exit code {status.exit_code}" if status.exit_code is not None else ""
    return f"AWS Batch job {status.job_id} failed: {reason}{code}"
