"""The only module that calls ``soamapi``, IBM Spectrum Symphony's Python API.

``soamapi`` ships with Symphony (compiled for particular Python versions, next to Symphony's shared libraries)
and is not on PyPI, so it is imported only when a gateway or the service starts, and its absence is reported
in one line that says where it comes from.

Both sides live here: ``SoamGateway`` is the client side used by the worker manager (one connection, one
session, a task per job), and ``run_service`` is the Symphony service that runs a job payload on a compute
host (``python -m scaler.worker_manager_adapter.symphony.service``).
"""

from __future__ import annotations

import array
import importlib
import logging
import queue
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

logger = logging.getLogger("scaler.symphony")

SESSION_TYPE = "RecoverableAllHistoricalData"


class SymphonyUnavailableError(RuntimeError):
    """``soamapi`` cannot be imported on this machine."""


def import_soamapi() -> ModuleType:
    try:
        soamapi: ModuleType = importlib.import_module("soamapi")
    except ImportError as error:
        raise SymphonyUnavailableError(
            f"the symphony worker manager needs IBM Spectrum Symphony's soamapi module, which ships with Symphony "
            f"and is not on PyPI: add Symphony's pythonapi directory to PYTHONPATH and its lib64 directory to "
            f"LD_LIBRARY_PATH ({error})"
        ) from None
    return soamapi


@dataclass(frozen=True)
class SoamResult:
    """A SOAM task that ended: its output, or why it has none."""

    task_id: str
    output: bytes | None
    error: str = ""


def _message_class(soam: ModuleType) -> type[Any]:
    """A SOAM message carrying one byte string (a job payload or a job outcome)."""

    class BytesMessage(soam.Message):  # type: ignore[name-defined,misc]
        def __init__(self, payload: bytes = b"") -> None:
            super().__init__()
            self.payload = payload

        def on_serialize(self, stream: Any) -> None:
            data = array.array("b", self.payload)
            stream.write_byte_array(data, 0, len(data))

        def on_deserialize(self, stream: Any) -> None:
            data = stream.read_byte_array("b")
            self.payload = data.tobytes() if isinstance(data, array.array) else bytes(data)

    return BytesMessage


def _describe_failure(handle: Any) -> str:
    try:
        exception = handle.get_exception()
        embedded = exception.get_embedded_exception() if exception is not None else None
        return str(embedded if embedded is not None else exception)
    except Exception as error:  # describing the failure must not lose the failure itself
        return f"(no description: {error})"


class SoamGateway:
    """One connection to a Symphony application and one session in it; outputs arrive through callbacks on
    Symphony's threads and are queued until ``results()`` takes them."""

    def __init__(self, application: str, session_name: str) -> None:
        self._soam = import_soamapi()
        self._results: queue.SimpleQueue[SoamResult] = queue.SimpleQueue()
        self._session_error: str | None = None
        self._lock = threading.Lock()
        self._message = _message_class(self._soam)
        self._soam.initialize()
        security = self._soam.DefaultSecurityCallback("Guest", "Guest")
        self._connection = self._soam.connect(application, security)
        attributes = self._soam.SessionCreationAttributes()
        attributes.set_session_type(SESSION_TYPE)
        attributes.set_session_name(session_name)
        attributes.set_session_flags(self._soam.SessionFlags.PARTIAL_ASYNC)
        attributes.set_session_callback(self._make_callback())
        self._session = self._connection.create_session(attributes)
        logger.info("connected to Symphony application %r, session %s", application, self._session.get_id())

    def _make_callback(self) -> Any:
        gateway = self

        class Callback(self._soam.SessionCallback):  # type: ignore[name-defined,misc]
            def on_response(self, handle: Any) -> None:
                gateway._on_response(handle)

            def on_exception(self, exception: Any) -> None:
                with gateway._lock:
                    gateway._session_error = str(exception)

        return Callback()

    def _on_response(self, handle: Any) -> None:
        task_id = str(handle.get_id())
        try:
            if handle.is_successful():
                message = self._message()
                handle.populate_task_output(message)
                self._results.put(SoamResult(task_id, message.payload))
            else:
                self._results.put(SoamResult(task_id, None, f"Symphony task failed: {_describe_failure(handle)}"))
        except Exception as error:  # a callback that raises would be swallowed by Symphony: report it instead
            self._results.put(SoamResult(task_id, None, f"could not read the Symphony task's output: {error}"))

    def send(self, payload: bytes) -> str:
        """Submit one SOAM task; returns its task id."""
        attributes = self._soam.TaskSubmissionAttributes()
        attributes.set_task_input(self._message(payload))
        return str(self._session.send_task_input(attributes).get_id())

    def results(self) -> list[SoamResult]:
        taken = []
        while True:
            try:
                taken.append(self._results.get_nowait())
            except queue.Empty:
                return taken

    def session_error(self) -> str | None:
        """Why the session failed as a whole (Symphony's on_exception), if it did."""
        with self._lock:
            return self._session_error

    def close(self) -> None:
        for step in (self._session.close, self._connection.close, self._soam.uninitialize):
            try:
                step()
            except Exception as error:  # closing is best effort: the manager is exiting anyway
                logger.warning("closing the Symphony session: %s", error)


def run_service() -> None:
    """The Symphony service: each SOAM task's input is a job payload, its output the job's outcome."""
    from scaler.worker_manager_adapter.job_proxy.payload import run_payload

    soam = import_soamapi()
    message_class = _message_class(soam)

    class ScalerService(soam.ServiceContainer):  # type: ignore[name-defined,misc]
        def on_invoke(self, task_context: Any) -> None:
            request = message_class()
            task_context.populate_task_input(request)
            task_context.set_task_output(message_class(run_payload(request.payload)))

    ScalerService().run()
