"""Jobs as SOAM tasks: the JobBackend of the symphony worker manager."""

from __future__ import annotations

from typing import Protocol

from scaler.worker_manager_adapter.job_proxy.backend import JobOutcome
from scaler.worker_manager_adapter.symphony.gateway import SoamResult


class SoamSession(Protocol):
    def send(self, payload: bytes) -> str: ...

    def results(self) -> list[SoamResult]: ...

    def session_error(self) -> str | None: ...

    def close(self) -> None: ...


class SymphonyBackend:
    def __init__(self, session: SoamSession) -> None:
        self._session = session
        self._job_keys: dict[str, str] = {}  # SOAM task id -> job key

    def submit(self, job_key: str, payload: bytes) -> None:
        self._job_keys[self._session.send(payload)] = job_key

    def poll(self) -> list[JobOutcome]:
        outcomes = []
        for result in self._session.results():
            job_key = self._job_keys.pop(result.task_id, None)
            if job_key is not None:  # None: cancelled or timed out, its output is discarded
                outcomes.append(JobOutcome(job_key, result.output, result.error))
        error = self._session.session_error()
        if error is not None and self._job_keys:
            outcomes.extend(
                JobOutcome(key, None, f"the Symphony session failed: {error}") for key in self._job_keys.values()
            )
            self._job_keys.clear()
        return outcomes

    def cancel(self, job_key: str) -> None:
        # soamapi has no call to abort one task of a session: the SOAM task runs on and its output is dropped.
        for task_id, key in list(self._job_keys.items()):
            if key == job_key:
                del self._job_keys[task_id]

    def close(self) -> None:
        self._job_keys.clear()
        self._session.close()
