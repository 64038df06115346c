"""The only module of the orb_aws_ec2 manager that calls an SDK: ORB (``orb-py``) for instances, boto3's EC2
client for what ORB does not do (instance-type vCPUs, the default subnet, temporary key pairs and groups), and
Secrets Manager for the workers' credentials.

ORB's API is async: it runs on an event loop in a thread of its own, so that callers (the provisioner's pool
threads) simply block on a result. ORB keeps state on disk under ``ORB_ROOT_DIR``; when that is not set, a
private temporary directory is used and removed on close, so that runs never see each other's templates.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from scaler.worker_manager_adapter.aws_common.sdk import boto3_session, require

logger = logging.getLogger("scaler.orb_aws_ec2")

T = TypeVar("T")
TEMPORARY_TAG = "scaler:orb-temporary"  # value "<host>:<pid>" of the manager that created the resource


class OrbGateway:
    def __init__(self, region: str, profile: str) -> None:
        require("orb", "orb_aws_ec2", "orb")
        from orb.sdk.client import ORBClient

        self._own_root = None if os.environ.get("ORB_ROOT_DIR") else tempfile.mkdtemp(prefix="scaler-orb-")
        if self._own_root:
            os.environ["ORB_ROOT_DIR"] = self._own_root
        root = os.environ["ORB_ROOT_DIR"]
        provider = f"aws-scaler-{region}"
        app_config = {
            "scheduler": {"type": "default"},
            "provider": {
                "providers": [{"name": provider, "type": "aws", "enabled": True,
                               "config": {"region": region, "profile": profile}}],
                "default_provider_instance": provider,
            },
            "storage": {"strategy": "json", "json_strategy": {"base_path": os.path.join(root, "work")}},
            "logging": {"file_path": os.path.join(root, "logs", "orb.log"), "console_enabled": False},
        }  # fmt: skip
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="orb", daemon=True)
        self._thread.start()
        self._client = ORBClient(app_config=app_config)
        root_logger = logging.getLogger()
        handlers, level = list(root_logger.handlers), root_logger.level
        try:
            self._call(self._client.__aenter__())
        finally:  # ORB reconfigures the root logger when it starts: keep ours
            root_logger.handlers[:] = handlers
            root_logger.setLevel(level)

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def create_template(self, template_id: str, **settings: Any) -> None:
        answer = self._call(self._client.create_template(template_id=template_id, provider_api="RunInstances",
                                                         **settings))  # fmt: skip
        if answer.get("validation_errors") or answer.get("status") not in (None, "created"):
            raise RuntimeError(f"ORB refused template {template_id}: {answer}")

    def request_machines(self, template_id: str, count: int) -> str:
        answer = self._call(self._client.create_request(template_id=template_id, count=count))
        return str(answer.get("created_request_id") or answer["request_id"])

    def request_status(self, request_id: str) -> tuple[str, list[str], str]:
        """(status, machine ids, message) of an ORB request; status is complete, failed, ... ."""
        answer = self._call(self._client.get_request_status(request_ids=[request_id]))
        request = answer["requests"][0]
        machines = [m["machine_id"] if isinstance(m, dict) else str(m) for m in request.get("machine_ids") or []]
        return str(request.get("status", "")), machines, str(request.get("message", ""))

    def return_machines(self, machine_ids: list[str]) -> None:
        self._call(self._client.create_return_request(machine_ids=machine_ids))

    def close(self) -> None:
        try:
            self._call(self._client.__aexit__(None, None, None), timeout=30)
        except Exception as error:
            logger.warning("closing ORB: %s", error)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if self._own_root:
            shutil.rmtree(self._own_root, ignore_errors=True)


class Ec2Gateway:
    def __init__(self, region: str) -> None:
        self._ec2 = boto3_session("orb_aws_ec2", region, extra="orb").client("ec2")

    def vcpus(self, instance_type: str) -> int:
        answer = self._ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
        return int(answer[0]["VCpuInfo"]["DefaultVCpus"])

    def default_subnet(self) -> str:
        vpcs = self._ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise RuntimeError("no default VPC in this region: give --subnet-id")
        filters = [{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}, {"Name": "default-for-az", "Values": ["true"]}]
        subnets = self._ec2.describe_subnets(Filters=filters)["Subnets"]
        if not subnets:
            raise RuntimeError(f"the default VPC {vpcs[0]['VpcId']} has no default subnet: give --subnet-id")
        return str(sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"])

    def create_temporary_key_pair(self, name: str, owner: str) -> None:
        self._ec2.create_key_pair(KeyName=name, TagSpecifications=[_tags("key-pair", owner)])

    def create_temporary_security_group(self, name: str, subnet_id: str, owner: str) -> str:
        vpc = self._ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
        group = self._ec2.create_security_group(
            GroupName=name, Description="scaler workers (temporary)", VpcId=vpc,
            TagSpecifications=[_tags("security-group", owner)],
        )  # fmt: skip
        return str(group["GroupId"])

    def temporary_resources(self) -> tuple[dict[str, str], dict[str, str]]:
        """Temporary key pairs (name -> owner) and security groups (id -> owner) made by any manager."""
        tag_filter = [{"Name": "tag-key", "Values": [TEMPORARY_TAG]}]
        keys = {k["KeyName"]: _owner(k) for k in self._ec2.describe_key_pairs(Filters=tag_filter)["KeyPairs"]}
        groups = {
            g["GroupId"]: _owner(g) for g in self._ec2.describe_security_groups(Filters=tag_filter)["SecurityGroups"]
        }
        return keys, groups

    def delete_key_pair(self, name: str) -> None:
        self._ec2.delete_key_pair(KeyName=name)

    def delete_security_group(self, group_id: str) -> None:
        self._ec2.delete_security_group(GroupId=group_id)

    def instance_states(self, instance_ids: list[str]) -> dict[str, str]:
        if not instance_ids:
            return {}
        reservations = self._ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
        return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}

    def tagged_instances(self, key: str, value: str) -> list[str]:
        states = ["pending", "running", "stopping", "stopped"]
        filters = [{"Name": f"tag:{key}", "Values": [value]}, {"Name": "instance-state-name", "Values": states}]
        reservations = self._ec2.describe_instances(Filters=filters)["Reservations"]
        return [i["InstanceId"] for r in reservations for i in r["Instances"]]

    def terminate_instances(self, instance_ids: list[str]) -> None:
        if instance_ids:
            self._ec2.terminate_instances(InstanceIds=instance_ids)


class SecretGateway:
    """Secrets Manager: where the workers' credentials wait for the instances (see ``worker_secret``)."""

    def __init__(self, region: str) -> None:
        self._secrets = boto3_session("orb_aws_ec2", region, extra="orb").client("secretsmanager")

    def create_secret(self, name: str, text: str, owner: str) -> None:
        self._secrets.create_secret(Name=name, SecretString=text, Tags=[{"Key": TEMPORARY_TAG, "Value": owner}])

    def temporary_secrets(self) -> dict[str, str]:
        pages = self._secrets.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "tag-key", "Values": [TEMPORARY_TAG]}]
        )
        return {secret["Name"]: _owner(secret) for page in pages for secret in page["SecretList"]}

    def delete_secret(self, name: str) -> None:
        self._secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def _tags(resource: str, owner: str) -> dict[str, Any]:
    return {"ResourceType": resource, "Tags": [{"Key": TEMPORARY_TAG, "Value": owner}]}


def _owner(resource: dict[str, Any]) -> str:
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == TEMPORARY_TAG), "")
