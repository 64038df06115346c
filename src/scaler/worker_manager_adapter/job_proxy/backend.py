"""The small interface an external job system implements (AWS Batch, OCI container instances, Symphony)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class JobOutcome:
    """A finished job. ``output`` is the runner's output (see payload.run_payload); ``error`` explains a job
    that ended without output (it failed to start, was killed, or its output object was lost)."""

    job_key: str
    output: bytes | None
    error: str = ""


class JobBackend(Protocol):
    def submit(self, job_key: str, payload: bytes) -> None:
        """Start a job running ``payload``; ``job_key`` is unique and names it in outcomes and cancels."""
        ...

    def poll(self) -> list[JobOutcome]:
        """Jobs that finished since the last call. Called every ``poll_interval_seconds`` from the loop: it must
        not block for long (do the slow calls in a thread of the backend's own if needed)."""
        ...

    def cancel(self, job_key: str) -> None:
        """Stop a running job and release what it holds; no outcome is expected for it afterwards."""
        ...

    def close(self) -> None:
        """Cancel every job and release everything (called once, at exit)."""
        ...
