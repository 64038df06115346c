"""``[[worker_manager]]`` with ``type = "symphony"``."""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

from scaler.config.checks import non_empty
from scaler.config.options import option
from scaler.config.sections.worker_manager import WorkerManagerConfig
from scaler.worker_manager_adapter.job_proxy.options import JOB_PROXY_REFUSED


@dataclasses.dataclass(frozen=True, kw_only=True)
class SymphonyConfig(WorkerManagerConfig):
    """Connect to the scheduler as one worker and run each task as a SOAM task of a Symphony service, at most
    max_task_concurrency at a time; task_timeout_seconds bounds each SOAM task."""

    options_title: ClassVar[str] = "symphony options"
    refused_options: ClassVar[Mapping[str, str]] = JOB_PROXY_REFUSED

    service_name: str = option(
        short="-sn",
        check=non_empty,
        help="the Symphony application whose service runs the tasks (deploy scaler's service under this name)",
    )
