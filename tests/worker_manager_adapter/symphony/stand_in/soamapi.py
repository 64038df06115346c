"""A stand-in for IBM Spectrum Symphony's ``soamapi``, put on PYTHONPATH by the tests only.

It has the client-side calls the symphony worker manager makes (connect, session, send_task_input, callbacks)
and the service-side ``ServiceContainer``. Each SOAM task runs the deployed service the way Symphony would, in
a service process of its own: ``python -m $SOAMAPI_STAND_IN_SERVICE`` reading the task input on stdin. A
service that raises or dies makes the task unsuccessful, with the error as its embedded exception.

Bookkeeping for the tests goes to the JSON file named by ``SOAMAPI_STAND_IN_STATE``: tasks submitted, the
most SOAM tasks ever running at once, and the applications connected to.
"""

from __future__ import annotations

import array
import itertools
import json
import os
import subprocess
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

SERVICE_MODULE = os.environ.get("SOAMAPI_STAND_IN_SERVICE", "scaler.worker_manager_adapter.symphony.service")
STATE_PATH = os.environ.get("SOAMAPI_STAND_IN_STATE", "")


class SoamException(Exception):
    def get_embedded_exception(self) -> str:
        return str(self.args[0]) if self.args else ""


class SessionFlags:
    PARTIAL_ASYNC = 1
    RECEIVE_SYNC = 2


_state_lock = threading.Lock()
_state: dict[str, Any] = {"submitted": 0, "running": 0, "peak_running": 0, "applications": []}


def _update_state(**changes: int) -> None:
    with _state_lock:
        for key, delta in changes.items():
            _state[key] += delta
        _state["peak_running"] = max(_state["peak_running"], _state["running"])
        if STATE_PATH:
            with open(STATE_PATH + ".partial", "w") as file:
                json.dump(_state, file)
            os.replace(STATE_PATH + ".partial", STATE_PATH)


def initialize() -> None:
    pass


def uninitialize() -> None:
    pass


class DefaultSecurityCallback:
    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password


class _Stream:
    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def write_byte_array(self, values: array.array[int], offset: int, length: int) -> None:
        self.data += values[offset : offset + length].tobytes()

    def read_byte_array(self, typecode: str) -> array.array[int]:
        return array.array(typecode, self.data)


class Message:
    def on_serialize(self, stream: _Stream) -> None:
        raise NotImplementedError

    def on_deserialize(self, stream: _Stream) -> None:
        raise NotImplementedError


def _serialize(message: Message) -> bytes:
    stream = _Stream()
    message.on_serialize(stream)
    return stream.data


class TaskSubmissionAttributes:
    def __init__(self) -> None:
        self.task_input: Message | None = None

    def set_task_input(self, message: Message) -> None:
        self.task_input = message


class SessionCallback:
    def on_response(self, task_output_handle: TaskOutputHandle) -> None:
        pass

    def on_exception(self, exception: SoamException) -> None:
        pass


class SessionCreationAttributes:
    def __init__(self) -> None:
        self.session_type = ""
        self.session_name = ""
        self.session_flags = 0
        self.callback: SessionCallback | None = None

    def set_session_type(self, value: str) -> None:
        self.session_type = value

    def set_session_name(self, value: str) -> None:
        self.session_name = value

    def set_session_flags(self, value: int) -> None:
        self.session_flags = value

    def set_session_callback(self, callback: SessionCallback) -> None:
        self.callback = callback


class _Id:
    def __init__(self, value: str) -> None:
        self._value = value

    def get_id(self) -> str:
        return self._value


class TaskOutputHandle(_Id):
    def __init__(self, task_id: str, output: bytes | None, error: str) -> None:
        super().__init__(task_id)
        self._output = output
        self._error = error

    def is_successful(self) -> bool:
        return self._output is not None

    def populate_task_output(self, message: Message) -> None:
        message.on_deserialize(_Stream(self._output or b""))

    def get_exception(self) -> SoamException:
        return SoamException(self._error)


class Session(_Id):
    _ids = itertools.count(1)

    def __init__(self, attributes: SessionCreationAttributes) -> None:
        super().__init__(f"session-{next(self._ids)}")
        if attributes.callback is None or not attributes.session_flags & SessionFlags.PARTIAL_ASYNC:
            raise SoamException("the stand-in only models asynchronous sessions with a callback")
        self._callback = attributes.callback
        self._pool = ThreadPoolExecutor(max_workers=64)  # wide: the limit under test is the manager's
        self._task_ids = itertools.count(1)

    def send_task_input(self, attributes: TaskSubmissionAttributes) -> _Id:
        if attributes.task_input is None:
            raise SoamException("no task input")
        task_id = str(next(self._task_ids))
        data = _serialize(attributes.task_input)
        _update_state(submitted=1, running=1)
        self._pool.submit(self._run, task_id, data)
        return _Id(task_id)

    def _run(self, task_id: str, data: bytes) -> None:
        try:
            done = subprocess.run([sys.executable, "-m", SERVICE_MODULE], input=data, capture_output=True)
            if done.returncode == 0:
                handle = TaskOutputHandle(task_id, done.stdout, "")
            else:
                lines = done.stderr.decode(errors="replace").strip().splitlines()
                reason = lines[-1] if lines else f"service process exited with code {done.returncode}"
                handle = TaskOutputHandle(task_id, None, reason)
        finally:
            _update_state(running=-1)
        self._callback.on_response(handle)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class Connection(_Id):
    def __init__(self, application: str) -> None:
        super().__init__(f"connection-{application}")

    def create_session(self, attributes: SessionCreationAttributes) -> Session:
        return Session(attributes)

    def close(self) -> None:
        pass


def connect(application: str, security_callback: DefaultSecurityCallback) -> Connection:
    with _state_lock:
        _state["applications"].append(application)
    return Connection(application)


class TaskContext:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self.output: bytes | None = None

    def populate_task_input(self, message: Message) -> None:
        message.on_deserialize(_Stream(self._data))

    def set_task_output(self, message: Message) -> None:
        self.output = _serialize(message)


class ServiceContainer:
    """Service side: one task per process, input on stdin, output on stdout, a failure on stderr."""

    def run(self) -> None:
        context = TaskContext(sys.stdin.buffer.read())
        try:
            self.on_invoke(context)
        except Exception as error:
            traceback.print_exc()
            print(f"service raised {type(error).__name__}: {error}", file=sys.stderr)
            sys.exit(3)
        sys.stdout.buffer.write(context.output or b"")

    def on_invoke(self, task_context: TaskContext) -> None:
        raise NotImplementedError
