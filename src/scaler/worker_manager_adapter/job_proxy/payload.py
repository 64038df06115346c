"""The self-contained job payload, and the function a remote job runner calls on it.

A job runs where our object storage cannot be reached (a Batch container, an OCI container instance, a
Symphony compute host), so the payload carries everything: the serialized function and arguments exactly
as the client serialized them, and the client's serializer if it has one. The runner needs only
cloudpickle (tblib improves tracebacks when installed).

    payload = cloudpickle((serializer_bytes | None, function_bytes, [arg_bytes...], {name: arg_bytes}))
    result  = cloudpickle(("ok", result_bytes))  or  cloudpickle(("error", pickled_exception_bytes))
"""

from __future__ import annotations

import pickle
from typing import Any

import cloudpickle

JOB_PAYLOAD_VERSION = 1


def build_payload(serializer: bytes | None, function: bytes, args: list[bytes], kwargs: dict[str, bytes]) -> bytes:
    data: bytes = cloudpickle.dumps((JOB_PAYLOAD_VERSION, serializer, function, args, kwargs), protocol=4)
    return data


def run_payload(payload: bytes) -> bytes:
    """Run a job payload; never raises: the outcome (result or exception) is in the returned bytes."""
    try:
        version, serializer_bytes, function_bytes, args, kwargs = pickle.loads(payload)
        if version != JOB_PAYLOAD_VERSION:
            raise RuntimeError(f"job payload version {version} is not supported by this runner")
        serializer: Any = pickle.loads(serializer_bytes) if serializer_bytes else None
        loads = serializer.deserialize if serializer is not None else pickle.loads
        function = loads(function_bytes)
        value = function(*[loads(a) for a in args], **{k: loads(v) for k, v in kwargs.items()})
        dumps = serializer.serialize if serializer is not None else _default_dumps
        outcome: tuple[str, bytes] = ("ok", dumps(value))
    except BaseException as error:  # the job's failure is its result
        outcome = ("error", _dump_exception(error))
    data: bytes = cloudpickle.dumps(outcome, protocol=4)
    return data


def parse_outcome(data: bytes) -> tuple[bool, bytes]:
    """(succeeded, payload) from a runner's output; raises ValueError for output that is not an outcome."""
    try:
        kind, payload = pickle.loads(data)
    except Exception as error:
        raise ValueError(f"job output is not a job outcome: {error}") from None
    if kind not in ("ok", "error") or not isinstance(payload, bytes):
        raise ValueError("job output is not a job outcome")
    return kind == "ok", payload


def _default_dumps(value: Any) -> bytes:
    data: bytes = cloudpickle.dumps(value, protocol=5)
    return data


def _dump_exception(error: BaseException) -> bytes:
    try:
        from tblib import pickling_support

        pickling_support.install(error)
    except ImportError:
        pass
    try:
        data: bytes = cloudpickle.dumps(error, protocol=4)
    except Exception:
        data = cloudpickle.dumps(RuntimeError(f"{type(error).__qualname__}: {error}"), protocol=4)
    return data
