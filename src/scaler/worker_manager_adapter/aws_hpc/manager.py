"""``scaler_worker_manager aws_hpc``: one job-proxy worker whose jobs are AWS Batch jobs."""

from __future__ import annotations

import math

from scaler.worker_manager_adapter.aws_common.sdk import MissingExtraError
from scaler.worker_manager_adapter.aws_hpc.backend import BatchBackend, BatchJobSpec
from scaler.worker_manager_adapter.aws_hpc.config import AwsHpcConfig
from scaler.worker_manager_adapter.job_proxy.proxy_worker import JobProxySettings, run_job_proxy
from scaler.worker_manager_adapter.worker_launch import manager_id_of

BATCH_MINIMUM_TIMEOUT_SECONDS = 60  # AWS Batch refuses a shorter attemptDurationSeconds


def run_aws_hpc(config: AwsHpcConfig) -> None:
    try:
        from scaler.worker_manager_adapter.aws_hpc.gateway import BatchGateway

        gateway = BatchGateway(config.aws_region, config.s3_bucket)
    except MissingExtraError as error:
        raise SystemExit(f"scaler_worker_manager: error: {error}") from None
    timeout_seconds = config.job_timeout_minutes * 60
    spec = BatchJobSpec(
        job_queue=config.job_queue,
        job_definition=config.job_definition,
        s3_prefix=config.s3_prefix.strip("/"),
        timeout_seconds=max(BATCH_MINIMUM_TIMEOUT_SECONDS, math.ceil(timeout_seconds)),
    )
    manager_id = manager_id_of(config, config.worker_name)
    settings = JobProxySettings.from_config(
        config,
        manager_id=manager_id,
        worker_prefix=config.worker_name,
        max_concurrent_jobs=config.max_concurrent_jobs,
        job_timeout_seconds=timeout_seconds,
        poll_interval_seconds=min(0.2, config.poll_interval_seconds),  # cheap: the backend's threads do the AWS calls
    )
    raise SystemExit(run_job_proxy(settings, BatchBackend(gateway, spec, config.poll_interval_seconds)))
