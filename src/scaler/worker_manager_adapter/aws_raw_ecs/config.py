"""``[[worker_manager]]`` with ``type = "aws_raw_ecs"``."""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).

from __future__ import annotations

import dataclasses
from typing import ClassVar

from scaler.config.checks import at_least, greater_than, non_empty
from scaler.config.errors import ConfigError
from scaler.config.options import option
from scaler.config.sections.worker_manager import WorkerManagerConfig

DEFAULT_IMAGE = "scaler-ecs-worker:latest"  # the tag the Dockerfile's documented build command gives
OTHER_SCALER_IMAGE = "public.ecr.aws/v4u8j8r6/scaler"  # the documents' default: another project's Scaler


def _not_the_other_scaler(value: str) -> str | None:
    if value.split(":", 1)[0] == OTHER_SCALER_IMAGE:
        return (
            "is another project's Scaler image, whose workers cannot talk to this scheduler; build this project's "
            "image (aws_raw_ecs/utility/Dockerfile.ecs_worker) and give its URI"
        )
    return None


def _comma_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _has_items(value: str) -> str | None:
    return None if _comma_list(value) else "must name at least one item (comma-separated)"


@dataclasses.dataclass(frozen=True, kw_only=True)
class AwsRawEcsConfig(WorkerManagerConfig):
    """Start Fargate tasks, each running ecs_task_cpu workers that connect back to the scheduler, as many as the
    scheduler's scaling policy asks for; stop every task it started when it exits."""

    options_title: ClassVar[str] = "aws_raw_ecs options"

    max_task_concurrency: int = option(
        -1, short="-mtc", check=at_least(-1), help="most workers across all tasks; -1: no limit"
    )
    aws_access_key_id: str | None = option(
        None, check=non_empty, help="AWS access key id; by default the usual AWS credential chain (environment, files)"
    )
    aws_secret_access_key: str | None = option(
        None, check=non_empty, help="AWS secret access key; by default the usual AWS credential chain"
    )
    aws_region: str = option("us-east-1", env="AWS_REGION", check=non_empty, help="AWS region")
    ecs_subnets: str = option(check=_has_items, help="comma-separated subnet ids for the tasks' network interfaces")
    ecs_security_groups: str = option(
        "", help="comma-separated security group ids for the tasks; by default the default group of the subnets' VPC"
    )
    ecs_cluster: str = option("scaler-cluster", check=non_empty, help="ECS cluster (created when missing)")
    ecs_task_image: str = option(
        DEFAULT_IMAGE,
        check=(non_empty, _not_the_other_scaler),
        help="container image that runs the workers: build it from aws_raw_ecs/utility/Dockerfile.ecs_worker, "
        "push it to a registry ECS can pull from (e.g. ECR), and give its URI here",
    )
    ecs_python_requirements: str = option(
        "tomli;pargraph;parfun;pandas",
        help="Python requirements the container installs before starting (';'-separated)",
    )
    ecs_python_version: str = option("3.12.11", check=non_empty, help="Python version the container uses")
    ecs_task_definition: str = option(
        "scaler-task-definition", check=non_empty, help="ECS task definition family (registered when missing)"
    )
    ecs_task_cpu: int = option(4, check=greater_than(0), help="vCPUs per task, which is also the workers per task")
    ecs_task_memory: int = option(30, check=greater_than(0), help="memory per task in GB")
    ecs_status_interval_seconds: float = option(
        5.0, check=greater_than(0), help="interval between checks for tasks that stopped by themselves"
    )

    @property
    def subnets(self) -> tuple[str, ...]:
        return _comma_list(self.ecs_subnets)

    @property
    def security_groups(self) -> tuple[str, ...]:
        return _comma_list(self.ecs_security_groups)

    def check_consistency(self) -> None:
        super().check_consistency()
        if 0 <= self.max_task_concurrency < self.ecs_task_cpu:
            raise ConfigError(
                f"max_task_concurrency ({self.max_task_concurrency}) is below ecs_task_cpu ({self.ecs_task_cpu}), "
                f"the workers of one task, so no task could ever start; use -1 or at least {self.ecs_task_cpu}"
            )
