"""``scaler_worker_manager symphony``: one job-proxy worker whose jobs are SOAM tasks."""

from __future__ import annotations

from scaler.worker_manager_adapter.job_proxy.proxy_worker import JobProxySettings, run_job_proxy
from scaler.worker_manager_adapter.symphony.backend import SymphonyBackend
from scaler.worker_manager_adapter.symphony.config import SymphonyConfig
from scaler.worker_manager_adapter.symphony.gateway import SoamGateway, SymphonyUnavailableError
from scaler.worker_manager_adapter.worker_launch import manager_id_of

WORKER_PREFIX = "SYM"


def run_symphony(config: SymphonyConfig) -> None:
    manager_id = manager_id_of(config, WORKER_PREFIX)
    try:
        gateway = SoamGateway(config.service_name, session_name=f"scaler-{manager_id}")
    except SymphonyUnavailableError as error:
        raise SystemExit(f"scaler_worker_manager: error: {error}") from None
    except Exception as error:  # soamapi's own errors (no such application, cannot connect): one clear line
        raise SystemExit(f"scaler_worker_manager: error: could not open a Symphony session: {error}") from None
    settings = JobProxySettings.from_config(
        config,
        manager_id=manager_id,
        worker_prefix=WORKER_PREFIX,
        max_concurrent_jobs=config.max_task_concurrency,
        job_timeout_seconds=config.task_timeout_seconds,
        poll_interval_seconds=0.05,  # outputs are already queued by Symphony's callbacks: polling is cheap
    )
    raise SystemExit(run_job_proxy(settings, SymphonyBackend(gateway)))
