"""ObjectStore with time as an argument: reads that wait, owners that go, quotas, garbage from nobody."""

from __future__ import annotations

import logging

import pytest

from scaler.ids import owner_prefix, random_object_id
from scaler.io.logs import RateLimitedLog
from scaler.object_storage.store import (
    PARKED_READ_SECONDS,
    UNLISTED_BUDGET_BYTES,
    UNLISTED_GRACE_SECONDS,
    ObjectStore,
    Reader,
)

ALICE = b"Client|alice"
READER = Reader(b"Worker|1", 7, False)


def test_a_read_parked_before_the_upload_is_served_when_it_lands() -> None:
    store = ObjectStore()
    object_id = random_object_id(ALICE)
    assert store.get(object_id, READER, now=0.0) == []
    assert store.waiting_requests == 1
    refusal, deliveries = store.put(object_id, [b"x"], 1, now=1.0)
    assert refusal == "" and [d.blob for d in deliveries] == [[b"x"]]
    assert store.waiting_requests == 0


def test_a_read_for_an_object_that_never_comes_expires_with_the_reason() -> None:
    store = ObjectStore()
    object_id = random_object_id(ALICE)
    store.get(object_id, READER, now=0.0)
    assert store.tick(PARKED_READ_SECONDS - 1) == []
    [expired] = store.tick(PARKED_READ_SECONDS + 1)
    assert expired.blob is None and expired.reader == READER
    assert "not uploaded within" in expired.reason
    assert store.waiting_requests == 0


def test_without_owner_lists_nothing_is_reclaimed() -> None:
    store = ObjectStore()  # used without a scheduler: it cannot know who is alive, so it keeps everything
    store.put(random_object_id(b"Client|nobody"), [b"x" * 10], 10, now=0.0)
    store.tick(10_000.0)
    assert len(store) == 1


def test_objects_of_an_owner_the_scheduler_never_lists_are_reclaimed() -> None:
    store = ObjectStore()
    store.list_owners([owner_prefix(ALICE)], grace=90.0, now=0.0)
    kept, garbage = random_object_id(ALICE), random_object_id(b"Client|nobody")
    store.put(kept, [b"a"], 1, now=0.0)
    store.put(garbage, [b"g"], 1, now=0.0)
    [answer] = store.get(random_object_id(b"Client|nobody"), READER, now=0.0)  # no upload of it can come
    assert answer.blob is None and "not a client" in answer.reason and store.waiting_requests == 0
    now = UNLISTED_GRACE_SECONDS + 1
    store.list_owners([owner_prefix(ALICE)], grace=90.0, now=now)
    store.tick(now)
    assert kept in store and garbage not in store


def test_an_owner_dropped_from_the_lists_loses_its_objects_after_the_grace() -> None:
    store = ObjectStore()
    store.list_owners([owner_prefix(ALICE)], grace=30.0, now=0.0)
    object_id = random_object_id(ALICE)
    store.put(object_id, [b"a"], 1, now=0.0)
    for now in (10.0, 20.0, 29.0):  # alice has left: the lists no longer name her
        store.list_owners([], grace=30.0, now=now)
        store.tick(now)
        assert object_id in store
    store.list_owners([], grace=30.0, now=31.0)
    store.tick(31.0)
    assert object_id not in store and store.owners == 0


def test_stale_lists_reclaim_nothing() -> None:
    store = ObjectStore()
    store.list_owners([owner_prefix(ALICE)], grace=30.0, now=0.0)
    object_id = random_object_id(ALICE)
    store.put(object_id, [b"a"], 1, now=0.0)
    store.tick(1000.0)  # the scheduler has not listed anyone for long: it may be restarting
    assert object_id in store


def test_the_quota_refuses_a_put_and_a_later_read_gets_the_reason_at_once() -> None:
    store = ObjectStore(max_bytes_per_owner=100)
    assert store.put(random_object_id(ALICE), [b"a" * 60], 60, now=0.0)[0] == ""
    too_much = random_object_id(ALICE)
    refusal, _ = store.put(too_much, [b"b" * 60], 60, now=0.0)
    assert "quota" in refusal and "100 bytes" in refusal
    assert too_much not in store and store.total_bytes == 60
    [answer] = store.get(too_much, READER, now=1.0)
    assert answer.blob is None and "quota" in answer.reason
    assert store.put(random_object_id(b"Client|bob"), [b"c" * 60], 60, now=0.0)[0] == ""  # per owner


def test_objects_of_unlisted_owners_share_a_small_budget_but_an_owner_uploading_its_own_is_exempt() -> None:
    store = ObjectStore()
    store.list_owners([], grace=30.0, now=0.0)
    size = UNLISTED_BUDGET_BYTES // 4
    refusals = [store.put(random_object_id(b"Client|%d" % i), [b""], size, now=0.0)[0] for i in range(6)]
    assert refusals[:4] == [""] * 4 and all("budget" in r for r in refusals[4:])
    assert store.put(random_object_id(ALICE), [b""], size, now=0.0, self_owned=True)[0] == ""
    store.list_owners([owner_prefix(ALICE)], grace=30.0, now=1.0)  # listed: its objects leave the budget
    assert store.put(random_object_id(ALICE), [b""], size, now=1.0)[0] == ""


def test_deleting_an_owner_wakes_its_readers_with_not_found() -> None:
    store = ObjectStore()
    object_id = random_object_id(ALICE)
    store.get(object_id, READER, now=0.0)
    count, deliveries = store.delete_owner(owner_prefix(ALICE))
    assert count == 0 and [d.blob for d in deliveries] == [None] and store.waiting_requests == 0


def test_warnings_about_bad_input_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    log = RateLimitedLog(logging.getLogger("test.flood"), burst=3, interval=3600)
    with caplog.at_level(logging.WARNING, logger="test.flood"):
        for i in range(1000):
            log.warning(f"dropping message from peer{i}", "garbage")
    assert len(caplog.records) == 3


def test_a_put_storage_could_not_read_answers_its_readers_at_once_with_the_reason() -> None:
    store = ObjectStore()
    object_id = random_object_id(ALICE)
    store.get(object_id, READER, now=0.0)
    [waiting] = store.refuse(object_id, "shared memory: segment gone")
    assert waiting.blob is None and waiting.reason == "shared memory: segment gone"
    [later] = store.get(object_id, Reader(b"Worker|2", 8, False), now=1.0)
    assert later.blob is None and "segment gone" in later.reason
    assert store.put(object_id, [b"x"], 1, now=2.0)[0] == ""  # sent again over TCP: stored, the refusal forgotten
    [served] = store.get(object_id, READER, now=3.0)
    assert served.blob == [b"x"]
