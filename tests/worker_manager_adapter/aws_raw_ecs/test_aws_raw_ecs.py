"""aws_raw_ecs against moto: Fargate tasks become local processes running the command the adapter gave them.

The adapter itself creates the cluster, the execution role and the task definition at moto; the launcher turns
each RUNNING task into ``sh -c "$COMMAND"`` (a fixed pool of real workers joining the real scheduler) and ends
it when the task is stopped. What is left at moto after the manager exits is checked there.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import scaler
from scaler import Client
from tests.cli.helpers import command, free_port_block, run, wait_for_port
from tests.conftest import wait_until
from tests.worker_manager_adapter.aws_stand_in.launchers import EcsLocalLauncher
from tests.worker_manager_adapter.aws_stand_in.moto_stand_in import MotoStandIn, moto_stand_in
from tests.worker_manager_adapter.manager_counts import wait_for_counted_workers

pytestmark = pytest.mark.cloud

CLUSTER = "scaler-cluster"
FAST = ("--heartbeat-interval-seconds", "0.5", "--scale-down-cooldown-seconds", "1",
        "--ecs-status-interval-seconds", "1", "--logging-level", "WARNING")  # fmt: skip
POLICY = ("--policy-content", "allocate=even_load; scaling=vanilla")


def slow_square(x: int) -> int:
    time.sleep(0.1)
    return x * x


@pytest.fixture
def moto() -> Iterator[MotoStandIn]:
    with moto_stand_in() as stand_in:
        yield stand_in


def subnets(moto: MotoStandIn) -> str:
    return ",".join(subnet["SubnetId"] for subnet in moto.client("ec2").describe_subnets()["Subnets"][:2])


def test_run_command_scales_up_and_down_and_leaves_nothing_after_ctrl_c(moto: MotoStandIn) -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    launcher = EcsLocalLauncher(moto, CLUSTER)
    with command("scaler_scheduler", address, *POLICY, "--logging-level", "WARNING"), launcher.running():
        wait_for_port(port)
        with command("scaler_worker_manager", "aws_raw_ecs", address, "--object-storage-address",
                     f"tcp://127.0.0.1:{port + 1}", "--worker-manager-id", "wm-ecs", "--ecs-subnets", subnets(moto),
                     "--ecs-cluster", CLUSTER, "--ecs-task-definition", "scaler-task-definition",
                     "--aws-region", "us-east-1", "--ecs-task-cpu", "2", "--max-task-concurrency", "4", *FAST,
                     env=moto.env) as manager:  # fmt: skip
            with Client(address=address) as client:
                assert client.map(slow_square, range(50)) == [x * x for x in range(50)]
                assert 1 <= launcher.groups.peak <= 2  # scaled up under the burst, at most 4 workers / 2 per task
                wait_until(lambda: launcher.running_tasks() == [], timeout=90)  # idle: scaled down to no task
                wait_until(lambda: launcher.groups.alive() == [], timeout=15)  # and their processes ended
                # Demand again, then Ctrl-C while its tasks run.
                futures = [client.submit(time.sleep, 5) for _ in range(4)]
                wait_until(lambda: len(launcher.running_tasks()) >= 1, timeout=90)
                # The task's workers report this manager's id, so the scheduler counts them as its workers.
                wait_for_counted_workers(f"tcp://127.0.0.1:{port + 2}", "wm-ecs")
                manager.send_signal(signal.SIGINT)
                manager.wait(30)
                assert launcher.running_tasks() == []  # every task it started was stopped, checked at moto
                del futures
        ecs = moto.client("ecs")
        assert ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]["status"] == "ACTIVE"
        definition = ecs.describe_task_definition(taskDefinition="scaler-task-definition")["taskDefinition"]
        assert definition["cpu"] == "2048" and definition["requiresCompatibilities"] == ["FARGATE"]
        assert moto.client("iam").get_role(RoleName="ecsTaskExecutionRole")["Role"]["Arn"]
        wait_until(lambda: launcher.groups.alive() == [], timeout=15)


def test_toml_example_from_the_documents(moto: MotoStandIn, tmp_path: Path) -> None:
    port = free_port_block()
    config = tmp_path / "config.toml"
    config.write_text(f"""
[scheduler]
scheduler_address = "tcp://127.0.0.1:{port}"
policy_content = "allocate=even_load; scaling=vanilla"
logging_level = "WARNING"

[[worker_manager]]
type = "aws_raw_ecs"
scheduler_address = "tcp://127.0.0.1:{port}"
object_storage_address = "tcp://127.0.0.1:{port + 1}"
worker_manager_id = "wm-ecs"
ecs_subnets = "{subnets(moto)}"
ecs_cluster = "{CLUSTER}"
ecs_task_definition = "scaler-task-definition"
ecs_task_image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/scaler-ecs-worker:latest"
aws_region = "us-east-1"
ecs_task_cpu = 2
max_task_concurrency = 2
heartbeat_interval_seconds = 0.5
ecs_status_interval_seconds = 1
""")
    launcher = EcsLocalLauncher(moto, CLUSTER)
    with launcher.running():
        with command("scaler", str(config), env=moto.env):
            wait_for_port(port)
            with Client(address=f"tcp://127.0.0.1:{port}") as client:
                assert client.map(slow_square, range(50)) == [x * x for x in range(50)]
            assert launcher.groups.peak == 1
        assert launcher.running_tasks() == []  # the launcher's SIGTERM stopped every task
    definition = moto.client("ecs").describe_task_definition(taskDefinition="scaler-task-definition")
    image = definition["taskDefinition"]["containerDefinitions"][0]["image"]
    assert image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/scaler-ecs-worker:latest"


def test_the_other_projects_image_is_refused() -> None:
    # The documents' default image runs another project's Scaler, whose workers cannot talk to this scheduler.
    result = run("scaler_worker_manager", "aws_raw_ecs", "tcp://127.0.0.1:1", "--ecs-subnets", "subnet-1",
                 "--ecs-task-image", "public.ecr.aws/v4u8j8r6/scaler:latest")  # fmt: skip
    assert result.returncode == 2 and "another project's Scaler image" in result.stderr
    assert "Dockerfile.ecs_worker" in result.stderr


def test_the_image_entrypoint_installs_nothing_when_asked_nothing_and_runs_the_command(tmp_path: Path) -> None:
    entrypoint = Path(scaler.__file__).parent / "worker_manager_adapter" / "aws_raw_ecs" / "utility" / "entrypoint.sh"
    out = tmp_path / "out"
    env = {"PATH": "/usr/bin:/bin", "PYTHON_REQUIREMENTS": " ; ", "COMMAND": f"echo ran > {out}"}
    subprocess.run(["sh", str(entrypoint)], env=env, check=True, timeout=30)
    assert out.read_text() == "ran\n"
    missing = subprocess.run(["sh", str(entrypoint)], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert missing.returncode != 0 and "COMMAND is not set" in missing.stderr


def test_missing_subnets_flag_is_named() -> None:
    result = run("scaler_worker_manager", "aws_raw_ecs", f"tcp://127.0.0.1:{free_port_block()}")
    assert result.returncode == 2 and "ecs_subnets" in result.stderr.replace("-", "_")
