"""AWS on loopback: an in-process moto server, plus the one thing moto cannot do, running the work.

``moto_stand_in()`` starts a ``ThreadedMotoServer`` on a free 127.0.0.1 port and yields a ``MotoStandIn``
whose ``env`` points boto3 (in this process and in the processes the tests start) at it through the standard
``AWS_ENDPOINT_URL``; the adapters need nothing test-specific. It also
- selects moto's docker-less Batch backend and hooks it (moto internals, hence the pinned moto version) so that
  each Batch job runs its job definition's command as a local process, RUNNING until that process exits;
- pins ECS tasks to RUNNING until they are stopped (moto moves them along one state per DescribeTasks);
- loads AWS managed IAM policies (the ECS execution role attaches one).
ECS tasks and EC2 instances are run by the launchers in ``launchers.py``, which watch the public API.
"""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BIN = str(Path(sys.executable).parent)
REPOSITORY = Path(__file__).resolve().parents[3]
JOB_RUNNER = REPOSITORY / "src" / "scaler" / "worker_manager_adapter" / "aws_hpc" / "job_runner.py"
IMAGE_RUNNER = "/opt/scaler/job_runner.py"  # where the job image (utility/Dockerfile.batch) keeps the runner
REGION = "us-east-1"


@dataclass
class MotoStandIn:
    endpoint: str
    env: dict[str, str]
    batch_processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    batch_running: int = 0
    batch_peak_running: int = 0  # the most Batch jobs ever running at once
    batch_exit_codes: list[int] = field(default_factory=list)  # of the Batch jobs that ended
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count_batch_job(self, delta: int) -> None:
        with self._lock:
            self.batch_running += delta
            self.batch_peak_running = max(self.batch_peak_running, self.batch_running)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)


_current: MotoStandIn | None = None


def _local_command(command: list[str]) -> list[str]:
    """The job image's command, as this machine runs it: the venv's python and the runner from the source tree."""
    mapped = []
    for part in command:
        if part in ("python", "python3"):
            part = sys.executable
        elif part == IMAGE_RUNNER:
            part = str(JOB_RUNNER)
        mapped.append(part)
    return mapped


def _run_batch_job_locally(self: Any, include_start_attempt: bool, job: Any) -> None:
    """Replaces BatchSimpleBackend._mark_job_as_finished: start the job's command instead of faking success."""
    self.backend._jobs[job.job_id] = job
    job.job_started_at = datetime.datetime.now()
    job.log_stream_name = job._stream_name
    job.status = "RUNNING"
    if not include_start_attempt or _current is None:  # an array parent: its children do the work
        return
    job._start_attempt()
    command = _local_command(job._add_parameters_to_command(job._get_container_property("command", [])))
    environment = {**os.environ, **_current.env}
    environment.update({item["name"]: item["value"] for item in job._get_container_property("environment", [])})
    if "index" in job.array_properties:
        environment["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.array_properties["index"])
    stand_in = _current
    process = subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL)
    stand_in.batch_processes.append(process)
    stand_in.count_batch_job(+1)
    limit = (job.timeout or {}).get("attemptDurationSeconds")
    started = time.monotonic()

    def wait() -> None:
        reason = None
        while True:
            try:
                process.wait(0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            if job.stop:
                process.kill()
            elif limit and time.monotonic() - started > limit:
                reason = "Job attempt duration exceeded timeout"
                process.kill()
        stand_in.batch_exit_codes.append(process.returncode)
        stand_in.count_batch_job(-1)
        job.exit_code = process.returncode
        if process.returncode != 0 and not job.stop:
            job.job_stopped_reason = reason or "Essential container in task exited"
        job._mark_stopped(success=process.returncode == 0)

    threading.Thread(target=wait, daemon=True).start()


@contextmanager
def moto_stand_in() -> Iterator[MotoStandIn]:
    global _current
    from moto.batch_simple.models import BatchSimpleBackend
    from moto.server import ThreadedMotoServer

    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    saved = {key: os.environ.get(key) for key in [*credentials, "MOTO_IAM_LOAD_MANAGED_POLICIES", "AWS_ENDPOINT_URL"]}
    os.environ.update(credentials, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    original_hook = BatchSimpleBackend._mark_job_as_finished
    try:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        requests.post(f"{endpoint}/moto-api/config", json={"batch": {"use_docker": False}}, timeout=10)
        transition = {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000_000}}
        requests.post(f"{endpoint}/moto-api/state-manager/set-transition", json=transition, timeout=10)
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"  # the units' commands find the venv's scripts
        env = {**credentials, "AWS_ENDPOINT_URL": endpoint, "PATH": path}
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        _current = MotoStandIn(endpoint, env)
        BatchSimpleBackend._mark_job_as_finished = _run_batch_job_locally  # type: ignore[method-assign]
        yield _current
    finally:
        BatchSimpleBackend._mark_job_as_finished = original_hook  # type: ignore[method-assign]
        if _current is not None:
            for process in _current.batch_processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        _current = None
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
