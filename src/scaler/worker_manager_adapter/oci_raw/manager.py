"""``scaler_worker_manager oci_raw``: check access, adopt what a previous run left, converge with the runner."""

from __future__ import annotations

import dataclasses

from scaler.security.credentials import remote_worker_environment
from scaler.worker_manager_adapter.oci_common.startup import checked, connection_from_config, open_gateway
from scaler.worker_manager_adapter.oci_raw.config import OciRawConfig
from scaler.worker_manager_adapter.oci_raw.provisioner import OciRawProvisioner, RawUnitSettings
from scaler.worker_manager_adapter.runner import run_manager
from scaler.worker_manager_adapter.worker_launch import unit_worker_command


def run_oci_raw(config: OciRawConfig) -> None:
    gateway = open_gateway("oci_raw", connection_from_config(config))
    domain = checked("looking up the availability domain", lambda: gateway.resolve_availability_domain(
        config.availability_domain))  # fmt: skip
    config = dataclasses.replace(config, availability_domain=domain)
    checked(
        f"listing container instances in compartment {config.compartment_id}",
        lambda: gateway.list_instances(config.compartment_id, domain),
    )
    provisioner = OciRawProvisioner(gateway, unit_settings(config))
    checked("looking for instances left by a previous run", provisioner.recover)
    raise SystemExit(run_manager(config, config.worker_manager_id, provisioner))


def workers_per_unit(config: OciRawConfig) -> int:
    """One worker per OCPU (at least one)."""
    return max(1, int(config.instance_ocpus))


def unit_settings(config: OciRawConfig) -> RawUnitSettings:
    # NEVER: a pool that ends is reported and replaced by this manager, not restarted blindly
    template = config.instance_template(restart_policy="NEVER")
    return RawUnitSettings(
        manager_id=config.worker_manager_id,
        workers_per_unit=workers_per_unit(config),
        instance=template,
        command=lambda suffix: worker_command(config, suffix),
        environment={
            "PYTHON_REQUIREMENTS": config.requirements_txt,
            "PYTHON_VERSION": config.python_version,
            **remote_worker_environment(),  # the workers' credentials: in the environment, never in COMMAND
        },
        refresh_interval_seconds=max(0.5, min(5.0, config.heartbeat_interval_seconds)),
        start_timeout_seconds=config.instance_start_timeout_seconds,
    )


def worker_command(config: OciRawConfig, suffix: str) -> str:
    """The command a unit's container runs: a fixed pool of workers that belong to this manager.

    ``OCI_RAW-<suffix>`` is their type, which makes their ids unique across instances.
    """
    return unit_worker_command(config, config.worker_manager_id, workers_per_unit(config), f"OCI_RAW-{suffix}")
