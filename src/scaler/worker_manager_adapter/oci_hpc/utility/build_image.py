"""``provisioner build-image``: build the oci_hpc job runner image with docker and push it to OCIR.

The build context is made here: ``Dockerfile.job_runner`` beside a copy of the installed ``scaler`` package (the
runner needs its job payload and OCI gateway modules), so it works from a source tree and from an installed wheel
alike. The image's Python and cloudpickle default to this interpreter's, which the clients' payloads need.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import cloudpickle

import scaler
from scaler.worker_manager_adapter.oci_hpc.utility.provisioner import fail, read_config, write_config

DOCKERFILE = Path(__file__).with_name("Dockerfile.job_runner")


def build_image(args: argparse.Namespace, config_path: Path) -> None:
    document = read_config(config_path) if config_path.exists() else {}
    image = args.image or document.get("container_image")
    if not image:
        fail(f"no image to build: pass --image, or run provision first (it records the OCIR repository in "
             f"{config_path})")  # fmt: skip
    docker = shutil.which(args.docker)
    if docker is None:
        fail(f"docker ({args.docker!r}) was not found on PATH: build-image builds and pushes the job runner image "
             "with docker; install docker, or pass --docker PATH")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="scaler-job-image-") as folder:
        context = Path(folder)
        shutil.copy(DOCKERFILE, context / "Dockerfile")
        package = Path(scaler.__file__).parent
        shutil.copytree(package, context / "scaler", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        build = [docker, "build", "--build-arg", f"PYTHON_VERSION={args.python_version}",
                 "--build-arg", f"CLOUDPICKLE_VERSION={cloudpickle.__version__}",
                 "--build-arg", f"EXTRA_PACKAGES={args.extra_packages}", "-t", image, str(context)]  # fmt: skip
        _run(build, "docker build")
    if not args.no_push:
        registry = image.split("/", 1)[0]
        _run([docker, "push", image], "docker push", f"log in first: docker login {registry} -u "
             "<tenancy-namespace>/<username> (an auth token as the password)")  # fmt: skip
    if document and document.get("container_image") != image:
        document["container_image"] = image
        write_config(config_path, document)
    print(f"{'built' if args.no_push else 'built and pushed'} {image}")


def _run(command: list[str], what: str, hint: str = "") -> None:
    print("$", " ".join(command))
    code = subprocess.call(command, stdin=subprocess.DEVNULL)
    if code != 0:
        fail(f"{what} failed with exit code {code}" + (f"; {hint}" if hint else ""))
