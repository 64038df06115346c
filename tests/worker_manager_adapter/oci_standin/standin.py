"""``StandIn``: a local OCI for the tests, driven by the real ``oci`` SDK.

    with StandIn(tmp_path, images={IMAGE: [python, "-m", "runner"]}) as oci:
        config_file = oci.write_oci_config(tmp_path)      # an API key the stand-in trusts
        ...  # clients built with service_endpoint=oci.endpoint

It keeps state in memory, checks request signatures, runs "container instances" as local processes (see
containers.py) and lets a test look inside: live instances, peak concurrency, objects, injected faults.

Run it by hand (for the documents' commands against no tenancy)::

    python -m tests.worker_manager_adapter.oci_standin --port 9555 --folder /tmp/oci-standin --bucket scaler-tasks
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from tests.worker_manager_adapter.oci_standin.containers import ContainerRuntime
from tests.worker_manager_adapter.oci_standin.keys import TENANCY_ID, ApiKey, Keyring
from tests.worker_manager_adapter.oci_standin.model import CloudState, Instance
from tests.worker_manager_adapter.oci_standin.server import Api, Fault, serve

NAMESPACE = "standinns"
REGION = "us-ashburn-1"
COMPARTMENT_ID = "ocid1.compartment.oc1..aaaaaaaastandincompartment"
SUBNET_ID = "ocid1.subnet.oc1.iad.aaaaaaaastandinsubnet"
AVAILABILITY_DOMAIN = "Uocm:US-ASHBURN-AD-1"


IMAGE_BIN = Path(__file__).parent / "image_bin"  # the image's own tools: a uv that installs from this machine
_IMAGE_PACKAGES: list[tuple[Path, Path]] = []


def image_packages() -> tuple[Path, Path]:
    """What the image's uv installs from (built once per test process): a wheelhouse holding only the wheel of
    this checkout, and a folder of links to the test environment's packages except scaler (the dependencies)."""
    if not _IMAGE_PACKAGES:
        import scaler

        root = Path(scaler.__file__).resolve().parents[2]
        folder = Path(tempfile.mkdtemp(prefix="oci-standin-image-"))
        wheelhouse, dependencies = folder / "wheelhouse", folder / "dependencies"
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(root), "-w", str(wheelhouse)],
            check=True, timeout=600, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        dependencies.mkdir()
        site = Path(sysconfig.get_paths()["purelib"])
        for entry in site.iterdir():
            name = entry.name.lower()
            if name == "scaler" or name.startswith(("scaler-", "__editable__")) or name.endswith(".pth"):
                continue  # this checkout comes from the wheel, or not at all
            (dependencies / entry.name).symlink_to(entry)
        _IMAGE_PACKAGES.append((wheelhouse, dependencies))
    return _IMAGE_PACKAGES[0]


def local_container_env(folder: Path) -> dict[str, str]:
    """What a stand-in container sees besides its own variables (the "image's" environment): the image tools and
    this interpreter's bin on PATH (its "installed" software, with PYTHONPATH if set), a HOME, a TMPDIR and a venv
    path inside the stand-in's folders, and no inherited OCI or scaler settings."""
    keep = {name: os.environ[name] for name in ("HOME", "LANG") if name in os.environ}  # no PYTHONPATH: no
    # scaler from the source tree; the image has what its uv installed
    wheelhouse, dependencies = image_packages()
    path = os.pathsep.join([str(IMAGE_BIN), str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])
    temporary = folder / "tmp"
    temporary.mkdir(exist_ok=True)
    return {**keep, "PATH": path, "TMPDIR": str(temporary), "SCALER_VENV": "scaler-venv",
            "FAKE_UV_LOG": str(folder / "uv.log"), "STANDIN_WHEELHOUSE": str(wheelhouse),
            "STANDIN_DEPENDENCIES": str(dependencies)}  # fmt: skip


class StandIn:
    def __init__(
        self,
        folder: Path | None = None,
        images: Mapping[str, Sequence[str]] | None = None,
        create_delay: float = 0.2,
        port: int = 0,
    ) -> None:
        self.folder = Path(folder or tempfile.mkdtemp(prefix="oci-standin-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tenancy_id = TENANCY_ID
        self.namespace = NAMESPACE
        self.region = REGION
        self.state = CloudState(NAMESPACE)
        self.keyring = Keyring()
        self.api_key = ApiKey.generate()
        self.keyring.trust(self.api_key)
        self.api = Api(self.state, self.keyring, time.monotonic)
        logs = self.folder / "containers"
        logs.mkdir(exist_ok=True)
        self.runtime = ContainerRuntime(
            self.state, self.keyring, REGION, images or {}, local_container_env(self.folder), logs, create_delay
        )
        self._server = serve(self.api, port)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.runtime.stop()

    # --- credentials ------------------------------------------------------------------------------------------

    def write_oci_config(self, folder: Path, trusted: bool = True) -> Path:
        """An OCI config file with a key the stand-in trusts (or, with ``trusted=False``, one it has never seen)."""
        folder.mkdir(parents=True, exist_ok=True)
        key = self.api_key if trusted else ApiKey.generate()
        return key.write_config(folder, REGION)

    # --- looking inside ---------------------------------------------------------------------------------------

    def instances(self) -> list[Instance]:
        with self.state.lock:
            return list(self.state.instances.values())

    def live_instances(self) -> list[Instance]:
        """Instances that exist (not being deleted or deleted): what counts against a tenancy's limits."""
        return self.state.live_instances()

    def running_processes(self) -> int:
        with self.state.lock:
            return sum(1 for i in self.state.instances.values() if i.state in ("ACTIVE", "DELETING"))

    @property
    def peak_live_instances(self) -> int:
        return self.state.peak_live_instances

    def log_of(self, instance: Instance) -> str:
        return self.runtime.log_of(instance)

    def uv_log(self) -> str:
        """What the image's (fake) uv was asked to do, by every instance so far."""
        path = self.folder / "uv.log"
        return path.read_text() if path.exists() else ""

    def objects(self, bucket: str) -> list[str]:
        with self.state.lock:
            found = self.state.buckets.get(bucket)
            return sorted(found.objects) if found else []

    def create_bucket(self, name: str, compartment_id: str = COMPARTMENT_ID) -> None:
        self.state.create_bucket(NAMESPACE, {"name": name, "compartmentId": compartment_id})

    def calls(self, operation: str) -> list[int]:
        """Statuses answered to ``operation`` (e.g. "CreateContainerInstance"), in order."""
        return [status for name, status in list(self.api.calls) if name == operation]

    # --- faults -----------------------------------------------------------------------------------------------

    def fail_next(self, operation: str, status: int, code: str, message: str, times: int = 1) -> None:
        self.api.faults.append(Fault(operation, status, code, message, times))

    def lose_objects_containing(self, marker: str) -> None:
        """Objects whose name contains ``marker`` vanish as soon as written (a lifecycle rule that ran early)."""
        self.state.lost_object_markers.append(marker)


REGISTRY = "standin.ocir.io/standinns"
WORKER_IMAGE = f"{REGISTRY}/scaler-oci-raw:test"
JOB_RUNNER_IMAGE = f"{REGISTRY}/scaler-oci-hpc-job-runner:test"


def standin_images() -> dict[str, list[str]]:
    """The images the stand-in "has": what their entrypoints run here (the same programs the Dockerfiles install)."""
    import scaler.worker_manager_adapter

    adapters = Path(scaler.worker_manager_adapter.__file__).parent
    return {
        WORKER_IMAGE: ["bash", str(adapters / "oci_raw" / "utility" / "entrypoint.sh")],
        JOB_RUNNER_IMAGE: [sys.executable, "-m", "scaler.worker_manager_adapter.oci_hpc.job_runner"],
    }
