"""``scaler_worker_manager baremetal_native``: workers as local processes, dynamic or fixed."""

from __future__ import annotations

from scaler.config.sections.worker_manager import BaremetalNativeConfig
from scaler.worker_manager_adapter.baremetal_native.provisioner import NativeProvisioner
from scaler.worker_manager_adapter.runner import run_manager
from scaler.worker_manager_adapter.worker_launch import manager_id_of, worker_options


def run_baremetal_native(config: BaremetalNativeConfig) -> None:
    fixed = config.mode == "fixed"
    prefix = config.worker_type or ("FIX" if fixed else "NAT")
    manager_id = manager_id_of(config, prefix)
    options = worker_options(
        config,
        config,
        scheduler_address=str(config.effective_worker_scheduler_address),
        manager_id=manager_id,
        prefix=prefix,
    )
    provisioner = NativeProvisioner(options)
    raise SystemExit(
        run_manager(config, manager_id, provisioner, fixed_units=config.max_task_concurrency if fixed else None)
    )
