"""The client's payload encoder: functions and repeated large arguments are uploaded once, and an argument's
upload is released once no live object and no unfinished task can use it."""

from __future__ import annotations

import copy
import gc
import threading
from typing import Any

import numpy as np
import pytest

from scaler.client.arguments import INLINE_ARG_LIMIT, PayloadEncoder
from scaler.errors import MissingObjectError
from scaler.protocol import messages as m
from scaler.serialization import DEFAULT_SERIALIZER, decode_object_frames


class Uploads:
    def __init__(self) -> None:
        self.frames: list[list[Any]] = []

    def __call__(self, frames: list[Any], request_id: int = 0) -> None:
        # Copies, as a socket that has sent them holds nothing: the objects stay the caller's alone.
        self.frames.append([bytes(memoryview(frame)) for frame in frames])


class Releases:
    def __init__(self) -> None:
        self.ids: list[bytes] = []

    def __call__(self, object_ids: list[bytes]) -> None:
        self.ids.extend(object_ids)


def make() -> tuple[PayloadEncoder, Uploads]:
    encoder, uploads, _ = make_with_releases()
    return encoder, uploads


def make_with_releases() -> tuple[PayloadEncoder, Uploads, Releases]:
    uploads, releases = Uploads(), Releases()
    return PayloadEncoder(b"Client|unit", DEFAULT_SERIALIZER, uploads, releases), uploads, releases


def task_using(*args: m.TaskArg, **kwargs: m.TaskArg) -> m.Task:
    return m.Task(b"t", b"c", b"f", b"", args, kwargs, {}, 0, 0, "f")


def double(x: int) -> int:
    return 2 * x


def test_function_is_uploaded_once() -> None:
    encoder, uploads = make()
    ids = {encoder.function_id(double) for _ in range(100)}
    assert len(ids) == 1 and len(uploads.frames) == 1
    encoder.function_id(abs)  # builtins cannot be weakly referenced: still cached
    encoder.function_id(abs)
    assert len(uploads.frames) == 2


def test_small_arguments_are_inline() -> None:
    encoder, uploads = make()
    arg = encoder.argument(42)
    assert arg.kind is m.ArgKind.INLINE and DEFAULT_SERIALIZER.deserialize(arg.data) == 42
    assert encoder.argument("text").kind is m.ArgKind.INLINE
    assert not uploads.frames


@pytest.mark.parametrize("value", [b"x" * (2 * INLINE_ARG_LIMIT), np.arange(100_000), list(range(50_000))])
def test_large_argument_is_uploaded_once_and_round_trips(value: Any) -> None:
    encoder, uploads = make()
    first = encoder.argument(value)
    again = encoder.argument(value)
    assert first == again and first.kind is m.ArgKind.OBJECT
    # A list cannot be weakly referenced, so it is serialized again, but its content id makes it one upload.
    assert len(uploads.frames) == 1
    frames = uploads.frames[0][1:]  # after the ObjectPut header
    decoded = decode_object_frames([memoryview(f) if not isinstance(f, bytes) else f for f in frames],
                                   DEFAULT_SERIALIZER)  # fmt: skip
    if isinstance(value, np.ndarray):
        assert np.array_equal(decoded, value) and decoded.flags.writeable
    else:
        assert decoded == value


def test_reserialize_and_clear() -> None:
    encoder, uploads = make()
    array = np.zeros(100_000)
    encoder.argument(array)
    array[0] = 1
    changed = encoder.argument(array, reserialize=True)
    assert len(uploads.frames) == 2 and changed.kind is m.ArgKind.OBJECT
    reference = encoder.send_object([1, 2, 3], name="small")
    assert encoder.argument(reference) == m.TaskArg(m.ArgKind.OBJECT, reference.object_id)
    encoder.reset()
    with pytest.raises(MissingObjectError):
        encoder.argument(reference)


def test_upload_of_a_weakly_referenced_argument_lives_while_the_object_or_a_task_does() -> None:
    encoder, _, releases = make_with_releases()
    array = np.arange(100_000)
    arg = encoder.argument(array)
    encoder.tasks_done([task_using(arg)])
    encoder.arguments.collect(sweep=True)
    assert releases.ids == []  # the array is alive: the next task on it reuses the upload
    assert encoder.argument(array) == arg
    del array
    gc.collect()
    encoder.arguments.collect()
    assert releases.ids == []  # a task still uses it
    encoder.tasks_done([task_using(arg)])
    encoder.arguments.collect()
    assert releases.ids == [arg.data]


def test_upload_of_bytes_goes_once_nobody_but_the_cache_holds_them() -> None:
    encoder, _, releases = make_with_releases()
    payload = bytes(2 * INLINE_ARG_LIMIT)
    arg = encoder.argument(payload)
    encoder.tasks_done([task_using(arg)])
    encoder.arguments.collect(sweep=True)
    assert releases.ids == []
    del payload
    encoder.arguments.collect()
    assert releases.ids == []  # only the timer's sweep looks at the strong entries
    encoder.arguments.collect(sweep=True)
    assert releases.ids == [arg.data]


def test_upload_of_an_uncacheable_argument_goes_when_its_tasks_are_done() -> None:
    encoder, uploads, releases = make_with_releases()
    first = encoder.argument(list(range(50_000)))
    second = encoder.argument(list(range(50_000)))  # equal content: the same upload, used by two tasks
    assert first == second and len(uploads.frames) == 1
    encoder.tasks_done([task_using(first)])
    encoder.arguments.collect()
    assert releases.ids == []
    encoder.tasks_done([task_using(x=second)])
    encoder.arguments.collect()
    assert releases.ids == [first.data]
    again = encoder.argument(list(range(50_000)))  # released, so uploaded anew under the same content id
    assert again == first and len(uploads.frames) == 2


def test_call_that_fails_to_encode_lets_go_of_what_it_retained() -> None:
    encoder, _, releases = make_with_releases()
    with pytest.raises(TypeError):
        encoder.call_arguments((list(range(50_000)), threading.Lock()), {}, False)
    encoder.arguments.collect()
    assert len(releases.ids) == 1


def test_reference_lives_while_held_and_functions_until_clear() -> None:
    encoder, _, releases = make_with_releases()
    reference = encoder.send_object(list(range(50_000)), None)
    function_arg = m.TaskArg(m.ArgKind.OBJECT, encoder.function_id(double))
    used = encoder.argument(reference)
    encoder.tasks_done([task_using(used, function_arg)])
    encoder.arguments.collect(sweep=True)
    assert releases.ids == []  # still held: more tasks may use it
    running = encoder.argument(copy.deepcopy(reference))  # a copy is the reference itself
    object_id = reference.object_id
    del reference
    gc.collect()
    encoder.arguments.collect()
    assert releases.ids == []  # dropped, but a task still uses it
    encoder.tasks_done([task_using(running)])
    encoder.arguments.collect()
    assert releases.ids == [object_id]  # the function never goes with its tasks
