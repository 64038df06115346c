"""The oci_raw provisioner against the stand-in, without a scheduler: units, adoption, failures, and the command."""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler.config import resolve_config
from scaler.worker_manager_adapter.oci_common.gateway import OciGateway
from scaler.worker_manager_adapter.oci_common.models import InstanceSpec, OciConnection
from scaler.worker_manager_adapter.oci_raw.config import OciRawConfig
from scaler.worker_manager_adapter.oci_raw.manager import worker_command
from scaler.worker_manager_adapter.oci_raw.provisioner import OciRawProvisioner, RawUnitSettings
from scaler.worker_manager_adapter.provisioner import UnitExit
from tests.conftest import wait_until
from tests.worker_manager_adapter.oci_standin.standin import AVAILABILITY_DOMAIN, COMPARTMENT_ID, SUBNET_ID, StandIn

pytestmark = pytest.mark.cloud

SLEEPER = "standin.ocir.io/standinns/sleeper:1"
ENTRYPOINT = Path(__file__).parents[3] / "src/scaler/worker_manager_adapter/oci_raw/utility/entrypoint.sh"


@pytest.fixture
def gateway(standin: StandIn, oci_config_file: Path) -> OciGateway:
    standin.runtime.images[SLEEPER] = ["sh", "-c", 'exec sh -c "$COMMAND"']
    return OciGateway.connect(
        OciConnection(standin.region, config_file=str(oci_config_file), endpoint=standin.endpoint)
    )


def settings(command: str = "sleep 600", start_timeout: float = 30.0) -> RawUnitSettings:
    template = InstanceSpec("", COMPARTMENT_ID, AVAILABILITY_DOMAIN, SUBNET_ID, "CI.Standard.E4.Flex", 2.0, 8.0,
                            SLEEPER, {}, {}, "NEVER")  # fmt: skip
    return RawUnitSettings("wm-units", 2, template, lambda suffix: command, {}, 0.2, start_timeout)


@pytest.fixture
def provisioners(gateway: OciGateway) -> Iterator[list[OciRawProvisioner]]:
    made: list[OciRawProvisioner] = []
    yield made
    for provisioner in made:
        provisioner.terminate()


def active(standin: StandIn) -> int:
    return sum(1 for instance in standin.instances() if instance.state == "ACTIVE")


def test_units_scale_and_a_restarted_manager_adopts_them(
    standin: StandIn, gateway: OciGateway, provisioners: list[OciRawProvisioner]
) -> None:
    first = OciRawProvisioner(gateway, settings())
    provisioners.append(first)
    first.start_units(3)
    assert first.live_units() == 3  # counted at once: convergence must not ask again while instances boot
    wait_until(lambda: active(standin) == 3, timeout=20)
    names = {i.request["displayName"] for i in standin.instances()}
    assert all(name.startswith("scaler-wm-units-") for name in names)
    assert all(i.request["freeformTags"]["scaler-manager-id"] == "wm-units" for i in standin.instances())
    first.stop_units(1)
    assert first.live_units() == 2
    wait_until(lambda: len(standin.live_instances()) == 2)

    second = OciRawProvisioner(gateway, settings())  # the same manager id, as after a crash and restart
    provisioners.append(second)
    assert second.recover() == 2 and second.live_units() == 2
    second.terminate()
    wait_until(lambda: standin.live_instances() == [] and standin.running_processes() == 0)
    assert first.collect_exits() == []


def test_ended_and_stuck_instances_are_reported_with_the_services_message(
    standin: StandIn, gateway: OciGateway, provisioners: list[OciRawProvisioner]
) -> None:
    crashing = OciRawProvisioner(gateway, settings(command="exit 3"))
    provisioners.append(crashing)
    crashing.start_units(1)
    exits: list[UnitExit] = []
    wait_until(lambda: bool(exits.extend(crashing.collect_exits()) or exits), timeout=20)
    assert "ended FAILED: Container 'main' exited with code 3" in exits[0].reason
    assert len(exits[0].worker_ids) == 2 and exits[0].worker_ids[0].startswith(b"Worker|OCI_RAW-")
    assert crashing.live_units() == 0
    wait_until(lambda: standin.live_instances() == [])  # the failed instance was deleted

    standin.runtime.create_delay = 5.0
    stuck = OciRawProvisioner(gateway, dataclasses.replace(settings(start_timeout=0.5)))
    provisioners.append(stuck)
    stuck.start_units(1)
    exits.clear()
    wait_until(lambda: bool(exits.extend(stuck.collect_exits()) or exits), timeout=20)
    assert "not ACTIVE after 0.5s (CREATING" in exits[0].reason


def test_worker_command_and_requirements(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("scaler[oci]\nnumpy\n")
    config = resolve_config(OciRawConfig, cli={
        "scheduler_address": "tcp://10.0.0.1:8516", "worker_manager_id": "wm-oci-raw", "compartment_id": COMPARTMENT_ID,
        "availability_domain": "AD-1", "subnet_id": SUBNET_ID, "container_image": "img", "python_version": "3.12",
        "requirements_txt": str(requirements), "instance_ocpus": "4", "per_worker_capabilities": "linux,gpu=2",
        "task_timeout_seconds": "60", "hard_processor_suspend": True, "worker_scheduler_address": "tcp://1.2.3.4:8516",
    })  # fmt: skip
    assert config.requirements_txt == "scaler[oci]\nnumpy\n"  # a path is read; inline text is kept as it is
    assert config.max_task_concurrency == -1 and config.instance_memory_gb == 30.0
    assert config.oci_region == "us-ashburn-1" and config.instance_shape == "CI.Standard.E4.Flex"
    assert config.auth_type == "config_file" and config.oci_profile == "DEFAULT"
    command = shlex.split(worker_command(config, "ab12cd34"))
    assert command[:12] == ["scaler_worker_manager", "baremetal_native", "tcp://1.2.3.4:8516", "--mode", "fixed",
                            "--max-task-concurrency", "4", "--worker-manager-id", "wm-oci-raw", "--worker-type",
                            "OCI_RAW-ab12cd34", "--per-worker-capabilities"]  # fmt: skip
    assert "linux,gpu=2" in command and "--hard-processor-suspend" in command
    assert command[command.index("--task-timeout-seconds") + 1] == "60.0"
    assert "--logging-paths" not in command and "--heartbeat-interval-seconds" not in command


@pytest.mark.parametrize("requirements", ["", "# nothing: the image has everything\n\n"])
def test_entrypoint_skips_the_install_when_there_is_nothing_to_install(tmp_path: Path, requirements: str) -> None:
    log = run_entrypoint(tmp_path, requirements)
    assert "uv " not in log and "ran with PATH=" in log


def test_entrypoint_installs_requirements_with_uv(tmp_path: Path) -> None:
    log = run_entrypoint(tmp_path, "scaler[oci]  # the workers\n\nnumpy==2.*\npkg @ https://x/p.whl#sha256=ab\n")
    assert f"uv venv --python 3.11 {tmp_path}/venv" in log
    assert f"uv pip install --python {tmp_path}/venv/bin/python -r" in log
    requirements = [line.split("requirement: ", 1)[1] for line in log.splitlines() if "requirement: " in line]
    assert requirements == ["scaler[oci]", "numpy==2.*", "pkg @ https://x/p.whl#sha256=ab"]
    assert f"ran with PATH={tmp_path}/venv/bin:" in log  # the installed environment comes first


def run_entrypoint(tmp_path: Path, requirements: str) -> str:
    log = tmp_path / "uv.log"
    image_bin = Path(__file__).parents[1] / "oci_standin" / "image_bin"
    env = {"PATH": f"{image_bin}:/usr/bin:/bin", "FAKE_UV_LOG": str(log), "PYTHON_REQUIREMENTS": requirements,
           "PYTHON_VERSION": "3.11", "SCALER_VENV": str(tmp_path / "venv"), "TMPDIR": str(tmp_path),
           "COMMAND": f'echo "ran with PATH=$PATH" >> {log}'}  # fmt: skip
    subprocess.run(["bash", str(ENTRYPOINT)], env=env, check=True, timeout=30, stdin=subprocess.DEVNULL)
    return log.read_text()


def test_entrypoint_requires_a_command() -> None:
    result = subprocess.run(["bash", str(ENTRYPOINT)], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert result.returncode != 0 and "COMMAND is not set" in result.stderr
