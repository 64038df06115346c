"""Hostile bytes at the scheduler and object storage ports (the CI-sized version of bench/fuzz.py).

Random and mutated frames (real encoded messages with flipped, truncated, duplicated or inserted bytes, extra frames,
random identities) while a legitimate client works: no process dies, memory and logs stay bounded, and the client
keeps getting correct results during and after.
"""

from __future__ import annotations

from pathlib import Path

from bench.fuzz import LegitimateClient, real_cluster, send_hostile_frames
from tests.conftest import wait_until

FRAMES = 8_000
RSS_GROWTH_LIMIT = 20 << 20
# Dropped-message warnings are rate-limited; what remains is one line per peer that connects or leaves (the fuzzer's
# identities look like clients and workers). Before the limit, 100,000 frames wrote 23 MB.
LOG_BYTES_LIMIT = 400_000


def test_hostile_frames_leave_servers_up_bounded_and_serving(tmp_path: Path) -> None:
    with real_cluster(tmp_path) as cluster:
        client = LegitimateClient(cluster.address)
        client.start()
        try:
            wait_until(lambda: client.batches >= 2 or bool(client.wrong), timeout=120, interval=0.1)
            rss_before, log_before = cluster.rss(), cluster.log_bytes()
            counts = send_hostile_frames(cluster.address, cluster.storage_address, FRAMES, seed=7)
            assert counts.scheduler > FRAMES // 4 and counts.storage > FRAMES // 4
            during = client.batches
            wait_until(lambda: client.batches >= during + 3 or bool(client.wrong), timeout=120, interval=0.1)
            assert cluster.alive()
            rss_after = cluster.rss()
            assert rss_after[0] - rss_before[0] < RSS_GROWTH_LIMIT, (rss_before, rss_after)
            assert rss_after[1] - rss_before[1] < RSS_GROWTH_LIMIT, (rss_before, rss_after)
            assert cluster.log_bytes() - log_before < LOG_BYTES_LIMIT
        finally:
            client.stop()
        assert client.wrong == []
