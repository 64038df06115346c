"""The aws_hpc provisioner against moto: provision creates a working set-up, cleanup removes it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scaler.worker_manager_adapter.aws_hpc.utility.provisioner import main
from tests.worker_manager_adapter.aws_stand_in.moto_stand_in import moto_stand_in

pytestmark = pytest.mark.cloud


def test_provision_show_and_cleanup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, env_file = tmp_path / "state.json", tmp_path / "batch.env"
    files = ["--config", str(state), "--env-file", str(env_file)]
    with moto_stand_in() as moto:
        assert main(["provision", "--image", "example/job-runner:latest", "--memory", "3000", *files]) == 0
        created = json.loads(state.read_text())
        batch = moto.client("batch")
        queue = batch.describe_job_queues(jobQueues=[created["job_queue"]])["jobQueues"][0]
        assert queue["state"] == "ENABLED"
        definition = batch.describe_job_definitions(jobDefinitionName=created["job_definition"])["jobDefinitions"][0]
        assert definition["containerProperties"]["command"] == ["python3", "/opt/scaler/job_runner.py"]
        assert {"type": "MEMORY", "value": "4096"} in definition["containerProperties"]["resourceRequirements"]
        rules = moto.client("s3").get_bucket_lifecycle_configuration(Bucket=created["s3_bucket"])["Rules"]
        assert rules[0]["Expiration"] == {"Days": 1}
        assert f"export SCALER_JOB_QUEUE={created['job_queue']}" in env_file.read_text()
        assert main(["show", *files]) == 0 and created["s3_bucket"] in capsys.readouterr().out
        assert main(["cleanup", *files]) == 0
        assert not state.exists()
        assert batch.describe_job_queues(jobQueues=[created["job_queue"]])["jobQueues"] == []
        assert created["s3_bucket"] not in [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]
        roles = [r["RoleName"] for r in moto.client("iam").list_roles()["Roles"]]
        assert not [role for role in roles if role.startswith("scaler-batch-")]
    assert "AWS_ENDPOINT_URL" not in os.environ or os.environ["AWS_ENDPOINT_URL"] != moto.endpoint
