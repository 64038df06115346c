"""``scaler_worker_manager oci_hpc`` end to end: the real command, the real SDK, the stand-in's container instances.

Every task becomes a payload object and a container instance (a local process running the real job runner with a
Resource Principal); results come back through the stand-in's Object Storage.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler import Client
from scaler.errors import JobFailedError, TaskTimeoutError
from tests.cli.helpers import command, free_port_block, run, wait_for_port
from tests.conftest import wait_until
from tests.worker_manager_adapter.oci_standin.standin import (
    AVAILABILITY_DOMAIN,
    COMPARTMENT_ID,
    JOB_RUNNER_IMAGE,
    NAMESPACE,
    SUBNET_ID,
    StandIn,
)

pytestmark = pytest.mark.cloud

BUCKET = "scaler-tasks"
CONCURRENCY = 5


def square(x: int) -> int:
    return x * x


def raise_value_error(text: str) -> None:
    raise ValueError(f"bad input: {text}")


def oci_hpc_flags(standin: StandIn, config_file: Path) -> list[str]:
    return [
        "--worker-manager-id", "wm-oci-hpc", "--object-storage-namespace", NAMESPACE,
        "--object-storage-bucket", BUCKET, "--oci-region", "us-ashburn-1", "--compartment-id", COMPARTMENT_ID,
        "--availability-domain", AVAILABILITY_DOMAIN, "--subnet-id", SUBNET_ID,
        "--container-image", JOB_RUNNER_IMAGE, "--oci-endpoint", standin.endpoint,
        "--oci-config-file", str(config_file),
    ]  # fmt: skip


@pytest.fixture
def scheduler() -> Iterator[str]:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--logging-level", "WARNING"):
        wait_for_port(port)
        yield address


def test_tasks_run_in_their_own_instances(scheduler: str, standin: StandIn, oci_config_file: Path) -> None:
    standin.create_bucket(BUCKET)
    flags = oci_hpc_flags(standin, oci_config_file)
    with command("scaler_worker_manager", "oci_hpc", scheduler, *flags, "--base-concurrency", str(CONCURRENCY),
                 "--job-timeout-seconds", "12", "--job-poll-interval-seconds", "0.2",
                 "--logging-level", "INFO") as manager:  # fmt: skip
        with Client(address=scheduler) as client:
            assert client.map(square, range(50)) == [x * x for x in range(50)]
            assert standin.state.instances_created == 50
            assert 1 < standin.peak_live_instances <= CONCURRENCY

            with pytest.raises(ValueError, match="bad input: 7") as raised:
                client.submit(raise_value_error, "7").result(timeout=60)
            assert "raise_value_error" in "".join(_traceback_lines(raised.value))

            started = time.monotonic()
            with pytest.raises(TaskTimeoutError, match="job timeout"):
                client.submit(time.sleep, 60).result(timeout=60)
            assert time.monotonic() - started < 30
            wait_until(lambda: standin.live_instances() == [], timeout=20)  # the overlong instance was deleted

            standin.lose_objects_containing("result.pkl")  # as if a lifecycle rule expired every result at once
            with pytest.raises(JobFailedError, match=r"result object oci://standinns/scaler-tasks/.* is missing"):
                client.submit(square, 3).result(timeout=60)

            running = client.submit(time.sleep, 60)
            wait_until(lambda: standin.running_processes() == 1, timeout=20)
            assert running.cancel()
            wait_until(lambda: standin.live_instances() == [], timeout=20)  # cancelling deletes its instance

            # Stopping the manager (SIGTERM) deletes the instance of the task it is running, and every object.
            client.submit(time.sleep, 60)
            wait_until(lambda: standin.running_processes() == 1, timeout=20)
            manager.send_signal(signal.SIGTERM)
            output, _ = manager.communicate(timeout=30)
    assert manager.returncode == 0, output
    wait_until(lambda: standin.live_instances() == [], timeout=20)
    assert standin.objects(BUCKET) == []
    assert standin.peak_live_instances <= CONCURRENCY


def _traceback_lines(error: BaseException) -> list[str]:
    import traceback

    return traceback.format_exception(type(error), error, error.__traceback__)


def test_bad_input_names_the_flag_and_wrong_credentials_fail_in_one_line(
    standin: StandIn, oci_config_file: Path, tmp_path: Path
) -> None:
    flags = oci_hpc_flags(standin, oci_config_file)
    missing = [flag for i, flag in enumerate(flags) if flags[i - 1 : i + 1] != ["--compartment-id", COMPARTMENT_ID]
               and flag != "--compartment-id"]  # fmt: skip
    result = run("scaler_worker_manager", "oci_hpc", "tcp://127.0.0.1:1", *missing)
    assert result.returncode == 2 and "compartment_id" in result.stderr and "Traceback" not in result.stderr

    bad = [("ocid1.bucket.oc1..x" if flag == SUBNET_ID else flag) for flag in flags]
    result = run("scaler_worker_manager", "oci_hpc", "tcp://127.0.0.1:1", *bad)
    assert result.returncode == 2 and "--subnet-id" in result.stderr and "subnet OCID" in result.stderr

    untrusted = standin.write_oci_config(tmp_path / "untrusted", trusted=False)
    wrong = [(str(untrusted) if flag == str(oci_config_file) else flag) for flag in flags]
    result = run("scaler_worker_manager", "oci_hpc", "tcp://127.0.0.1:1", *wrong)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "authentication failed" in lines[0] and "NotAuthenticated" in lines[0], lines

    result = run("scaler_worker_manager", "oci_hpc", "tcp://127.0.0.1:1", *flags)  # the bucket does not exist
    assert result.returncode == 1 and "BucketNotFound" in result.stderr and "Traceback" not in result.stderr


DOCUMENT_TOML = """
[object_storage_server]
bind_address = "tcp://127.0.0.1:8517"

[scheduler]
bind_address = "tcp://127.0.0.1:8516"
object_storage_address = "tcp://127.0.0.1:8517"

[[worker_manager]]
type = "oci_hpc"
scheduler_address = "tcp://127.0.0.1:8516"
object_storage_address = "tcp://127.0.0.1:8517"
worker_manager_id = "wm-oci-hpc"
object_storage_namespace = "standinns"
object_storage_bucket = "scaler-tasks"
oci_region = "us-ashburn-1"
compartment_id = "ocid1.compartment.oc1..example"
availability_domain = "AD-1"
subnet_id = "ocid1.subnet.oc1..example"
container_image = "us-ashburn-1.ocir.io/standinns/scaler-oci/job-runner:latest"
base_concurrency = 100
job_timeout_seconds = 3600
"""


def test_the_documents_toml_flags_and_environment_variables(tmp_path: Path) -> None:
    from scaler.cli.launch_plan import plan_launch
    from scaler.cli.worker_manager import load_worker_manager_config
    from scaler.config import read_toml
    from scaler.worker_manager_adapter.oci_hpc.config import OciHpcConfig

    path = tmp_path / "config.toml"
    path.write_text(DOCUMENT_TOML)
    labels = [step.label for step in plan_launch(read_toml(str(path)), str(path), environ={})]
    assert "oci_hpc" in labels[-1]

    # "Using Existing Infrastructure": the OCI_* variables stand in for the flags.
    environ = {"OCI_REGION": "eu-frankfurt-1", "OCI_COMPARTMENT_ID": COMPARTMENT_ID, "OCI_AVAILABILITY_DOMAIN": "AD-2",
               "OCI_SUBNET_ID": SUBNET_ID, "OCI_CONTAINER_IMAGE": JOB_RUNNER_IMAGE,
               "OCI_OBJECT_STORAGE_NAMESPACE": NAMESPACE, "OCI_OBJECT_STORAGE_BUCKET": BUCKET}  # fmt: skip
    _, config = load_worker_manager_config(["oci_hpc", "tcp://127.0.0.1:8516", "-wmi", "wm", "-bc", "7"], environ)
    assert isinstance(config, OciHpcConfig)
    assert config.oci_region == "eu-frankfurt-1" and config.availability_domain == "AD-2"
    assert config.object_storage_bucket == BUCKET and config.object_storage_prefix == "scaler-tasks"
    assert config.base_concurrency == 7 and config.job_timeout_seconds == 3600
    assert config.instance_ocpus == 1.0 and config.instance_memory_gb == 6.0
    assert config.instance_shape == "CI.Standard.E4.Flex" and config.oci_region != "us-ashburn-1"
    assert config.auth_type == "config_file" and config.oci_profile == "DEFAULT"
