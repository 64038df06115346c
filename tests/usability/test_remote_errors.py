"""What a user sees when a task fails: the client's own file and line for ``__main__`` functions, no internal
exception chained to a serializer's error, and a plain-pickle serializer's ``__main__`` problem explained."""

from __future__ import annotations

import subprocess
import sys
import traceback
from pathlib import Path

import cloudpickle
import pytest

from scaler import Client, SchedulerClusterCombo, Serializer

SCRIPT = """
import pickle
import traceback

from scaler import Client, Serializer


def boom(x):
    y = x + 1
    raise ValueError("bad " + str(y))  # the line the traceback must show


def add(a, b):
    return a + b


class PlainPickle(Serializer):
    @staticmethod
    def serialize(obj):
        return pickle.dumps(obj)

    @staticmethod
    def deserialize(payload):
        return pickle.loads(payload)


with Client(address=ADDRESS) as client:
    try:
        client.submit(boom, 1).result(timeout=60)
    except ValueError:
        print(traceback.format_exc())
print("-----")
with Client(address=ADDRESS, serializer=PlainPickle()) as client:
    try:
        client.submit(add, 1, 2).result(timeout=60)
    except Exception as error:
        print(type(error).__name__, "|", error, "|", repr(error.__context__))
"""


@pytest.fixture(scope="module")
def script_output(cluster: SchedulerClusterCombo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    script = tmp_path_factory.mktemp("main") / "user_script.py"
    script.write_text(SCRIPT.replace("ADDRESS", repr(cluster.get_address())))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return script, result.stdout


def test_main_function_traceback_shows_the_clients_file_and_source_line(script_output: tuple[Path, str]) -> None:
    script, output = script_output
    trace = output.split("-----")[0]
    line = SCRIPT.splitlines().index('    raise ValueError("bad " + str(y))  # the line the traceback must show') + 1
    assert f'File "{script}", line {line}, in boom' in trace
    assert 'raise ValueError("bad " + str(y))' in trace
    assert "<dynamic-code>" not in trace
    assert "scaler/worker/processor.py" not in trace  # the worker's own frames are not the user's concern
    assert trace.strip().endswith("ValueError: bad 2")


def test_plain_pickle_serializer_says_why_main_functions_fail(script_output: tuple[Path, str]) -> None:
    error = script_output[1].split("-----")[1].strip()
    kind, message, context = (part.strip() for part in error.split("|"))
    assert kind == "FunctionNotFoundError"
    assert "could not load function 'add' with PlainPickle" in message
    assert "Can't get attribute 'add' on <module '__main__'" in message
    assert "define it in an importable module" in message and "cloudpickle" in message
    assert context == "None"


class RefusesFunctions(Serializer):
    """Serializes with cloudpickle but refuses to load functions on the worker: a serializer bug, seen as the user
    would see it."""

    @staticmethod
    def serialize(obj: object) -> bytes:
        return (b"F" if callable(obj) else b"V") + cloudpickle.dumps(obj)

    @staticmethod
    def deserialize(payload: bytes) -> object:
        import pickle

        if bytes(payload[:1]) == b"F":
            raise RuntimeError("this serializer cannot load functions")
        return pickle.loads(payload[1:])


def test_a_serializer_error_is_not_chained_to_internal_exceptions(cluster: SchedulerClusterCombo) -> None:
    with Client(address=cluster.get_address(), serializer=RefusesFunctions()) as client:
        with pytest.raises(RuntimeError, match="this serializer cannot load functions") as caught:
            client.submit(abs, -1).result(timeout=60)
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert "KeyError" not in "".join(traceback.format_exception(caught.value))


def test_text_of_the_serializer_docstring_mentions_main() -> None:
    assert "__main__" in (Serializer.__doc__ or "") and "cloudpickle" in (Serializer.__doc__ or "")
