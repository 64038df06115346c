"""``scaler_worker_manager oci_raw``: check access, adopt what a previous run left, converge with the runner."""

from __future__ import annotations

import dataclasses
import shlex

from scaler.config.options import field_specs
from scaler.config.sections.logging_options import LoggingConfig
from scaler.config.sections.worker import WorkerConfig
from scaler.security.credentials import remote_worker_environment
from scaler.worker_manager_adapter.oci_common.startup import checked, connection_from_config, open_gateway
from scaler.worker_manager_adapter.oci_raw.config import OciRawConfig
from scaler.worker_manager_adapter.oci_raw.provisioner import OciRawProvisioner, RawUnitSettings
from scaler.worker_manager_adapter.runner import run_manager

# Given explicitly by worker_command, or meaningless inside a container (the manager's own logging files).
_NOT_PASSED_ON = {"worker_scheduler_address", "object_storage_address", "logging_paths", "logging_config_file"}


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

    The workers report this manager's id (so the scheduler counts them as its workers when it scales it), and
    take ``OCI_RAW-<suffix>`` as their type, which makes their ids unique across instances.
    """
    arguments = [
        "scaler_worker_manager", "baremetal_native", str(config.effective_worker_scheduler_address),
        "--mode", "fixed", "--max-task-concurrency", str(workers_per_unit(config)),
        "--worker-manager-id", config.worker_manager_id, "--worker-type", f"OCI_RAW-{suffix}",
    ]  # fmt: skip
    if config.object_storage_address is not None:
        arguments += ["--object-storage-address", str(config.object_storage_address)]
    arguments += _changed_options(config)
    return shlex.join(arguments)


def _changed_options(config: OciRawConfig) -> list[str]:
    """The worker and logging options that differ from their defaults, as command-line flags."""
    flags: list[str] = []
    for spec in (*field_specs(WorkerConfig), *field_specs(LoggingConfig)):
        value = getattr(config, spec.name)
        if spec.name in _NOT_PASSED_ON or value == spec.default_value():
            continue
        if isinstance(value, bool):
            flags.append(spec.long_flag if value else f"--no-{spec.long_flag[2:]}")
        elif spec.name == "per_worker_capabilities":
            flags += [spec.long_flag, config.capabilities_text]
        else:
            flags += [spec.long_flag, str(value)]
    return flags
