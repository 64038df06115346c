"""``scaler_worker_manager aws_raw_ecs``: the shared convergence runner over Fargate tasks."""

from __future__ import annotations

import os
import re

from scaler.security.credentials import remote_worker_environment
from scaler.worker_manager_adapter.aws_common.sdk import MissingExtraError
from scaler.worker_manager_adapter.aws_raw_ecs.config import AwsRawEcsConfig
from scaler.worker_manager_adapter.aws_raw_ecs.provisioner import EcsProvisioner
from scaler.worker_manager_adapter.runner import run_manager
from scaler.worker_manager_adapter.worker_launch import manager_id_of, unit_worker_command

WORKER_TYPE = "ECS"


def run_aws_raw_ecs(config: AwsRawEcsConfig) -> None:
    try:
        from scaler.worker_manager_adapter.aws_raw_ecs.gateway import EcsGateway, TaskLaunch

        gateway = EcsGateway(config.aws_region, config.aws_access_key_id, config.aws_secret_access_key)
    except MissingExtraError as error:
        raise SystemExit(f"scaler_worker_manager: error: {error}") from None
    manager_id = manager_id_of(config, WORKER_TYPE)
    try:
        gateway.ensure_cluster(config.ecs_cluster)
        role_arn = gateway.ensure_execution_role()
        definition = gateway.ensure_task_definition(
            config.ecs_task_definition, config.ecs_task_image, config.ecs_task_cpu, config.ecs_task_memory, role_arn
        )
        groups = config.security_groups or gateway.default_security_groups(config.subnets)
    except Exception as error:  # credentials, permissions, unknown subnets: one clear line, no traceback
        raise SystemExit(
            f"scaler_worker_manager: error: could not prepare ECS in {config.aws_region}: {error}"
        ) from None
    launch = TaskLaunch(
        cluster=config.ecs_cluster,
        task_definition=definition,
        subnets=config.subnets,
        security_groups=groups,
        environment={
            "COMMAND": unit_worker_command(config, manager_id, config.ecs_task_cpu, WORKER_TYPE),
            "PYTHON_REQUIREMENTS": config.ecs_python_requirements,
            "PYTHON_VERSION": config.ecs_python_version,
            **remote_worker_environment(),  # the workers' credentials: in the environment, never in COMMAND
        },
        started_by=_started_by(manager_id),
    )
    provisioner = EcsProvisioner(gateway, launch, config.ecs_task_cpu, config.ecs_status_interval_seconds)
    raise SystemExit(run_manager(config, manager_id, provisioner))


def _started_by(manager_id: str) -> str:
    # ECS allows 36 letters, digits, hyphens and underscores; the pid keeps two managers with one id apart.
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"scaler-{os.getpid()}-{manager_id}")[:36]
