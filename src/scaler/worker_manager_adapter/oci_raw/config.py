"""``[[worker_manager]] type = "oci_raw"``: the container-instance options plus the workers' Python environment."""

from __future__ import annotations

import dataclasses
import os
from typing import ClassVar

from scaler.config.checks import at_least, greater_than, non_empty
from scaler.config.options import option
from scaler.worker_manager_adapter.oci_common.config import OciContainerInstanceConfig


def read_requirements(raw: object) -> str:
    """``requirements_txt``: the text of a requirements file, given inline or as the path of a file."""
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {type(raw).__name__}")
    text = raw.strip()
    if text and "\n" not in text and os.path.isfile(os.path.expanduser(text)):
        with open(os.path.expanduser(text), encoding="utf-8") as file:
            return file.read()
    if "\n" not in text and text.endswith(".txt"):
        raise ValueError(f"requirements file {text!r} not found (give the file's path, or the requirements inline)")
    return raw


@dataclasses.dataclass(frozen=True, kw_only=True)
class OciRawConfig(OciContainerInstanceConfig):
    """Run Scaler workers in OCI Container Instances, started and stopped as the scheduler asks."""

    options_title: ClassVar[str] = "oci_raw options"

    python_version: str = option(check=non_empty, help="Python version of the workers' environment, e.g. 3.12")
    requirements_txt: str = option(
        parse=read_requirements,
        expected="requirements text or a file path",
        metavar="TEXT_OR_FILE",
        help="packages installed with uv when an instance starts (must provide scaler); inline text, one "
        "requirement per line, or the path of a requirements file",
    )
    max_task_concurrency: int = option(
        -1, short="-mtc", check=at_least(-1), help="most workers across all instances; -1: no limit"
    )
    instance_ocpus: float = option(
        4.0, check=greater_than(0), help="OCPUs per container instance; also its number of workers (one per OCPU)"
    )
    instance_start_timeout_seconds: float = option(
        600.0, check=greater_than(0), help="an instance not ACTIVE this long after it was created is replaced"
    )
