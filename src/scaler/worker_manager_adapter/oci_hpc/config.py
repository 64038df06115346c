"""``[[worker_manager]] type = "oci_hpc"``: the container-instance options plus the job relay and its limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

from scaler.config.checks import at_least, greater_than, non_empty
from scaler.config.options import option
from scaler.worker_manager_adapter.job_proxy.options import refused_with
from scaler.worker_manager_adapter.oci_common.config import OciContainerInstanceConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class OciHpcConfig(OciContainerInstanceConfig):
    """Run each task in its own OCI Container Instance, relaying payloads and results through Object Storage."""

    options_title: ClassVar[str] = "oci_hpc options"
    refused_options: ClassVar[Mapping[str, str]] = refused_with(
        max_task_concurrency="use -bc/--base-concurrency, the most container instances at once",
        task_timeout_seconds="use --job-timeout-seconds, which bounds each task's container instance",
    )

    object_storage_namespace: str = option(
        env="OCI_OBJECT_STORAGE_NAMESPACE", check=non_empty, help="OCI Object Storage namespace of the tenancy"
    )
    object_storage_bucket: str = option(
        env="OCI_OBJECT_STORAGE_BUCKET", check=non_empty, help="bucket for task payloads and results"
    )
    object_storage_prefix: str = option("scaler-tasks", check=non_empty, help="key prefix of the task objects")
    base_concurrency: int = option(
        100, short="-bc", check=at_least(1), help="most container instances (running tasks) at once"
    )
    job_timeout_seconds: float = option(
        3600.0, check=greater_than(0), help="a task's instance running longer than this is deleted; the task fails"
    )
    job_poll_interval_seconds: float = option(
        2.0, check=greater_than(0), help="how often instance states are listed to find finished tasks"
    )
    instance_ocpus: float = option(1.0, check=greater_than(0), help="OCPUs per container instance (one task)")
    instance_memory_gb: float = option(6.0, check=greater_than(0), help="memory in GB per container instance")
