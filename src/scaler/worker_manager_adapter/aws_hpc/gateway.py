"""The only module of the aws_hpc manager that calls boto3: AWS Batch jobs and the S3 objects they exchange."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scaler.worker_manager_adapter.aws_common.sdk import boto3_session

DESCRIBE_BATCH = 100  # DescribeJobs takes at most 100 ids


@dataclass(frozen=True)
class BatchJobStatus:
    job_id: str
    status: str  # SUBMITTED | PENDING | RUNNABLE | STARTING | RUNNING | SUCCEEDED | FAILED
    reason: str
    exit_code: int | None


class BatchGateway:
    """boto3 clients are thread-safe, so one gateway serves the backend's worker threads."""

    def __init__(self, region: str, bucket: str) -> None:
        session = boto3_session("aws_hpc", region)
        self._batch = session.client("batch")
        self._s3 = session.client("s3")
        self.bucket = bucket

    def submit_job(
        self, name: str, queue: str, definition: str, environment: dict[str, str], timeout_seconds: int
    ) -> str:
        response = self._batch.submit_job(
            jobName=name,
            jobQueue=queue,
            jobDefinition=definition,
            containerOverrides={"environment": [{"name": k, "value": v} for k, v in environment.items()]},
            timeout={"attemptDurationSeconds": timeout_seconds},
        )
        return str(response["jobId"])

    def describe_jobs(self, job_ids: Iterable[str]) -> list[BatchJobStatus]:
        ids = list(job_ids)
        statuses = []
        for start in range(0, len(ids), DESCRIBE_BATCH):
            for job in self._batch.describe_jobs(jobs=ids[start : start + DESCRIBE_BATCH])["jobs"]:
                statuses.append(
                    BatchJobStatus(job["jobId"], job["status"], job.get("statusReason", ""), _exit_code(job))
                )
        return statuses

    def terminate_job(self, job_id: str, reason: str) -> None:
        self._batch.terminate_job(jobId=job_id, reason=reason)

    def put_object(self, key: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get_object(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        try:
            body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        return body

    def delete_objects(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._s3.delete_object(Bucket=self.bucket, Key=key)


def _exit_code(job: dict[str, Any]) -> int | None:
    code = job.get("container", {}).get("exitCode")
    return int(code) if code is not None else None
