"""``scaler_worker_manager oci_hpc``: check access, clear what a previous run left, then run the job proxy."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from scaler.worker_manager_adapter.job_proxy.proxy_worker import JobProxySettings, run_job_proxy
from scaler.worker_manager_adapter.oci_common.models import TERMINAL_STATES, OciError
from scaler.worker_manager_adapter.oci_common.startup import checked, connection_from_config, open_gateway
from scaler.worker_manager_adapter.oci_hpc.backend import MANAGER_TAG, HpcJobSettings, OciHpcBackend
from scaler.worker_manager_adapter.oci_hpc.config import OciHpcConfig

if TYPE_CHECKING:
    from scaler.worker_manager_adapter.oci_common.gateway import OciGateway

logger = logging.getLogger("scaler.oci_hpc")

PROXY_POLL_SECONDS = 0.2  # how often the proxy collects outcomes; OCI itself is polled every job_poll_interval


def run_oci_hpc(config: OciHpcConfig) -> None:
    connection = connection_from_config(config)
    gateway = open_gateway("oci_hpc", connection)
    domain = checked("looking up the availability domain", lambda: gateway.resolve_availability_domain(
        config.availability_domain))  # fmt: skip
    config = dataclasses.replace(config, availability_domain=domain)
    settings = job_settings(config, connection.endpoint_for("object_storage"))
    check_access(gateway, settings)
    remove_leftovers(gateway, settings)
    proxy = JobProxySettings.from_config(
        config,
        manager_id=config.worker_manager_id,
        worker_prefix="OCI_HPC",
        max_concurrent_jobs=config.base_concurrency,
        job_timeout_seconds=config.job_timeout_seconds,
        poll_interval_seconds=min(PROXY_POLL_SECONDS, config.job_poll_interval_seconds),
    )
    raise SystemExit(run_job_proxy(proxy, OciHpcBackend(gateway, settings)))


def job_settings(config: OciHpcConfig, object_storage_endpoint: str | None) -> HpcJobSettings:
    # NEVER: one task per instance; a runner that exits is done
    template = config.instance_template(restart_policy="NEVER")
    runner_environment = (
        {"SCALER_OCI_OBJECT_STORAGE_ENDPOINT": object_storage_endpoint} if object_storage_endpoint else {}
    )
    return HpcJobSettings(
        manager_id=config.worker_manager_id,
        namespace=config.object_storage_namespace,
        bucket=config.object_storage_bucket,
        prefix=config.object_storage_prefix,
        instance=template,
        max_instances=config.base_concurrency,
        poll_interval_seconds=config.job_poll_interval_seconds,
        runner_environment=runner_environment,
    )


def check_access(gateway: OciGateway, settings: HpcJobSettings) -> None:
    """One cheap call per permission the manager needs, so that a mistake shows at start-up, in one line."""
    checked("reading the Object Storage namespace", gateway.namespace)
    checked(
        f"listing bucket {settings.bucket!r} in namespace {settings.namespace!r}",
        lambda: gateway.list_objects(settings.namespace, settings.bucket, settings.key_prefix, limit=1),
    )
    compartment = settings.instance.compartment_id
    checked(f"listing container instances in compartment {compartment}", lambda: gateway.list_instances(compartment))


def remove_leftovers(gateway: OciGateway, settings: HpcJobSettings) -> None:
    """Delete the instances and objects a previous run of this manager id left (it crashed, or was killed)."""
    try:
        listed = gateway.list_instances(settings.instance.compartment_id, settings.instance.availability_domain)
        instances = [
            i
            for i in listed
            if i.freeform_tags.get(MANAGER_TAG) == settings.manager_id and i.state not in TERMINAL_STATES
        ]
        for instance in instances:
            gateway.delete_instance(instance.id)
        objects = gateway.list_objects(settings.namespace, settings.bucket, settings.key_prefix)
        for name in objects:
            gateway.delete_object(settings.namespace, settings.bucket, name)
    except OciError as error:
        logger.warning("oci_hpc: could not clear what a previous run left: %s", error)
        return
    if instances or objects:
        logger.warning(
            "oci_hpc: deleted %d container instance(s) and %d object(s) left by a previous run of manager %r",
            len(instances), len(objects), settings.manager_id,
        )  # fmt: skip
