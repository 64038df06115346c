"""The only module of the aws_raw_ecs manager that calls boto3: ECS, and the IAM and EC2 look-ups it needs."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scaler.worker_manager_adapter.aws_common.sdk import boto3_session

logger = logging.getLogger("scaler.aws_raw_ecs")

EXECUTION_ROLE = "ecsTaskExecutionRole"
EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
CONTAINER_NAME = "scaler-worker"
RUN_TASK_MAX = 10  # RunTask starts at most 10 tasks per call
DESCRIBE_MAX = 100  # DescribeTasks takes at most 100 tasks


@dataclass(frozen=True)
class EcsTaskStatus:
    arn: str
    last_status: str
    stopped_reason: str
    exit_code: int | None


@dataclass(frozen=True)
class TaskLaunch:
    """What every task of this manager runs with."""

    cluster: str
    task_definition: str
    subnets: Sequence[str]
    security_groups: Sequence[str]
    environment: dict[str, str]
    started_by: str


class EcsGateway:
    def __init__(self, region: str, access_key_id: str | None, secret_access_key: str | None) -> None:
        session = boto3_session("aws_raw_ecs", region, access_key_id, secret_access_key)
        self._ecs = session.client("ecs")
        self._iam = session.client("iam")
        self._ec2 = session.client("ec2")

    # --- set-up ----------------------------------------------------------------------------------------------

    def ensure_cluster(self, name: str) -> None:
        clusters = self._ecs.describe_clusters(clusters=[name])["clusters"]
        if not any(cluster["status"] == "ACTIVE" for cluster in clusters):
            logger.info("creating ECS cluster %s", name)
            self._ecs.create_cluster(clusterName=name)

    def ensure_execution_role(self) -> str:
        try:
            return str(self._iam.get_role(RoleName=EXECUTION_ROLE)["Role"]["Arn"])
        except self._iam.exceptions.NoSuchEntityException:
            pass
        logger.info("creating IAM role %s", EXECUTION_ROLE)
        statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}
        trust = {"Version": "2012-10-17", "Statement": [statement]}
        role = self._iam.create_role(RoleName=EXECUTION_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        self._iam.attach_role_policy(RoleName=EXECUTION_ROLE, PolicyArn=EXECUTION_POLICY)
        return str(role["Role"]["Arn"])

    def ensure_task_definition(self, family: str, image: str, cpu: int, memory_gb: int, role_arn: str) -> str:
        try:
            return str(self._ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["taskDefinitionArn"])
        except self._ecs.exceptions.ClientException:
            pass
        logger.info("registering ECS task definition %s", family)
        memory_mb = memory_gb * 1024
        definition = self._ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            cpu=str(cpu * 1024),
            memory=str(memory_mb),
            executionRoleArn=role_arn,
            # Container-level memory equal to the task's is what Fargate assumes anyway; set it explicitly.
            containerDefinitions=[{"name": CONTAINER_NAME, "image": image, "essential": True, "memory": memory_mb}],
        )
        return str(definition["taskDefinition"]["taskDefinitionArn"])

    def default_security_groups(self, subnets: Sequence[str]) -> list[str]:
        """The default security group of each VPC the subnets are in (what Fargate uses when none is given)."""
        vpcs = sorted({subnet["VpcId"] for subnet in self._ec2.describe_subnets(SubnetIds=list(subnets))["Subnets"]})
        groups = self._ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": vpcs}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        return [group["GroupId"] for group in groups]

    # --- tasks -----------------------------------------------------------------------------------------------

    def run_tasks(self, launch: TaskLaunch, count: int) -> tuple[list[str], list[str]]:
        """Start ``count`` (at most 10) tasks; returns (task ARNs, failure descriptions)."""
        response = self._ecs.run_task(
            cluster=launch.cluster,
            taskDefinition=launch.task_definition,
            launchType="FARGATE",
            count=count,
            startedBy=launch.started_by,
            networkConfiguration={"awsvpcConfiguration": _network(launch)},
            overrides={"containerOverrides": [{
                "name": CONTAINER_NAME,
                "environment": [{"name": key, "value": value} for key, value in launch.environment.items()],
            }]},
        )  # fmt: skip
        failures = [f"{failure.get('arn', '')}: {failure.get('reason', '')}" for failure in response["failures"]]
        return [task["taskArn"] for task in response["tasks"]], failures

    def describe_tasks(self, cluster: str, arns: Sequence[str]) -> list[EcsTaskStatus]:
        statuses: list[EcsTaskStatus] = []
        for start in range(0, len(arns), DESCRIBE_MAX):
            response = self._ecs.describe_tasks(cluster=cluster, tasks=list(arns[start : start + DESCRIBE_MAX]))
            statuses.extend(_status(task) for task in response["tasks"])
        return statuses

    def stop_task(self, cluster: str, arn: str, reason: str) -> None:
        self._ecs.stop_task(cluster=cluster, task=arn, reason=reason)

    def running_tasks(self, cluster: str, started_by: str) -> list[str]:
        arns: list[str] = []
        for page in self._ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, startedBy=started_by, desiredStatus="RUNNING"
        ):
            arns.extend(page["taskArns"])
        return arns


def _network(launch: TaskLaunch) -> dict[str, Any]:
    network: dict[str, Any] = {"subnets": list(launch.subnets), "assignPublicIp": "ENABLED"}
    if launch.security_groups:
        network["securityGroups"] = list(launch.security_groups)
    return network


def _status(task: dict[str, Any]) -> EcsTaskStatus:
    codes = [c["exitCode"] for c in task.get("containers", []) if c.get("exitCode") is not None]
    return EcsTaskStatus(task["taskArn"], task.get("lastStatus", ""), task.get("stoppedReason", ""),
                         int(codes[0]) if codes else None)  # fmt: skip
