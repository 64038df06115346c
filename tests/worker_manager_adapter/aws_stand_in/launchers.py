"""Stand-ins for the compute that moto cannot provide: ECS tasks and EC2 instances as local processes.

Each launcher watches moto through the public API (nothing in moto is patched) and plays the part of the
machine: a task that should run gets a local process running exactly the command the adapter gave it (the
``COMMAND`` environment of an ECS task, the user data of an EC2 instance), in a process group of its own,
with the venv's bin first on PATH; when AWS would stop the machine, the launcher ends that group.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.worker_manager_adapter.aws_stand_in.moto_stand_in import MotoStandIn

POLL_SECONDS = 0.2


class _ProcessGroups:
    """Local processes by machine id; each is a process-group leader, ended with its group and only that."""

    def __init__(self) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.started: list[str] = []
        self.peak = 0

    def start(self, key: str, argv: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes[key] = process
        self.started.append(key)
        self.peak = max(self.peak, len(self.alive()))

    def alive(self) -> list[str]:
        return [key for key, process in self.processes.items() if process.poll() is None]

    def end(self, key: str, whole_group: bool) -> None:
        """SIGTERM the leader (a container's PID 1) or the whole group (a machine shutting down), then after a
        grace period SIGKILL whatever is left of the group, as a container or machine teardown would."""
        process = self.processes.get(key)
        if process is None:
            return
        if whole_group:
            _signal_group(process, signal.SIGTERM)
        elif process.poll() is None:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _group_alive(process) and time.monotonic() < deadline:
            process.poll()  # reap the leader, so that the group check sees only the rest
            time.sleep(0.05)
        _signal_group(process, signal.SIGKILL)
        process.wait()

    def end_all(self, whole_group: bool) -> None:
        for key in list(self.processes):
            self.end(key, whole_group)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)  # the group this launcher created for this machine (start_new_session)
    except ProcessLookupError:
        pass


@contextmanager
def _watching(step: Callable[[], None], groups: _ProcessGroups, whole_group: bool) -> Iterator[None]:
    stopping = threading.Event()

    def loop() -> None:
        while not stopping.is_set():
            try:
                step()
            except Exception as error:  # e.g. the cluster does not exist yet
                if "NotFound" not in type(error).__name__ and "NotFound" not in str(error):
                    print(f"launcher: {error!r}")
            stopping.wait(POLL_SECONDS)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(10)
        groups.end_all(whole_group)


class EcsLocalLauncher:
    """Runs every RUNNING task of ``cluster`` as ``sh -c "$COMMAND"`` with the task's environment overrides."""

    def __init__(self, moto: MotoStandIn, cluster: str) -> None:
        self._moto = moto
        self._cluster = cluster
        self._ecs = moto.client("ecs")
        self.groups = _ProcessGroups()

    @contextmanager
    def running(self) -> Iterator[EcsLocalLauncher]:
        with _watching(self._step, self.groups, whole_group=False):
            yield self

    def running_tasks(self) -> list[str]:
        arns: list[str] = self._ecs.list_tasks(cluster=self._cluster, desiredStatus="RUNNING")["taskArns"]
        return arns

    def _step(self) -> None:
        running = set(self.running_tasks())
        new = [arn for arn in running if arn not in self.groups.processes]
        if new:
            for task in self._ecs.describe_tasks(cluster=self._cluster, tasks=new)["tasks"]:
                env = {**os.environ, **self._moto.env}
                for override in task.get("overrides", {}).get("containerOverrides", []):
                    env.update({item["name"]: item["value"] for item in override.get("environment", [])})
                # The image's entrypoint execs the command, so that it is PID 1 and gets `docker stop`'s SIGTERM.
                self.groups.start(task["taskArn"], ["sh", "-c", f"exec {env['COMMAND']}"], env)
        for arn in list(self.groups.processes):
            process = self.groups.processes[arn]
            if arn not in running:
                self.groups.end(arn, whole_group=False)  # stop_task: Fargate stops the container
            elif process.poll() is not None:  # the container exited by itself: ECS stops the task
                self._ecs.stop_task(cluster=self._cluster, task=arn, reason="Essential container in task exited")


class Ec2LocalLauncher:
    """Runs the user data of every ``running`` instance with bash; ends it when the instance leaves running."""

    def __init__(self, moto: MotoStandIn) -> None:
        self._moto = moto
        self._ec2 = moto.client("ec2")
        self.groups = _ProcessGroups()

    @contextmanager
    def running(self) -> Iterator[Ec2LocalLauncher]:
        with _watching(self._step, self.groups, whole_group=True):
            yield self

    def instances(self, state: str = "running") -> list[str]:
        filters = [{"Name": "instance-state-name", "Values": [state]}]
        reservations: list[dict[str, Any]] = self._ec2.describe_instances(Filters=filters)["Reservations"]
        return [instance["InstanceId"] for r in reservations for instance in r["Instances"]]

    def _step(self) -> None:
        running = set(self.instances())
        for instance_id in running:
            if instance_id not in self.groups.processes:
                answer = self._ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
                script = base64.b64decode(answer.get("UserData", {}).get("Value", "")).decode()
                self.groups.start(instance_id, ["bash", "-c", script], {**os.environ, **self._moto.env})
        for instance_id in list(self.groups.processes):
            if instance_id not in running:
                self.groups.end(instance_id, whole_group=True)
