"""aws_hpc against moto: Batch jobs run the real job runner as local processes; payloads and results use S3.

The job queue and job definition are created at moto the way an operator would; the Batch hook of the stand-in
runs each job's command (the runner) locally, so the relay through S3 is the real one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scaler import Client
from scaler.errors import JobFailedError, TaskTimeoutError
from tests.cli.helpers import command, free_port_block, run, wait_for_port
from tests.conftest import wait_until
from tests.worker_manager_adapter.aws_stand_in.moto_stand_in import MotoStandIn, moto_stand_in

pytestmark = pytest.mark.cloud

BUCKET = "my-scaler-bucket"
QUEUE = "scaler-job-queue"
DEFINITION = "scaler-job-definition"
FAST = ("--heartbeat-interval-seconds", "0.5", "--poll-interval-seconds", "0.2", "--logging-level", "WARNING")


def square(x: int) -> int:
    return x * x


def fail_in_job() -> None:
    raise ValueError("raised in the Batch job")


def exit_job() -> None:
    os._exit(3)


def big_echo(data: bytes) -> int:
    return len(data)


def create_batch_infrastructure(moto: MotoStandIn) -> None:
    ec2 = moto.client("ec2")
    subnets = [subnet["SubnetId"] for subnet in ec2.describe_subnets()["Subnets"]]
    groups = [group["GroupId"] for group in ec2.describe_security_groups()["SecurityGroups"]]
    role = moto.client("iam").create_role(RoleName="scaler-batch-service", AssumeRolePolicyDocument="{}")
    batch = moto.client("batch")
    environment = batch.create_compute_environment(
        computeEnvironmentName="scaler-compute", type="MANAGED", state="ENABLED", serviceRole=role["Role"]["Arn"],
        computeResources={"type": "FARGATE", "maxvCpus": 16, "subnets": subnets[:1], "securityGroupIds": groups[:1]},
    )  # fmt: skip
    batch.create_job_queue(
        jobQueueName=QUEUE, state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}],
    )  # fmt: skip
    batch.register_job_definition(
        jobDefinitionName=DEFINITION, type="container", platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "scaler-job-runner:latest", "command": ["python3", "/opt/scaler/job_runner.py"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
            "executionRoleArn": "arn:aws:iam::123456789012:role/scaler-execution",
        },
    )  # fmt: skip
    moto.client("s3").create_bucket(Bucket=BUCKET)


@pytest.fixture
def moto() -> Iterator[MotoStandIn]:
    with moto_stand_in() as stand_in:
        create_batch_infrastructure(stand_in)
        yield stand_in


def bucket_keys(moto: MotoStandIn) -> list[str]:
    return [item["Key"] for item in moto.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@contextmanager
def batch_stack(moto: MotoStandIn, *manager_flags: str) -> Iterator[str]:
    """Object storage, a scheduler and an aws_hpc manager at moto; yields the scheduler address."""
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    storage = f"tcp://127.0.0.1:{port + 1}"
    with command("scaler_object_storage_server", storage), \
         command("scaler_scheduler", address, "--object-storage-address", storage,
                 "--policy-content", "allocate=even_load; scaling=vanilla", "--logging-level", "WARNING"):  # fmt: skip
        wait_for_port(port)
        with command("scaler_worker_manager", "aws_hpc", address, "--object-storage-address", storage,
                     "--worker-manager-id", "wm-batch", "--job-queue", QUEUE, "--job-definition", DEFINITION,
                     "--s3-bucket", BUCKET, "--aws-region", "us-east-1", *manager_flags, *FAST,
                     env=moto.env):  # fmt: skip
            yield address


def test_run_command_maps_within_the_limit_and_reports_failures(moto: MotoStandIn) -> None:
    # A job timeout that means "broken" (10 minutes): on a loaded machine a normal job (a process start and the
    # runner's imports) can take several seconds. The timeout path has its own test below.
    with batch_stack(moto, "--max-concurrent-jobs", "3", "--job-timeout-minutes", "10") as address:
        with Client(address=address) as client:
            # Each Batch job is a process that starts the runner (about a second of CPU here): the 50-task map
            # is in the TOML test; this one checks the limit and every failure path.
            assert client.map(square, range(10)) == [x * x for x in range(10)]
            assert 1 <= moto.batch_peak_running <= 3  # the limit held at "AWS Batch"
            assert client.submit(big_echo, b"x" * 100_000).result(timeout=60) == 100_000  # payload via S3
            with pytest.raises(ValueError, match="raised in the Batch job"):
                client.submit(fail_in_job).result(timeout=60)
            with pytest.raises(JobFailedError, match=r"AWS Batch job .* failed: Essential container in task exited"):
                client.submit(exit_job).result(timeout=60)
        wait_until(lambda: moto.batch_running == 0)
        assert moto.batch_exit_codes.count(0) == 10 + 2 and moto.batch_exit_codes.count(3) == 1
        wait_until(lambda: bucket_keys(moto) == [])  # every payload and result was deleted once read


def test_a_job_past_its_timeout_fails_its_task_and_is_terminated(moto: MotoStandIn) -> None:
    # 3 s against a 30 s sleep: the timeout fires however slow the machine is.
    with batch_stack(moto, "--job-timeout-minutes", "0.05") as address:
        with Client(address=address) as client:
            with pytest.raises(TaskTimeoutError, match="job timeout of 3s"):
                client.submit(time.sleep, 30).result(timeout=120)
        wait_until(lambda: moto.batch_running == 0, timeout=60)  # the overlong job was terminated
        wait_until(lambda: bucket_keys(moto) == [])


def test_toml_example_from_the_documents(moto: MotoStandIn, tmp_path: Path) -> None:
    port = free_port_block()
    config = tmp_path / "config.toml"
    config.write_text(f"""
[scheduler]
scheduler_address = "tcp://127.0.0.1:{port}"
object_storage_address = "tcp://127.0.0.1:{port + 1}"
policy_content = "allocate=even_load; scaling=vanilla"
logging_level = "WARNING"

[object_storage_server]
object_storage_address = "tcp://127.0.0.1:{port + 1}"

[[worker_manager]]
type = "aws_hpc"
scheduler_address = "tcp://127.0.0.1:{port}"
object_storage_address = "tcp://127.0.0.1:{port + 1}"
worker_manager_id = "wm-batch"
job_queue = "{QUEUE}"
job_definition = "{DEFINITION}"
s3_bucket = "{BUCKET}"
aws_region = "us-east-1"
max_concurrent_jobs = 4
poll_interval_seconds = 0.2
heartbeat_interval_seconds = 0.5
""")
    with command("scaler", str(config), env=moto.env):
        wait_for_port(port)
        with Client(address=f"tcp://127.0.0.1:{port}") as client:
            assert client.map(square, range(50)) == [x * x for x in range(50)]
    assert moto.batch_exit_codes == [0] * 50
    assert 1 <= moto.batch_peak_running <= 4


def test_missing_flag_and_missing_sdk_are_named(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port_block()}"
    missing = run("scaler_worker_manager", "aws_hpc", address, "--job-queue", QUEUE, "--s3-bucket", BUCKET)
    assert missing.returncode == 2 and "job_definition" in missing.stderr.replace("-", "_")
    (tmp_path / "boto3.py").write_text("raise ModuleNotFoundError(\"No module named 'boto3'\", name='boto3')\n")
    no_sdk = run_with_path(tmp_path, "scaler_worker_manager", "aws_hpc", address, "-q", QUEUE, "-d", DEFINITION,
                           "--s3-bucket", BUCKET)  # fmt: skip
    assert no_sdk.returncode == 1 and "pip install 'scaler[aws]'" in no_sdk.stderr
    assert len(no_sdk.stderr.strip().splitlines()) == 1


def run_with_path(path: Path, *args: str) -> object:
    import subprocess

    from tests.cli.helpers import BIN

    env = {**os.environ, "PYTHONPATH": str(path)}
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=60, env=env)
