"""The oci_hpc ``JobBackend``: one task = a payload object, a container instance, a result object.

A job's life: queued here until an instance slot is free -> payload uploaded and instance created (a worker
thread) -> running, until a listing shows the instance INACTIVE or FAILED -> its result object read -> instance
deleted, slot freed, outcome reported -> both objects deleted. A result object that is missing (the runner died,
or the object was deleted or expired by the bucket's lifecycle) fails the task with an error that says so.

The slot count is this backend's own: an instance holds its slot until its delete has been accepted, so OCI never
holds more than ``max_instances`` of this manager's instances, even when the proxy has already moved on from a
cancelled or timed-out task. Every SDK call runs in a small thread pool; ``submit``/``poll``/``cancel`` only touch
local state and return at once, so the proxy's event loop never waits on OCI. Throttling and service errors
delay new instances with back-off and are logged once.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scaler.worker_manager_adapter.job_proxy.backend import JobOutcome
from scaler.worker_manager_adapter.oci_common.calls import CallPool
from scaler.worker_manager_adapter.oci_common.models import InstanceInfo, InstanceSpec, OciError
from scaler.worker_manager_adapter.oci_common.pacing import Backoff, OnceLog

if TYPE_CHECKING:
    from scaler.worker_manager_adapter.oci_common.gateway import OciGateway

logger = logging.getLogger("scaler.oci_hpc")

MANAGER_TAG = "scaler-manager-id"
JOB_TAG = "scaler-job"
CLOSE_TIMEOUT_SECONDS = 8.0  # the scaler launcher allows a manager 10 s to stop before it kills it
RETRIES = 4
ENDED_STATES = frozenset({"INACTIVE", "FAILED", "DELETING", "DELETED"})


@dataclass(frozen=True)
class HpcJobSettings:
    manager_id: str
    namespace: str
    bucket: str
    prefix: str
    instance: InstanceSpec  # the template: display name, environment and tags are filled in per job
    max_instances: int
    poll_interval_seconds: float
    runner_environment: dict[str, str] = field(default_factory=dict)  # e.g. the object storage endpoint override

    @property
    def key_prefix(self) -> str:
        """Where this manager's objects live: ``<prefix>/<manager id>/``."""
        return f"{self.prefix.strip('/')}/{self.manager_id.replace('/', '_')}/"


@dataclass
class _Job:
    key: str
    payload: bytes | None
    payload_object: str
    result_object: str
    phase: str = "queued"  # queued -> starting -> running -> finishing -> (released)
    instance_id: str | None = None
    cancelled: bool = False


class OciHpcBackend:
    def __init__(
        self, gateway: OciGateway, settings: HpcJobSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._gateway = gateway
        self._settings = settings
        self._clock = clock
        self._calls = CallPool("oci-hpc")
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._queue: collections.deque[_Job] = collections.deque()
        self._slots_used = 0
        self._outcomes: list[JobOutcome] = []
        self._refreshing = False
        self._last_refresh = 0.0
        self._backoff = Backoff(initial=1.0, maximum=60.0)
        self._errors = OnceLog(logger)
        self._closed = False

    # --- JobBackend ----------------------------------------------------------------------------------------------

    def submit(self, job_key: str, payload: bytes) -> None:
        base = f"{self._settings.key_prefix}{job_key}/"
        job = _Job(job_key, payload, base + "payload.pkl", base + "result.pkl")
        with self._lock:
            self._jobs[job_key] = job
            self._queue.append(job)
        self._pump()

    def poll(self) -> list[JobOutcome]:
        self._pump()
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def cancel(self, job_key: str) -> None:
        with self._lock:
            job = self._jobs.get(job_key)
            if job is None:
                return
            job.cancelled = True
            if job.phase == "queued":
                self._queue.remove(job)
                del self._jobs[job_key]
                return
            if job.phase != "running":
                return  # starting: _start tears it down; finishing: its outcome is dropped
            job.phase = "finishing"
        self._calls.spawn(self._teardown, job, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            running = [job for job in self._jobs.values() if job.phase == "running"]
            for job in self._jobs.values():
                job.cancelled = True
            for job in running:
                job.phase = "finishing"
        for job in running:
            self._calls.spawn(self._teardown, job, None)
        pending = self._calls.wait(CLOSE_TIMEOUT_SECONDS)
        self._calls.shutdown()
        if pending:
            logger.error(
                "oci_hpc: gave up waiting for %d OCI call(s); instances tagged %s=%s may remain",
                len(pending), MANAGER_TAG, self._settings.manager_id,
            )  # fmt: skip

    @property
    def instances_in_use(self) -> int:
        return self._slots_used

    # --- scheduling (any thread) -----------------------------------------------------------------------------------

    def _pump(self) -> None:
        now = self._clock()
        starting: list[_Job] = []
        refresh = False
        with self._lock:
            if self._closed:
                return
            while self._queue and self._slots_used < self._settings.max_instances and self._backoff.ready(now):
                job = self._queue.popleft()
                job.phase = "starting"
                self._slots_used += 1
                starting.append(job)
            due = now - self._last_refresh >= self._settings.poll_interval_seconds
            if due and not self._refreshing and any(job.phase == "running" for job in self._jobs.values()):
                self._refreshing = refresh = True
        for job in starting:
            self._calls.spawn(self._start, job)
        if refresh:
            self._calls.spawn(self._refresh)

    # --- OCI calls (pool threads) --------------------------------------------------------------------------------

    def _start(self, job: _Job) -> None:
        settings = self._settings
        try:
            if job.payload is not None:
                self._gateway.put_object(settings.namespace, settings.bucket, job.payload_object, job.payload)
            # The job key as retry token: a create retried after a lost answer returns the same instance.
            info = self._gateway.create_instance(self._instance_spec(job), retry_token=job.key)
        except OciError as error:
            self._start_failed(job, error)
            return
        self._errors.recovered("start", "creating container instances")
        self._backoff.success()
        with self._lock:
            job.payload = None
            job.instance_id = info.id
            job.phase = "finishing" if job.cancelled else "running"
        if job.cancelled:
            self._teardown(job, None)

    def _start_failed(self, job: _Job, error: OciError) -> None:
        if error.transient:
            delay = self._backoff.failure(self._clock())
            self._errors.failed("start", f"oci_hpc: cannot start container instances now ({error}); next try in "
                                f"{delay:.0f}s")  # fmt: skip
            with self._lock:
                self._slots_used -= 1
                if job.cancelled:
                    self._jobs.pop(job.key, None)
                else:
                    job.phase = "queued"
                    self._queue.appendleft(job)
            return
        logger.error("oci_hpc: task %s: could not start its container instance: %s", job.key, error)
        outcome = JobOutcome(job.key, None, f"could not start the OCI container instance: {error}")
        self._teardown(job, outcome)

    def _refresh(self) -> None:
        settings = self._settings
        try:
            listed = self._gateway.list_instances(
                settings.instance.compartment_id, settings.instance.availability_domain
            )
        except OciError as error:
            self._errors.failed("list", f"oci_hpc: cannot list container instances ({error})")
            listed = None
        with self._lock:
            self._refreshing = False
            self._last_refresh = self._clock()
            running = [job for job in self._jobs.values() if job.phase == "running"]
        if listed is None:
            return
        self._errors.recovered("list", "listing container instances")
        states = {info.id: info for info in listed}
        for job in running:
            assert job.instance_id is not None
            info = states.get(job.instance_id)
            if info is None:
                info = self._get_instance(job.instance_id)  # a listing may lag behind a create
                if info is not None and info.state not in ENDED_STATES:
                    continue
            elif info.state not in ENDED_STATES:
                continue
            with self._lock:
                if job.phase != "running":
                    continue
                job.phase = "finishing"
            self._calls.spawn(self._finish, job, info)

    def _get_instance(self, instance_id: str) -> InstanceInfo | None:
        try:
            return self._gateway.get_instance(instance_id)
        except OciError as error:
            self._errors.failed("get", f"oci_hpc: cannot read container instance {instance_id} ({error})")
            return InstanceInfo(instance_id, "", "UNKNOWN", "")  # keep the job running; try again next time

    def _finish(self, job: _Job, info: InstanceInfo | None) -> None:
        settings = self._settings
        try:
            output = self._gateway.get_object(settings.namespace, settings.bucket, job.result_object)
        except OciError as error:
            if error.transient:
                self._errors.failed("result", f"oci_hpc: cannot read result objects now ({error})")
                with self._lock:
                    job.phase = "running"  # the next listing tries again
                return
            self._teardown(job, JobOutcome(job.key, None, f"cannot read the result object: {error}"))
            return
        if output is not None:
            self._teardown(job, JobOutcome(job.key, output))
            return
        ended = f"ended {info.state}: {info.details}" if info else "was deleted outside this manager"
        where = f"oci://{settings.namespace}/{settings.bucket}/{job.result_object}"
        missing = (
            f"the task's result object {where} is missing (the job did not write it, or it was deleted or expired "
            f"by the bucket's lifecycle policy); its container instance {job.instance_id} {ended}"
        )
        self._teardown(job, JobOutcome(job.key, None, missing))

    def _teardown(self, job: _Job, outcome: JobOutcome | None) -> None:
        """Delete the instance, free the slot, report the outcome (unless cancelled), delete the objects."""
        if job.instance_id is not None:
            self._with_retries("delete container instance", self._gateway.delete_instance, job.instance_id)
        with self._lock:
            self._slots_used -= 1
            self._jobs.pop(job.key, None)
            if outcome is not None and not job.cancelled:
                self._outcomes.append(outcome)
        settings = self._settings
        for name in (job.payload_object, job.result_object):
            self._with_retries("delete object", self._gateway.delete_object, settings.namespace, settings.bucket, name)

    def _with_retries(self, what: str, call: Callable[..., object], *args: str) -> None:
        """A clean-up call, retried a few times while OCI throttles (in a pool thread, where sleeping is fine)."""
        for attempt in range(RETRIES):
            try:
                call(*args)
                return
            except OciError as error:
                if not error.transient or attempt == RETRIES - 1:
                    logger.error("oci_hpc: could not %s %s: %s", what, args[-1], error)
                    return
                time.sleep(min(8.0, 0.5 * 2**attempt))

    def _instance_spec(self, job: _Job) -> InstanceSpec:
        settings = self._settings
        template = settings.instance
        environment = {
            **settings.runner_environment,
            "SCALER_JOB_NAMESPACE": settings.namespace,
            "SCALER_JOB_BUCKET": settings.bucket,
            "SCALER_JOB_PAYLOAD_OBJECT": job.payload_object,
            "SCALER_JOB_RESULT_OBJECT": job.result_object,
        }
        tags = {MANAGER_TAG: settings.manager_id, JOB_TAG: job.key}
        name = f"scaler-{settings.manager_id}-{job.key[:16]}"
        return dataclasses.replace(template, display_name=name, environment=environment, freeform_tags=tags)
