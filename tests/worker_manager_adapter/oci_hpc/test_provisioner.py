"""The oci_hpc provisioner and test harness, as the document runs them, against the stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.worker_manager_adapter.oci_standin.standin import (
    AVAILABILITY_DOMAIN,
    COMPARTMENT_ID,
    JOB_RUNNER_IMAGE,
    SUBNET_ID,
    StandIn,
    standin_images,
)

pytestmark = pytest.mark.cloud

PROVISIONER = "scaler.worker_manager_adapter.oci_hpc.utility.provisioner"
HARNESS = Path(__file__).with_name("oci_hpc_test_harness.py")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)  # fmt: skip


def test_provision_harness_build_image_and_cleanup(standin: StandIn, oci_config_file: Path, tmp_path: Path) -> None:
    env = {"SCALER_OCI_ENDPOINT": standin.endpoint, "OCI_CONFIG_FILE": str(oci_config_file)}
    provision = ["-m", PROVISIONER, "provision", "--compartment-id", COMPARTMENT_ID, "--region", "us-ashburn-1",
                 "--availability-domain", AVAILABILITY_DOMAIN, "--subnet-id", SUBNET_ID]  # fmt: skip
    result = run(*provision, "--job-timeout-seconds", str(10 * 86400), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / ".scaler_oci_config.json").read_text())
    assert set(config["created"]) == {"bucket", "dynamic_group", "policy", "repository"}
    assert config["namespace"] == standin.namespace and config["oci_endpoint"] == standin.endpoint
    assert config["container_image"] == "us-ashburn-1.ocir.io/standinns/scaler-oci/job-runner:latest"
    lifecycle = standin.state.buckets["scaler-tasks"].lifecycle
    assert lifecycle is not None and lifecycle["items"][0]["timeAmount"] == 11  # the job timeout, and a day more
    assert lifecycle["items"][0]["objectNameFilter"]["inclusionPrefixes"] == ["scaler-tasks"]
    (group,) = standin.state.dynamic_groups.values()
    assert COMPARTMENT_ID in group["matchingRule"] and group["compartmentId"] == standin.tenancy_id
    (policy,) = standin.state.policies.values()
    assert any("manage objects" in statement and "scaler-tasks" in statement for statement in policy["statements"])
    for grant in ("manage container-instances", "manage virtual-network-family"):  # what the document promises
        statement = f"Allow dynamic-group {group['name']} to {grant} in compartment id {COMPARTMENT_ID}"
        assert statement in policy["statements"], policy["statements"]
    assert [r["displayName"] for r in standin.state.repositories.values()] == ["scaler-oci/job-runner"]

    again = run(*provision, cwd=tmp_path, env=env)
    assert again.returncode == 1 and "run cleanup first" in again.stderr

    # As if build-image had pushed the image: the stand-in can now run it.
    standin.runtime.images[config["container_image"]] = standin_images()[JOB_RUNNER_IMAGE]
    harness = run(str(HARNESS), "--config", ".scaler_oci_config.json", "--timeout-seconds", "60", cwd=tmp_path)
    assert harness.returncode == 0, harness.stdout + harness.stderr
    assert [line.split()[0] + " " + line.split()[1] for line in harness.stdout.splitlines()[:5]] == [
        "PASS auth", "PASS bucket", "PASS instance", "PASS task", "PASS cleanup"]  # fmt: skip
    assert standin.live_instances() == [] and standin.objects("scaler-tasks") == []

    no_docker = run("-m", PROVISIONER, "build-image", cwd=tmp_path, env={"PATH": str(tmp_path / "empty")})
    assert no_docker.returncode == 1 and "docker ('docker') was not found on PATH" in no_docker.stderr
    assert no_docker.stderr.count("\n") == 1 and "Traceback" not in no_docker.stderr
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "docker.log"}\n')
    fake.chmod(0o755)
    built = run("-m", PROVISIONER, "build-image", "--python-version", "3.11", cwd=tmp_path,
                env={"PATH": f"{fake.parent}:/usr/bin:/bin"})  # fmt: skip
    assert built.returncode == 0, built.stderr
    build, push = (tmp_path / "docker.log").read_text().splitlines()
    assert build.startswith("build --build-arg PYTHON_VERSION=3.11") and config["container_image"] in build
    assert push == f"push {config['container_image']}"

    result = run("-m", PROVISIONER, "cleanup", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / ".scaler_oci_config.json").exists()
    assert not standin.state.buckets and not standin.state.dynamic_groups
    assert not standin.state.policies and not standin.state.repositories
    second = run("-m", PROVISIONER, "cleanup", cwd=tmp_path, env=env)
    assert second.returncode == 0 and "nothing to clean up" in second.stdout


def test_provision_keeps_what_existed_and_reports_bad_input(
    standin: StandIn, oci_config_file: Path, tmp_path: Path
) -> None:
    standin.create_bucket("scaler-tasks")  # the user's own bucket: used, never removed
    env = {"SCALER_OCI_ENDPOINT": standin.endpoint, "OCI_CONFIG_FILE": str(oci_config_file)}
    provision = ["-m", PROVISIONER, "provision", "--compartment-id", COMPARTMENT_ID,
                 "--availability-domain", AVAILABILITY_DOMAIN, "--subnet-id", SUBNET_ID]  # fmt: skip
    result = run(*provision, cwd=tmp_path, env=env)
    assert result.returncode == 0 and "bucket scaler-tasks already exists: kept" in result.stdout
    assert run("-m", PROVISIONER, "cleanup", cwd=tmp_path, env=env).returncode == 0
    assert list(standin.state.buckets) == ["scaler-tasks"] and standin.state.buckets["scaler-tasks"].lifecycle is None

    bad = run("-m", PROVISIONER, "provision", "--compartment-id", "ocid1.vcn.oc1..x", "--availability-domain", "AD-1",
              "--subnet-id", SUBNET_ID, cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and "--compartment-id" in bad.stderr and "compartment or tenancy OCID" in bad.stderr
    missing = run("-m", PROVISIONER, "provision", "--availability-domain", "AD-1", "--subnet-id", SUBNET_ID,
                  cwd=tmp_path, env={"OCI_COMPARTMENT_ID": ""})  # fmt: skip
    assert missing.returncode == 2 and "--compartment-id" in missing.stderr

    untrusted = standin.write_oci_config(tmp_path / "other", trusted=False)
    denied = run(*provision, cwd=tmp_path, env={**env, "OCI_CONFIG_FILE": str(untrusted)})
    assert denied.returncode == 1 and "Traceback" not in denied.stderr
    assert denied.stderr.count("\n") == 1 and "NotAuthenticated (HTTP 401" in denied.stderr
    assert not (tmp_path / ".scaler_oci_config.json").exists()  # nothing was created, so nothing is recorded
