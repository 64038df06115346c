"""``python -m scaler.worker_manager_adapter.aws_hpc.utility.provisioner {provision,cleanup,show,build-image}``

Creates what the aws_hpc worker manager needs in one AWS region and records it in a JSON file: an S3 bucket
(with a 1-day expiry on the task prefix, as a backstop for objects a crashed manager could not delete), the IAM
roles of the jobs, a Fargate compute environment in the default VPC, a job queue and a job definition running
the job runner. ``cleanup`` deletes all of it; ``build-image`` builds utility/Dockerfile.batch and pushes it to
ECR. This module is a tool, not part of the manager: it talks to boto3 directly.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scaler.worker_manager_adapter.aws_common.sdk import MissingExtraError, boto3_session

EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
WAIT_SECONDS = 300


def _trust(service: str) -> str:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class Infrastructure:
    def __init__(self, region: str, prefix: str) -> None:
        session = boto3_session("aws_hpc provisioner", region)
        self.region, self.prefix = region, prefix
        self._iam, self._s3, self._ec2 = session.client("iam"), session.client("s3"), session.client("ec2")
        self._batch, self._ecr, self._sts = session.client("batch"), session.client("ecr"), session.client("sts")

    def provision(
        self, image: str, vcpus: float, memory_mb: int, max_vcpus: int, timeout_minutes: int
    ) -> dict[str, Any]:
        account = self._sts.get_caller_identity()["Account"]
        bucket = f"{self.prefix}-{account}-{self.region}"
        bucket_args = (
            {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        )
        self._s3.create_bucket(Bucket=bucket, **bucket_args)
        rule = {
            "ID": "scaler-tasks-expiry",
            "Status": "Enabled",
            "Filter": {"Prefix": "scaler-tasks/"},
            "Expiration": {"Days": 1},
        }
        self._s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
        job_role = self._role(f"{self.prefix}-job", "ecs-tasks.amazonaws.com")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{bucket}/*"}
            ],
        }
        self._iam.put_role_policy(
            RoleName=f"{self.prefix}-job", PolicyName="scaler-bucket", PolicyDocument=json.dumps(policy)
        )
        execution_role = self._role(f"{self.prefix}-execution", "ecs-tasks.amazonaws.com")
        self._iam.attach_role_policy(RoleName=f"{self.prefix}-execution", PolicyArn=EXECUTION_POLICY)
        service_role = self._role(f"{self.prefix}-batch-service", "batch.amazonaws.com")
        vpc = self._ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnets = [
            s["SubnetId"] for s in self._ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
        ]
        groups = self._ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        environment = self._batch.create_compute_environment(
            computeEnvironmentName=f"{self.prefix}-compute",
            type="MANAGED",
            state="ENABLED",
            serviceRole=service_role,
            computeResources={
                "type": "FARGATE",
                "maxvCpus": max_vcpus,
                "subnets": subnets,
                "securityGroupIds": [groups[0]["GroupId"]],
            },
        )["computeEnvironmentArn"]
        self._wait(
            lambda: (
                self._batch.describe_compute_environments(computeEnvironments=[environment])["computeEnvironments"][
                    0
                ].get("status")
                == "VALID"
            )
        )
        queue = self._batch.create_job_queue(
            jobQueueName=f"{self.prefix}-queue",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )["jobQueueName"]
        memory = max(2048, -(-memory_mb // 2048) * 2048)  # Fargate memory in 2 GB steps
        definition = self._batch.register_job_definition(
            jobDefinitionName=f"{self.prefix}-job",
            type="container",
            platformCapabilities=["FARGATE"],
            timeout={"attemptDurationSeconds": timeout_minutes * 60},
            containerProperties={
                "image": image,
                "command": ["python3", "/opt/scaler/job_runner.py"],
                "jobRoleArn": job_role,
                "executionRoleArn": execution_role,
                "resourceRequirements": [
                    {"type": "VCPU", "value": f"{vcpus:g}"},
                    {"type": "MEMORY", "value": str(memory)},
                ],
                "networkConfiguration": {"assignPublicIp": "ENABLED"},
            },
        )["jobDefinitionName"]
        return {
            "region": self.region,
            "prefix": self.prefix,
            "s3_bucket": bucket,
            "job_queue": queue,
            "job_definition": definition,
            "compute_environment": environment,
            "image": image,
        }

    def cleanup(self, state: dict[str, Any]) -> None:
        steps: list[Callable[[], object]] = [
            lambda: [
                self._batch.deregister_job_definition(jobDefinition=d["jobDefinitionArn"])
                for d in self._batch.describe_job_definitions(
                    jobDefinitionName=state["job_definition"], status="ACTIVE"
                )["jobDefinitions"]
            ],
            lambda: self._batch.update_job_queue(jobQueue=state["job_queue"], state="DISABLED"),
            lambda: self._batch.delete_job_queue(jobQueue=state["job_queue"]),
            lambda: self._wait(
                lambda: not self._batch.describe_job_queues(jobQueues=[state["job_queue"]])["jobQueues"]
            ),
            lambda: self._batch.update_compute_environment(
                computeEnvironment=state["compute_environment"], state="DISABLED"
            ),
            lambda: self._batch.delete_compute_environment(computeEnvironment=state["compute_environment"]),
            lambda: self._empty_and_delete_bucket(state["s3_bucket"]),
            lambda: self._iam.delete_role_policy(RoleName=f"{self.prefix}-job", PolicyName="scaler-bucket"),
            lambda: self._iam.detach_role_policy(RoleName=f"{self.prefix}-execution", PolicyArn=EXECUTION_POLICY),
            lambda: [self._iam.delete_role(RoleName=f"{self.prefix}-{name}") for name in ("job", "execution")],
            lambda: self._iam.delete_role(RoleName=f"{self.prefix}-batch-service"),
        ]
        for step in steps:
            try:
                step()
            except Exception as error:  # go on: cleanup removes all it can and says what it could not
                print(f"cleanup: {error}", file=sys.stderr)

    def build_image(self, state: dict[str, Any], python_version: str) -> str:
        if shutil.which("docker") is None:
            raise SystemExit("build-image needs docker on PATH")
        name = f"{self.prefix}-job-runner"
        try:
            uri = self._ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
        except self._ecr.exceptions.RepositoryAlreadyExistsException:
            uri = self._ecr.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryUri"]
        token = self._ecr.get_authorization_token()["authorizationData"][0]
        user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
        here = Path(__file__).resolve().parent
        with tempfile.TemporaryDirectory() as context:
            for source in (
                here / "Dockerfile.batch",
                here.parent / "job_runner.py",
                here.parents[1] / "job_proxy" / "payload.py",
            ):
                shutil.copy(source, context)
            image = f"{uri}:latest"
            subprocess.run(
                ["docker", "login", "-u", user, "--password-stdin", token["proxyEndpoint"]],
                input=password.encode(),
                check=True,
            )
            subprocess.run(
                [
                    "docker",
                    "build",
                    "-f",
                    "Dockerfile.batch",
                    "--build-arg",
                    f"PYTHON_VERSION={python_version}",
                    "-t",
                    image,
                    context,
                ],
                cwd=context,
                check=True,
            )
            subprocess.run(["docker", "push", image], check=True)
        return image

    def _role(self, name: str, service: str) -> str:
        try:
            return str(self._iam.get_role(RoleName=name)["Role"]["Arn"])
        except self._iam.exceptions.NoSuchEntityException:
            return str(self._iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"])

    def _empty_and_delete_bucket(self, bucket: str) -> None:
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                self._s3.delete_object(Bucket=bucket, Key=item["Key"])
        self._s3.delete_bucket(Bucket=bucket)

    @staticmethod
    def _wait(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"AWS did not reach the expected state within {WAIT_SECONDS}s")
            time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scaler.worker_manager_adapter.aws_hpc.utility.provisioner",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("action", choices=["provision", "cleanup", "show", "build-image"])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--prefix", default="scaler-batch", help="name prefix of everything created")
    parser.add_argument("--image", default=None, help="job image; provision builds and pushes one when omitted")
    parser.add_argument("--vcpus", type=float, default=1.0)
    parser.add_argument("--memory", type=int, default=2048, help="MB per job (rounded up to 2048 steps)")
    parser.add_argument("--max-vcpus", type=int, default=256)
    parser.add_argument("--job-timeout", type=int, default=60, help="minutes")
    parser.add_argument("--python-version", default=f"{sys.version_info.major}.{sys.version_info.minor}")
    parser.add_argument("--config", default=".scaler_aws_hpc_config.json", help="state file written by provision")
    parser.add_argument("--env-file", default=".scaler_aws_hpc.env", help="shell exports written by provision")
    args = parser.parse_args(argv)
    state_path = Path(args.config)
    try:
        infrastructure = Infrastructure(args.region, args.prefix)
    except MissingExtraError as error:
        raise SystemExit(str(error)) from None
    if args.action == "show":
        print(state_path.read_text() if state_path.exists() else f"{state_path}: nothing provisioned")
    elif args.action == "build-image":
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        print(infrastructure.build_image(state, args.python_version))
    elif args.action == "provision":
        image = args.image or infrastructure.build_image({}, args.python_version)
        state = infrastructure.provision(image, args.vcpus, args.memory, args.max_vcpus, args.job_timeout)
        state_path.write_text(json.dumps(state, indent=2) + "\n")
        exports = {
            "SCALER_AWS_REGION": state["region"],
            "SCALER_S3_BUCKET": state["s3_bucket"],
            "SCALER_JOB_QUEUE": state["job_queue"],
            "SCALER_JOB_DEFINITION": state["job_definition"],
        }
        Path(args.env_file).write_text("".join(f"export {key}={value}\n" for key, value in exports.items()))
        print(json.dumps(state, indent=2))
    else:
        infrastructure.cleanup(json.loads(state_path.read_text()))
        state_path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
