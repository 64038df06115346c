"""``[[worker_manager]]`` with ``type = "orb_aws_ec2"``."""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).

from __future__ import annotations

import dataclasses
from typing import ClassVar

from scaler.config.checks import at_least, greater_than, non_empty
from scaler.config.options import option
from scaler.config.sections.worker_manager import WorkerManagerConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrbAwsEc2Config(WorkerManagerConfig):
    """Request EC2 instances through ORB, each running one worker per vCPU that connects back to the scheduler,
    as many as the scheduler's scaling policy asks for; return every instance on exit."""

    options_title: ClassVar[str] = "orb_aws_ec2 options"

    max_task_concurrency: int = option(
        -1, short="-mtc", check=at_least(-1), help="most workers across all instances; -1: no limit"
    )
    image_id: str = option(check=non_empty, help="AMI of the worker instances (with scaler installed)")
    instance_type: str = option("t3.medium", check=non_empty, help="EC2 instance type; workers = its vCPUs")
    aws_region: str = option("us-east-1", env="AWS_REGION", check=non_empty, help="AWS region")
    aws_profile: str = option("default", check=non_empty, help="AWS profile whose credentials ORB uses")
    key_name: str | None = option(None, check=non_empty, help="EC2 key pair; a temporary one when omitted")
    subnet_id: str | None = option(
        None, check=non_empty, help="subnet of the instances; the default VPC's default subnet when omitted"
    )
    security_group_ids: str = option("", help="comma-separated security group ids; a temporary group when omitted")
    instance_tags: str = option("", help="extra instance tags, K=V,K2=V2")
    instance_profile: str | None = option(
        None,
        check=non_empty,
        help="IAM instance profile (name or ARN) of the instances; with --credentials, its role must be allowed "
        "secretsmanager:GetSecretValue on the workers' credentials secret",
    )
    worker_log_path: str = option(
        "/var/log/opengris-scaler.log", check=non_empty, help="where the workers on an instance write their log"
    )
    orb_poll_interval_seconds: float = option(
        2.0, check=greater_than(0), help="interval between checks of ORB requests and of the instances"
    )

    @property
    def security_groups(self) -> list[str]:
        return [part.strip() for part in self.security_group_ids.split(",") if part.strip()]

    @property
    def tags(self) -> dict[str, str]:
        pairs = [part.partition("=") for part in self.instance_tags.split(",") if part.strip()]
        return {key.strip(): value.strip() for key, _, value in pairs}
