"""What makes a stand-in container instance run: a local process started with the container's command and env.

An instance leaves CREATING after ``create_delay`` seconds: its image is looked up in the stand-in's image table
(image URL -> the entrypoint it would have), and the process starts in a session of its own, with the container's
environment plus a Resource Principal session (OCI_RESOURCE_PRINCIPAL_VERSION 2.2, RPST, private key, region),
as OCI injects one into a container instance. An unknown image fails the instance the way a failed pull does.
The process's exit sets INACTIVE (code 0) or FAILED (any other code); a delete stops its whole process group
(SIGTERM, then SIGKILL) and ends in DELETED. Every process is one this runtime started, signalled by its id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from tests.worker_manager_adapter.oci_standin.keys import Keyring
from tests.worker_manager_adapter.oci_standin.model import CloudState, Instance

TICK_SECONDS = 0.05
KILL_GRACE_SECONDS = 3.0


class ContainerRuntime:
    def __init__(
        self,
        state: CloudState,
        keyring: Keyring,
        region: str,
        images: Mapping[str, Sequence[str]],
        base_env: Mapping[str, str],
        log_dir: Path,
        create_delay: float,
    ) -> None:
        self.images = dict(images)
        self.create_delay = create_delay
        self._state = state
        self._keyring = keyring
        self._region = region
        self._base_env = dict(base_env)
        self.log_dir = log_dir
        self._processes: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}
        self._terminated_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oci-standin-runtime", daemon=True)
        self._thread.start()

    def log_of(self, instance: Instance) -> str:
        path = self._log_path(instance)
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for instance_id in list(self._processes):
            self._kill(instance_id, signal.SIGKILL)
        for process, log in self._processes.values():
            process.wait()
            log.close()
        self._processes.clear()

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            self.tick(time.monotonic())

    def tick(self, now: float) -> None:
        with self._state.lock:
            instances = [i for i in self._state.instances.values() if i.state in ("CREATING", "ACTIVE", "DELETING")]
        for instance in instances:
            if instance.state == "CREATING" and now - instance.created_at >= self.create_delay:
                self._launch(instance)
            elif instance.state == "ACTIVE":
                self._check_exit(instance)
            elif instance.state == "DELETING":
                self._finish_delete(instance, now)

    def _launch(self, instance: Instance) -> None:
        container = instance.request["containers"][0]
        image = container["imageUrl"]
        entrypoint = self.images.get(image)
        if entrypoint is None:
            with self._state.lock:
                if instance.state == "CREATING":
                    instance.set_state("FAILED", f"Failed to pull image '{image}': manifest unknown or access denied")
            return
        token, pem = self._keyring.issue_session(instance.request["compartmentId"], instance.id)
        environment = {
            **self._base_env,
            **container.get("environmentVariables", {}),
            "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
            "OCI_RESOURCE_PRINCIPAL_RPST": token,
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": pem,
            "OCI_RESOURCE_PRINCIPAL_REGION": self._region,
        }
        command = list(container.get("command") or entrypoint) + list(container.get("arguments") or [])
        workdir = self.log_dir / f"root-{instance.id[-12:]}"
        workdir.mkdir(exist_ok=True)
        log = open(self._log_path(instance), "ab")  # closed when the process is reaped
        with self._state.lock:
            if instance.state != "CREATING":  # deleted while it was being created
                log.close()
                return
            try:
                process = subprocess.Popen(
                    command, env=environment, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            except OSError as error:
                log.close()
                instance.set_state("FAILED", f"Container failed to start: {error}")
                return
            self._processes[instance.id] = (process, log)
            instance.set_state("ACTIVE", "Container instance is running")

    def _check_exit(self, instance: Instance) -> None:
        entry = self._processes.get(instance.id)
        if entry is None:
            return
        code = entry[0].poll()
        if code is None:
            return
        self._kill(instance.id, signal.SIGKILL)  # what the container's main process left behind goes with it
        self._reap(instance.id)
        with self._state.lock:
            if instance.state != "ACTIVE":
                return
            if code == 0:
                instance.set_state("INACTIVE", "All containers exited (exit code 0)")
            else:
                name = instance.request["containers"][0].get("displayName", "container")
                instance.set_state("FAILED", f"Container '{name}' exited with code {code}")

    def _finish_delete(self, instance: Instance, now: float) -> None:
        entry = self._processes.get(instance.id)
        if entry is not None and entry[0].poll() is None:
            first = self._terminated_at.setdefault(instance.id, now)
            if first == now:
                self._kill(instance.id, signal.SIGTERM)
            elif now - first > KILL_GRACE_SECONDS:
                self._kill(instance.id, signal.SIGKILL)
            return
        if entry is not None:
            self._kill(instance.id, signal.SIGKILL)  # the main process is gone; so must its children be
            self._reap(instance.id)
        with self._state.lock:
            instance.set_state("DELETED", "Container instance deleted")

    def _kill(self, instance_id: str, signum: int) -> None:
        entry = self._processes.get(instance_id)
        if entry is None:
            return
        try:
            os.killpg(entry[0].pid, signum)  # the session started for this instance's process
        except (ProcessLookupError, PermissionError):
            pass

    def _reap(self, instance_id: str) -> None:
        process, log = self._processes.pop(instance_id)
        process.wait()
        log.close()
        self._terminated_at.pop(instance_id, None)

    def _log_path(self, instance: Instance) -> Path:
        name = instance.request.get("displayName") or "instance"
        return self.log_dir / f"{name}-{instance.id[-12:]}.log"
