"""Shared-memory segments, the writer's pool and the sweeper, without processes (locks are per open file, so one
process can play writer, storage and readers)."""

from __future__ import annotations

import fcntl
import mmap
import os
import time
from pathlib import Path

import pytest

from scaler.object_storage import shared_memory as shm
from scaler.object_storage.shared_memory_pool import SegmentPool
from scaler.object_storage.shared_memory_probe import check_probe, is_local_address, remove_probe, write_probe

OBJECT = b"\x01" * 32
OTHER = b"\x02" * 32
MB = 1 << 20


def _segments(folder: Path) -> set[str]:
    return {name for name in os.listdir(folder) if shm.is_segment_name(name)}


def test_frames_round_trip_aligned_and_checked_against_the_object_id(tmp_path: Path) -> None:
    pool = SegmentPool(str(tmp_path), max_bytes=64 * MB)
    frames = [b"P", b"header", bytes(range(256)) * 4000]
    name = pool.write(OBJECT, frames, now=0.0)
    assert name is not None
    views = shm.open_segment(name, OBJECT, writable=True, folder=str(tmp_path))
    assert [bytes(view) for view in views] == frames
    mapped_at = views[0].obj  # every frame is a view on one mapping, of the segment
    assert isinstance(mapped_at, mmap.mmap)
    assert all(view.obj is mapped_at for view in views)
    with pytest.raises(shm.SegmentError, match="another object"):
        shm.open_segment(name, OTHER, writable=True, folder=str(tmp_path))
    with pytest.raises(shm.SegmentError, match="not a segment name"):
        shm.open_segment("../etc/passwd", OBJECT, writable=True, folder=str(tmp_path))
    offsets, _ = shm.layout(OBJECT, [len(frame) for frame in frames])
    assert all(offset % shm.ALIGN == 0 for offset in offsets)
    del views, mapped_at
    pool.close()
    assert _segments(tmp_path) == set()


def test_a_malformed_frame_table_is_an_error_not_a_crash() -> None:
    head = shm._HEAD.pack(shm.MAGIC, len(OBJECT), 1) + OBJECT + shm._ENTRY.pack(10_000, 10)
    with pytest.raises(shm.SegmentError, match="past its end"):
        shm.read_frames(memoryview(head + bytes(100)), OBJECT)
    with pytest.raises(shm.SegmentError, match="no valid header"):
        shm.read_frames(memoryview(b"x" * 100), OBJECT)


def test_a_reader_s_writes_never_reach_the_segment(tmp_path: Path) -> None:
    pool = SegmentPool(str(tmp_path), max_bytes=64 * MB)
    name = pool.write(OBJECT, [b"B", b"a" * MB], now=0.0)
    assert name is not None
    first = shm.open_segment(name, OBJECT, writable=True, folder=str(tmp_path))
    first[1][:5] = b"zzzzz"  # copy-on-write: this reader's pages only
    second = shm.open_segment(name, OBJECT, writable=True, folder=str(tmp_path))
    assert bytes(second[1][:5]) == b"aaaaa"
    read_only = shm.open_segment(name, OBJECT, writable=False, folder=str(tmp_path))
    assert read_only[1].readonly and not first[1].readonly


def test_a_segment_is_reused_only_once_nobody_else_holds_it(tmp_path: Path) -> None:
    pool = SegmentPool(str(tmp_path), max_bytes=64 * MB)
    first = pool.write(OBJECT, [b"B", b"1" * MB], now=0.0)
    assert first is not None
    held = shm.open_segment(first, OBJECT, writable=True, folder=str(tmp_path))  # storage or a reader maps it
    second = pool.write(OTHER, [b"B", b"2" * MB], now=1.0)
    assert second is not None and second != first
    assert bytes(held[1][:1]) == b"1"  # untouched while held
    del held  # the mapping goes, and its lock with it
    third = pool.write(OBJECT + b"x", [b"B", b"3" * MB], now=2.0)
    assert third in (first, second)  # recycled, not created
    assert len(pool.names) == 2
    stale = first if third == first else second
    with pytest.raises(shm.SegmentError, match="another object"):
        shm.open_segment(stale, OBJECT if stale == first else OTHER, writable=True, folder=str(tmp_path))
    pool.close()


def test_the_pool_is_bounded_and_falls_back_when_everything_is_held(tmp_path: Path) -> None:
    pool = SegmentPool(str(tmp_path), max_bytes=4 * MB, max_segments=2)
    assert pool.write(OBJECT, [b"B", bytes(5 * MB)], now=0.0) is None  # larger than the whole pool
    names, held = [], []
    for i in range(2):
        names.append(name := pool.write(bytes([i]) * 32, [b"B", bytes(MB)], now=0.0))
        assert name is not None
        held.append(shm.open_segment(name, bytes([i]) * 32, writable=True, folder=str(tmp_path)))
    assert pool.write(OTHER, [b"B", bytes(MB)], now=0.0) is None  # two segments, both held: TCP
    del held[0]
    replacement = pool.write(OTHER, [b"B", bytes(MB)], now=0.0)
    assert replacement == names[0]
    assert len(pool.names) <= 2 and pool.total_bytes <= 4 * MB
    pool.close()
    assert _segments(tmp_path) == {names[1]}  # still held by a reader: left for it (then storage or the sweeper)


def test_idle_segments_are_removed_unless_held(tmp_path: Path) -> None:
    pool = SegmentPool(str(tmp_path), max_bytes=64 * MB, idle_seconds=30.0)
    kept = pool.write(OBJECT, [b"B", bytes(MB)], now=0.0)
    assert kept is not None
    held = shm.open_segment(kept, OBJECT, writable=False, folder=str(tmp_path))
    idle = pool.write(OTHER, [b"B", bytes(MB)], now=0.0)
    assert idle is not None and idle != kept
    pool.trim(now=10.0)
    assert _segments(tmp_path) == {kept, idle}  # not idle long enough
    pool.trim(now=31.0)
    assert _segments(tmp_path) == {kept} and pool.names == [kept]
    assert held[1].nbytes == MB


def test_sweep_removes_only_old_unheld_segments(tmp_path: Path) -> None:
    folder = str(tmp_path)
    abandoned, young = shm.create_segment(MB, folder), shm.create_segment(MB, folder)
    held = shm.create_segment(MB, folder)
    for _, fd in (abandoned, young):
        os.close(fd)  # its owner died: no lock left
    fcntl.flock(held[1], fcntl.LOCK_SH)  # a live holder
    (tmp_path / "unrelated-file").write_bytes(b"x")
    old = time.time() - 60
    for name, _ in (abandoned, held):
        os.utime(tmp_path / name, (old, old))
    removed = shm.sweep(time.time(), folder)
    assert removed == [abandoned[0]]
    assert _segments(tmp_path) == {young[0], held[0]} and (tmp_path / "unrelated-file").exists()
    os.close(held[1])
    assert shm.unlink_if_unheld(held[0], folder) and shm.unlink_if_unheld(young[0], folder)
    assert _segments(tmp_path) == set()


def test_a_segment_removed_while_the_writer_converts_its_lock_is_dropped_not_announced(tmp_path: Path) -> None:
    pool = SegmentPool(str(tmp_path), max_bytes=64 * MB)
    name = pool.write(OBJECT, [b"B", bytes(MB)], now=0.0)
    assert name is not None
    os.unlink(tmp_path / name)  # what a sweeper could do in the instant the writer's lock is converted
    fresh = pool.write(OTHER, [b"B", bytes(MB)], now=1.0)
    assert fresh is not None and fresh != name and pool.names == [fresh]
    pool.close()


def test_probe_sees_the_same_directory_only(tmp_path: Path) -> None:
    name, token = write_probe(str(tmp_path))
    assert check_probe(name, token, str(tmp_path)) == ""
    assert "another token" in check_probe(name, b"\x00" * len(token), str(tmp_path))
    assert "cannot open" in check_probe(name, token, str(tmp_path / "elsewhere"))
    assert check_probe("../x", token, str(tmp_path)) == "malformed probe"
    remove_probe(name, str(tmp_path))
    assert _segments(tmp_path) == set()


def test_shared_memory_can_be_switched_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(shm.SWITCH_ENV, "0")
    assert not shm.enabled()
    name, token = write_probe(str(tmp_path))
    assert "switched off" in check_probe(name, token, str(tmp_path))


@pytest.mark.parametrize(
    ("address", "local"),
    [("tcp://127.0.0.1:1", True), ("tcp://localhost:1", True), ("ipc:///tmp/x", True), ("tcp://192.0.2.7:1", False)],
)
def test_only_local_addresses_are_probed(address: str, local: bool) -> None:
    assert is_local_address(address) is local


def test_large_frames_are_copied_in_whole_whatever_buffer_holds_them(tmp_path: Path) -> None:
    size = shm.PARALLEL_COPY_BYTES + 12345  # copied in parallel chunks, the last one short
    pattern = bytes(range(251)) * (size // 251 + 1)
    frames = [b"P", pattern[:size], bytearray(pattern[1 : size + 1]), memoryview(pattern[2 : size + 2]).toreadonly()]
    pool = SegmentPool(str(tmp_path), max_bytes=256 * MB)
    name = pool.write(OBJECT, frames, now=0.0)
    assert name is not None
    views = shm.open_segment(name, OBJECT, writable=False, folder=str(tmp_path))
    assert [bytes(view) for view in views] == [bytes(frame) for frame in frames]
    del views
    pool.close()
