"""A JobBackend whose jobs are local processes: the shared proxy core tested with real processes."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from scaler.worker_manager_adapter.job_proxy.backend import JobOutcome


class LocalProcessBackend:
    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="scaler-jobs-"))
        self._jobs: dict[str, subprocess.Popen[bytes]] = {}
        self.submitted = 0
        self.cancelled: list[str] = []
        self.max_seen_running = 0

    def submit(self, job_key: str, payload: bytes) -> None:
        (self._dir / f"{job_key}.in").write_bytes(payload)
        command = [sys.executable, "-m", "scaler.worker_manager_adapter.job_proxy.run_file",
                   str(self._dir / f"{job_key}.in"), str(self._dir / f"{job_key}.out")]  # fmt: skip
        self._jobs[job_key] = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        self.submitted += 1
        self.max_seen_running = max(self.max_seen_running, len(self._jobs))

    def poll(self) -> list[JobOutcome]:
        outcomes = []
        for key, process in list(self._jobs.items()):
            code = process.poll()
            if code is None:
                continue
            del self._jobs[key]
            output = self._dir / f"{key}.out"
            if output.exists():
                outcomes.append(JobOutcome(key, output.read_bytes()))
            else:
                outcomes.append(JobOutcome(key, None, f"job process exited with code {code} and no output"))
        return outcomes

    def cancel(self, job_key: str) -> None:
        process = self._jobs.pop(job_key, None)
        if process is not None:
            process.kill()
            process.wait()
            self.cancelled.append(job_key)

    def close(self) -> None:
        for key in list(self._jobs):
            self.cancel(key)
