"""``[[worker_manager]]`` with ``type = "aws_hpc"``."""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar, Literal

from scaler.config.checks import greater_than, non_empty
from scaler.config.options import option
from scaler.config.sections.worker_manager import WorkerManagerConfig
from scaler.worker_manager_adapter.job_proxy.options import refused_with


@dataclasses.dataclass(frozen=True, kw_only=True)
class AwsHpcConfig(WorkerManagerConfig):
    """Connect to the scheduler as one worker and run each task as an AWS Batch job, at most
    max_concurrent_jobs at a time. Job payloads and results travel through the S3 bucket."""

    options_title: ClassVar[str] = "aws_hpc options"
    refused_options: ClassVar[Mapping[str, str]] = refused_with(
        max_task_concurrency="use -mcj/--max-concurrent-jobs, the most AWS Batch jobs at once",
        task_timeout_seconds="use --job-timeout-minutes, which AWS Batch enforces on each job",
    )

    job_queue: str = option(short="-q", check=non_empty, help="AWS Batch job queue name")
    job_definition: str = option(
        short="-d", check=non_empty, help="AWS Batch job definition (name or name:revision) that runs the job runner"
    )
    s3_bucket: str = option(check=non_empty, help="S3 bucket for job payloads and results")
    backend: Literal["batch"] = option("batch", short="-b", help="the AWS HPC service that runs the jobs")
    name: str | None = option(
        None, short="-n", check=non_empty, help="worker name prefix; by default aws-<backend>-worker"
    )
    aws_region: str = option("us-east-1", env="AWS_REGION", check=non_empty, help="AWS region")
    s3_prefix: str = option("scaler-tasks", check=non_empty, help="S3 key prefix for job payloads and results")
    max_concurrent_jobs: int = option(
        100, short="-mcj", check=greater_than(0), help="most AWS Batch jobs running at once"
    )
    job_timeout_minutes: float = option(
        60.0, check=greater_than(0), help="a job running longer than this is terminated and its task fails"
    )
    poll_interval_seconds: float = option(
        2.0, check=greater_than(0), help="interval between job status checks (one DescribeJobs per 100 jobs)"
    )

    @property
    def worker_name(self) -> str:
        return self.name or f"aws-{self.backend}-worker"
