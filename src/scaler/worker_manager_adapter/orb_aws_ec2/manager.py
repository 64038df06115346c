"""``scaler_worker_manager orb_aws_ec2``: the shared convergence runner over EC2 instances requested via ORB."""

from __future__ import annotations

import logging
import os
import socket
import uuid

from scaler.security.credentials import ENVIRONMENT_VARIABLE, remote_worker_environment
from scaler.worker_manager_adapter.aws_common.sdk import MissingExtraError
from scaler.worker_manager_adapter.orb_aws_ec2.config import OrbAwsEc2Config
from scaler.worker_manager_adapter.orb_aws_ec2.provisioner import MANAGER_TAG, OrbProvisioner
from scaler.worker_manager_adapter.orb_aws_ec2.temporary import TemporaryResources
from scaler.worker_manager_adapter.orb_aws_ec2.worker_secret import WorkerSecret, boot_lines
from scaler.worker_manager_adapter.runner import run_manager
from scaler.worker_manager_adapter.worker_launch import manager_id_of, unit_worker_command

logger = logging.getLogger("scaler.orb_aws_ec2")

WORKER_TYPE = "ORB"


def user_data(config: OrbAwsEc2Config, manager_id: str, workers: int, secret_name: str | None = None) -> str:
    """The instance's boot script: the fixed worker pool, detached, logging to ``worker_log_path``; with
    ``secret_name``, their credentials read from that secret first (never written here: see worker_secret)."""
    command = unit_worker_command(config, manager_id, workers, WORKER_TYPE)
    credentials = boot_lines(config.aws_region, secret_name) if secret_name else ""
    return f"#!/bin/bash\n{credentials}nohup {command} >> {config.worker_log_path} 2>&1 &\n"


def run_orb_aws_ec2(config: OrbAwsEc2Config) -> None:
    try:
        from scaler.worker_manager_adapter.orb_aws_ec2.gateway import Ec2Gateway, OrbGateway, SecretGateway

        ec2 = Ec2Gateway(config.aws_region)
        secret = WorkerSecret(SecretGateway(config.aws_region))
        orb = OrbGateway(config.aws_region, config.aws_profile)
    except MissingExtraError as error:
        raise SystemExit(f"scaler_worker_manager: error: {error}") from None
    manager_id = manager_id_of(config, WORKER_TYPE)
    temporary = TemporaryResources(ec2)
    try:
        temporary.remove_leftovers()
        secret.remove_leftovers()
        credentials = remote_worker_environment().get(ENVIRONMENT_VARIABLE)
        secret_name = secret.create(credentials) if credentials else None
        subnet = config.subnet_id or ec2.default_subnet()
        key_name = config.key_name or temporary.create_key_pair()
        groups = config.security_groups or [temporary.create_security_group(subnet)]
        workers = ec2.vcpus(config.instance_type)
        template_id = f"scaler-{uuid.uuid4().hex[:12]}"
        manager_tag = f"{socket.gethostname()}:{os.getpid()}:{template_id}"
        orb.create_template(
            template_id,
            image_id=config.image_id,
            instance_type=config.instance_type,
            max_instances=1000,
            subnet_ids=[subnet],
            security_group_ids=groups,
            key_name=key_name,
            user_data=user_data(config, manager_id, workers, secret_name),
            tags={**config.tags, MANAGER_TAG: manager_tag},
            **({"instance_profile": config.instance_profile} if config.instance_profile else {}),
        )
        provisioner = OrbProvisioner(orb, ec2, template_id, manager_tag, workers, config.orb_poll_interval_seconds)
        code = run_manager(config, manager_id, provisioner)
    finally:
        temporary.delete()
        secret.delete()
        orb.close()
    raise SystemExit(code)
