"""The one table of worker-manager types: type name -> (config class, run function).

Both are named by import path and imported only when asked for, so that importing this table (to list the
types, or to parse a command line) never imports a cloud SDK. Adding an adapter is one entry here plus its folder.

The config class is a ``WorkerManagerConfig`` subclass, read from the ``[[worker_manager]]`` entry whose
``type`` is the entry's name; the run function takes that config object and blocks until the manager stops.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scaler.config.sections.worker_manager import WorkerManagerConfig


class AdapterUnavailableError(LookupError):
    """The worker-manager type is known but not implemented in this version."""


@dataclasses.dataclass(frozen=True)
class AdapterEntry:
    """One worker-manager type: its name, a one-line summary, and where its config class and run function live."""

    name: str
    summary: str
    config_class_path: str | None = None  # "package.module:ClassName"; None: not yet available
    run_function_path: str | None = None  # "package.module:function"

    @property
    def available(self) -> bool:
        return self.config_class_path is not None and self.run_function_path is not None

    def load_config_class(self) -> type[WorkerManagerConfig]:
        from scaler.config.sections.worker_manager import WorkerManagerConfig

        config_class = _import(self._require(self.config_class_path))
        if not (isinstance(config_class, type) and issubclass(config_class, WorkerManagerConfig)):
            raise TypeError(f"{self.config_class_path} is not a WorkerManagerConfig subclass")
        return config_class

    def load_run_function(self) -> Callable[[Any], None]:
        run = _import(self._require(self.run_function_path))
        if not callable(run):
            raise TypeError(f"{self.run_function_path} is not callable")
        return typing.cast("Callable[[Any], None]", run)

    def _require(self, path: str | None) -> str:
        if path is None:
            raise AdapterUnavailableError(f"worker manager type {self.name!r} is not yet available in this version")
        return path


def _import(path: str) -> object:
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


ADAPTERS: Mapping[str, AdapterEntry] = {
    entry.name: entry
    for entry in (
        AdapterEntry(
            "baremetal_native",
            "workers as local processes, scaled by the scheduler (dynamic) or a fixed pool (fixed)",
            "scaler.config.sections.worker_manager:BaremetalNativeConfig",
            "scaler.worker_manager_adapter.baremetal_native.manager:run_baremetal_native",
        ),
        AdapterEntry(
            "symphony",
            "each task runs on IBM Spectrum Symphony",
            "scaler.worker_manager_adapter.symphony.config:SymphonyConfig",
            "scaler.worker_manager_adapter.symphony.manager:run_symphony",
        ),
        AdapterEntry(
            "aws_raw_ecs",
            "workers in AWS ECS Fargate tasks",
            "scaler.worker_manager_adapter.aws_raw_ecs.config:AwsRawEcsConfig",
            "scaler.worker_manager_adapter.aws_raw_ecs.manager:run_aws_raw_ecs",
        ),
        AdapterEntry(
            "aws_hpc",
            "each task runs as an AWS Batch job",
            "scaler.worker_manager_adapter.aws_hpc.config:AwsHpcConfig",
            "scaler.worker_manager_adapter.aws_hpc.manager:run_aws_hpc",
        ),
        AdapterEntry(
            "orb_aws_ec2",
            "workers on AWS EC2 instances provisioned through ORB",
            "scaler.worker_manager_adapter.orb_aws_ec2.config:OrbAwsEc2Config",
            "scaler.worker_manager_adapter.orb_aws_ec2.manager:run_orb_aws_ec2",
        ),
        AdapterEntry(
            "oci_raw",
            "workers in OCI Container Instances",
            "scaler.worker_manager_adapter.oci_raw.config:OciRawConfig",
            "scaler.worker_manager_adapter.oci_raw.manager:run_oci_raw",
        ),
        AdapterEntry(
            "oci_hpc",
            "each task runs in its own OCI Container Instance",
            "scaler.worker_manager_adapter.oci_hpc.config:OciHpcConfig",
            "scaler.worker_manager_adapter.oci_hpc.manager:run_oci_hpc",
        ),
    )
}


def available_adapter_names() -> list[str]:
    return [name for name, entry in ADAPTERS.items() if entry.available]
