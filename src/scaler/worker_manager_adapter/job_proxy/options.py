"""Which common worker-manager options a job-proxy manager (aws_hpc, oci_hpc, symphony) cannot honour, and why.

Such a manager is one worker to the scheduler that turns each task into a job elsewhere: it starts no local
worker processes and is not scaled, so the options about those are refused with one line instead of being
silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

_NO_PROCESSOR = "tasks run inside the jobs, not in a local task process"

JOB_PROXY_REFUSED: Mapping[str, str] = {
    "scale_down_cooldown_seconds": "it is one proxy worker, which the scheduler does not scale",
    "preload": "tasks run inside the jobs, which have no preload hook; do the set-up in the job image",
    "garbage_collect_interval_seconds": _NO_PROCESSOR,
    "trim_memory_threshold_bytes": _NO_PROCESSOR,
    "hard_processor_suspend": _NO_PROCESSOR,
    "worker_scheduler_address": "it starts no workers that would connect to the scheduler",
}


def refused_with(**by_name: str) -> Mapping[str, str]:
    """``JOB_PROXY_REFUSED`` plus a type's own refusals (an option that a type-specific one replaces)."""
    return {**JOB_PROXY_REFUSED, **by_name}
