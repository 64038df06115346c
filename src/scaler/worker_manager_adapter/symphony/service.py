"""``python -m scaler.worker_manager_adapter.symphony.service``: the service to deploy in Symphony under the
application name given to ``--service-name``. It needs scaler (for the job payload), cloudpickle and soamapi."""

from __future__ import annotations

from scaler.worker_manager_adapter.symphony.gateway import run_service

if __name__ == "__main__":
    run_service()
