"""orb_aws_ec2 through the real ORB SDK against moto's EC2; instances become local processes running their
user data. Temporary key pairs and security groups are checked at moto, also after a manager is SIGKILLed.

ORB takes its credentials from an AWS profile, so the test gives it one in a temporary shared credentials file
(the standard AWS_SHARED_CREDENTIALS_FILE setting), and a fresh ORB_ROOT_DIR for ORB's on-disk state.
"""

from __future__ import annotations

import base64
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler import Client
from tests.cli.helpers import command, free_port_block, run, wait_for_port
from tests.conftest import wait_until
from tests.worker_manager_adapter.aws_stand_in.launchers import Ec2LocalLauncher
from tests.worker_manager_adapter.aws_stand_in.moto_stand_in import MotoStandIn, moto_stand_in
from tests.worker_manager_adapter.manager_counts import wait_for_counted_workers

pytestmark = pytest.mark.cloud

AMI = "ami-0528819f94f4f5fa5"
TEMPORARY = [{"Name": "tag-key", "Values": ["scaler:orb-temporary"]}]


def slow_square(x: int) -> int:
    time.sleep(0.1)
    return x * x


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoStandIn]:
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    with moto_stand_in() as stand_in:
        stand_in.env.update(AWS_SHARED_CREDENTIALS_FILE=str(credentials), ORB_ROOT_DIR=str(tmp_path / "orb"))
        yield stand_in


def fast(tmp_path: Path) -> tuple[str, ...]:
    return ("--heartbeat-interval-seconds", "0.5", "--scale-down-cooldown-seconds", "1", "--orb-poll-interval-seconds",
            "0.5", "--worker-log-path", str(tmp_path / "workers.log"), "--logging-level", "WARNING")  # fmt: skip


def temporary_resources(moto: MotoStandIn) -> tuple[list[str], list[str]]:
    ec2 = moto.client("ec2")
    keys = [k["KeyName"] for k in ec2.describe_key_pairs(Filters=TEMPORARY)["KeyPairs"]]
    groups = [g["GroupId"] for g in ec2.describe_security_groups(Filters=TEMPORARY)["SecurityGroups"]]
    return keys, groups


def test_run_command_scales_and_leaves_nothing_after_ctrl_c(moto: MotoStandIn, tmp_path: Path) -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    launcher = Ec2LocalLauncher(moto)
    with command("scaler_scheduler", address, "--policy-content", "allocate=even_load; scaling=vanilla",
                 "--logging-level", "WARNING"), launcher.running():  # fmt: skip
        wait_for_port(port)
        with command("scaler_worker_manager", "orb_aws_ec2", address, "--object-storage-address",
                     f"tcp://127.0.0.1:{port + 1}", "--image-id", AMI, "--instance-type", "t3.medium",
                     "--aws-region", "us-east-1", "--max-task-concurrency", "4", *fast(tmp_path),
                     env=moto.env, cwd=tmp_path) as manager:  # fmt: skip
            wait_until(lambda: temporary_resources(moto) != ([], []), timeout=60)
            with Client(address=address) as client:
                assert client.map(slow_square, range(50)) == [x * x for x in range(50)]
                # t3.medium: 2 workers each, so at most 2 instances at once for 4 workers (over the burst an
                # instance may be returned and another started, so count the peak, not the starts)
                assert launcher.groups.started and launcher.groups.peak <= 2
                wait_until(lambda: launcher.instances() == [], timeout=90)  # idle: every instance returned
                client.submit(time.sleep, 5)
                wait_until(lambda: len(launcher.instances()) == 1, timeout=90)
                # Its workers report the manager's (default) id: the scheduler counts them under it.
                assert wait_for_counted_workers(f"tcp://127.0.0.1:{port + 2}", None).startswith("ORB|")
                manager.send_signal(signal.SIGINT)
                assert manager.wait(120) in (0, 130)
            assert launcher.instances() == [] and launcher.instances("pending") == []
            assert temporary_resources(moto) == ([], [])  # the temporary key pair and group are gone


def test_toml_example_cleans_up_after_a_crashed_manager(moto: MotoStandIn, tmp_path: Path) -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--logging-level", "WARNING"):
        wait_for_port(port)
        with command("scaler_worker_manager", "orb_aws_ec2", address, "--image-id", AMI, *fast(tmp_path),
                     env=moto.env, cwd=tmp_path) as crashed:  # fmt: skip
            wait_until(lambda: all(temporary_resources(moto)), timeout=60)
            crashed.kill()  # SIGKILL: no chance to clean up
            crashed.wait()
    leftovers = temporary_resources(moto)
    assert all(leftovers)
    config = tmp_path / "config.toml"
    config.write_text(f"""
[scheduler]
scheduler_address = "tcp://127.0.0.1:{port}"
policy_content = "allocate=even_load; scaling=vanilla"
logging_level = "WARNING"

[[worker_manager]]
type = "orb_aws_ec2"
scheduler_address = "tcp://127.0.0.1:{port}"
object_storage_address = "tcp://127.0.0.1:{port + 1}"
image_id = "{AMI}"
instance_type = "t3.medium"
aws_region = "us-east-1"
max_task_concurrency = 2
heartbeat_interval_seconds = 0.5
orb_poll_interval_seconds = 0.5
worker_log_path = "{tmp_path / "workers.log"}"
""")
    launcher = Ec2LocalLauncher(moto)
    with launcher.running():
        with command("scaler", str(config), env=moto.env, cwd=tmp_path):
            wait_for_port(port)
            with Client(address=address) as client:
                assert client.map(slow_square, range(50)) == [x * x for x in range(50)]
            keys, groups = temporary_resources(moto)
            assert not set(keys) & set(leftovers[0]) and not set(groups) & set(leftovers[1])  # crash cleaned up
        wait_until(lambda: temporary_resources(moto) == ([], []), timeout=60)
        assert launcher.instances() == []


def test_missing_image_id_is_named() -> None:
    result = run("scaler_worker_manager", "orb_aws_ec2", f"tcp://127.0.0.1:{free_port_block()}")
    assert result.returncode == 2 and "image_id" in result.stderr.replace("-", "_")


def test_secured_workers_read_their_credentials_from_a_secret_never_from_the_user_data(
    moto: MotoStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instances (local processes running their user data, with no SCALER_CREDENTIALS of their own) connect
    to a secured scheduler only with the credentials the manager left in Secrets Manager; the user data and the
    workers' log never hold the secret key, and the secret is gone after Ctrl-C."""
    from tests.security.conftest import make_keys

    monkeypatch.delenv("SCALER_CREDENTIALS", raising=False)
    monkeypatch.setenv("SCALER_RUNTIME_DIR", str(tmp_path / "runtime"))  # no published owner keys to fall back on
    keys = tmp_path / "keys"
    make_keys(keys, {"cloud": "manager", "alice": "client"})
    secret_key = (keys / "cloud.toml").read_text().split('secret_key = "')[1].split('"')[0]
    iam = moto.client("iam")
    iam.create_instance_profile(InstanceProfileName="scaler-workers")
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    launcher = Ec2LocalLauncher(moto)
    secrets = moto.client("secretsmanager")
    with command("scaler_scheduler", address, "--credentials", str(keys / "scheduler.toml"), "--policy-content",
                 "allocate=even_load; scaling=vanilla", "--logging-level", "WARNING"), launcher.running():  # fmt: skip
        wait_for_port(port)
        with command("scaler_worker_manager", "orb_aws_ec2", address, "--credentials", str(keys / "cloud.toml"),
                     "--image-id", AMI, "--max-task-concurrency", "2", "--instance-profile", "scaler-workers",
                     *fast(tmp_path), env=moto.env, cwd=tmp_path) as manager:  # fmt: skip
            with Client(address=address, credentials=keys / "alice.toml", timeout_seconds=120) as client:
                futures = [client.submit(slow_square, x) for x in range(20)]  # no credentials: nothing runs
                assert [future.result(timeout=120) for future in futures] == [x * x for x in range(20)]
            ec2 = moto.client("ec2")
            instance_id = launcher.instances()[0]
            encoded = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]
            script = base64.b64decode(encoded["Value"]).decode()
            assert "SCALER_CREDENTIALS=" in script and "worker_secret" in script and secret_key not in script
            # ORB launches from a launch template, which carries the profile (moto does not copy it to instances).
            templates = [t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]]
            versions = ec2.describe_launch_template_versions(LaunchTemplateId=templates[0])["LaunchTemplateVersions"]
            assert versions[0]["LaunchTemplateData"].get("IamInstanceProfile") == {"Name": "scaler-workers"}
            assert len(secrets.list_secrets()["SecretList"]) == 1
            manager.send_signal(signal.SIGINT)
            assert manager.wait(120) in (0, 130)
        assert secrets.list_secrets()["SecretList"] == []
    assert secret_key not in (tmp_path / "workers.log").read_text()
