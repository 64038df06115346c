"""The OCI managers' SDK calls go through the pool every adapter shares (``worker_manager_adapter.sdk_calls``)."""

from __future__ import annotations

import logging

from scaler.worker_manager_adapter.sdk_calls import DEFAULT_THREADS, SdkCallPool

SDK_THREADS = DEFAULT_THREADS


def CallPool(name: str, threads: int = SDK_THREADS) -> SdkCallPool:
    """The shared pool, logging to ``scaler.<name>``."""
    return SdkCallPool(name, logging.getLogger(f"scaler.{name}"), threads)
