"""The workers' credentials secret of orb_aws_ec2: what the boot script does with it, and crash cleanup."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from scaler.worker_manager_adapter.orb_aws_ec2.worker_secret import WorkerSecret, boot_lines


class FakeSecrets:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = dict(secrets)
        self.texts: dict[str, str] = {}

    def create_secret(self, name: str, text: str, owner: str) -> None:
        self.secrets[name], self.texts[name] = owner, text

    def temporary_secrets(self) -> dict[str, str]:
        return dict(self.secrets)

    def delete_secret(self, name: str) -> None:
        del self.secrets[name]


def test_a_crashed_managers_secret_is_deleted_by_the_next_one_on_its_host_only() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    api = FakeSecrets({"crashed": f"{host}:{gone.pid}", "running": f"{host}:{os.getpid()}", "remote": "other-host:1"})
    secret = WorkerSecret(api)
    secret.remove_leftovers()
    assert set(api.secrets) == {"running", "remote"}
    name = secret.create("the credentials' text")
    assert api.texts[name] == "the credentials' text" and api.secrets[name] == f"{host}:{os.getpid()}"
    secret.delete()
    assert name not in api.secrets


def test_the_boot_script_reads_the_secret_into_the_environment_or_stops(tmp_path: Path) -> None:
    """Run the boot lines with a stand-in ``scaler_worker_manager`` whose Python prints what it was asked."""
    bin_dir = tmp_path
    fake_python = bin_dir / "python"
    fake_python.write_text('#!/bin/sh\n[ "$4" = "good" ] && printf "text for %s in %s" "$4" "$3" || exit 1\n')
    fake_python.chmod(0o755)
    launcher = bin_dir / "scaler_worker_manager"
    launcher.write_text(f"#!{fake_python}\n")
    launcher.chmod(0o755)
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for name, expected in (("good", "text for good in eu-west-1"), ("missing", "")):
        script = boot_lines("eu-west-1", name) + 'printf "%s" "$SCALER_CREDENTIALS" > "$0.out"\n'
        result = subprocess.run(["bash", "-c", script, str(bin_dir / name)], env=environment, capture_output=True)
        written = (bin_dir / f"{name}.out").read_text() if (bin_dir / f"{name}.out").exists() else ""
        assert written == expected
        assert (result.returncode == 0) == bool(expected)
        if not expected:
            assert b"cannot read the workers' credentials" in result.stderr
