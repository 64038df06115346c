"""``[[worker_manager]] type = "oci_raw"``: the container-instance options plus the workers' Python environment."""

from __future__ import annotations

import dataclasses
import os
import re
from typing import ClassVar

from scaler.config.checks import at_least, greater_than, non_empty
from scaler.config.options import option
from scaler.worker_manager_adapter.oci_common.config import OciContainerInstanceConfig

PACKAGE = "scaler"  # this project's distribution: the workers must run it, not another project's Scaler
OTHER_SCALER = "opengris-scaler"  # the documents' name, which installs a different Scaler that cannot talk to this one


def read_requirements(raw: object) -> str:
    """``requirements_txt``: the text of a requirements file, given inline or as the path of a file; it must
    install this project's package (by name, ``scaler @ URL``, or a ``scaler-*.whl`` file)."""
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {type(raw).__name__}")
    text = raw.strip()
    if text and "\n" not in text and os.path.isfile(os.path.expanduser(text)):
        with open(os.path.expanduser(text), encoding="utf-8") as file:
            raw = file.read()
    elif "\n" not in text and text.endswith(".txt"):
        raise ValueError(f"requirements file {text!r} not found (give the file's path, or the requirements inline)")
    names = [requirement_name(line) for line in raw.splitlines()]
    if OTHER_SCALER in names:
        raise ValueError(
            f"{OTHER_SCALER} is another project's Scaler, which cannot talk to this one: require {PACKAGE!r} "
            f"(e.g. '{PACKAGE}[oci]', or the URL or path of this project's wheel) instead"
        )
    if PACKAGE not in names:
        raise ValueError(
            f"the requirements do not install {PACKAGE!r}, which the workers run: add '{PACKAGE}[oci]' "
            "(or the URL or path of this project's wheel)"
        )
    return raw


def requirement_name(line: str) -> str | None:
    """The normalised project name a requirements line installs (``None`` for blanks, comments and options)."""
    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith(("#", "-")):
        return None
    text = text.split(" @", 1)[0].strip()  # "name @ URL"
    if text.endswith(".whl"):  # a wheel's path or URL: its file name starts with the project name
        text = os.path.basename(text).split("-", 1)[0]
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", text)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class OciRawConfig(OciContainerInstanceConfig):
    """Run Scaler workers in OCI Container Instances, started and stopped as the scheduler asks."""

    options_title: ClassVar[str] = "oci_raw options"

    python_version: str = option(check=non_empty, help="Python version of the workers' environment, e.g. 3.12")
    requirements_txt: str = option(
        parse=read_requirements,
        expected="requirements text or a file path",
        metavar="TEXT_OR_FILE",
        help="packages installed with uv when an instance starts; must include this project's package (scaler[oci], "
        "or its wheel's URL or path); inline text, one requirement per line, or the path of a requirements file",
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
