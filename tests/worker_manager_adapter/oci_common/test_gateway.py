"""The OCI gateway, through the real ``oci`` SDK, against the local stand-in (signed requests, real REST paths)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from scaler.worker_manager_adapter.oci_common.gateway import OciGateway
from scaler.worker_manager_adapter.oci_common.models import (
    InstanceSpec,
    OciConnection,
    OciError,
    OciSetupError,
    endpoint_map,
)
from scaler.worker_manager_adapter.oci_common.pacing import Backoff
from tests.conftest import wait_until
from tests.worker_manager_adapter.oci_standin.standin import AVAILABILITY_DOMAIN, COMPARTMENT_ID, SUBNET_ID, StandIn

pytestmark = pytest.mark.cloud

PROBE_IMAGE = "standin.ocir.io/standinns/probe:1"


def connect(standin: StandIn, config_file: Path, **overrides: str) -> OciGateway:
    settings = {"region": standin.region, "config_file": str(config_file), "endpoint": standin.endpoint, **overrides}
    return OciGateway.connect(OciConnection(**settings))


def spec(name: str, environment: dict[str, str], image: str = PROBE_IMAGE) -> InstanceSpec:
    return InstanceSpec(
        display_name=name, compartment_id=COMPARTMENT_ID, availability_domain=AVAILABILITY_DOMAIN,
        subnet_id=SUBNET_ID, shape="CI.Standard.E4.Flex", ocpus=1.0, memory_gb=2.0, image_url=image,
        environment=environment, freeform_tags={"scaler-manager-id": "probe"},
    )  # fmt: skip


def test_objects_round_trip(standin: StandIn, oci_config_file: Path) -> None:
    gateway = connect(standin, oci_config_file)
    namespace = gateway.namespace()
    standin.create_bucket("tasks")
    gateway.put_object(namespace, "tasks", "scaler-tasks/a/payload.pkl", b"\x00payload")
    gateway.put_object(namespace, "tasks", "scaler-tasks/b/payload.pkl", b"other")
    assert gateway.get_object(namespace, "tasks", "scaler-tasks/a/payload.pkl") == b"\x00payload"
    assert gateway.list_objects(namespace, "tasks", "scaler-tasks/a/") == ["scaler-tasks/a/payload.pkl"]
    assert gateway.delete_object(namespace, "tasks", "scaler-tasks/a/payload.pkl") is True
    assert gateway.delete_object(namespace, "tasks", "scaler-tasks/a/payload.pkl") is False
    assert gateway.get_object(namespace, "tasks", "scaler-tasks/a/payload.pkl") is None
    with pytest.raises(OciError, match="BucketNotFound"):
        gateway.get_object(namespace, "no-such-bucket", "x")


def test_instance_lifecycle_follows_the_container_process(standin: StandIn, oci_config_file: Path) -> None:
    standin.runtime.images[PROBE_IMAGE] = [sys.executable, "-c", "import os, sys; sys.exit(int(os.environ['CODE']))"]
    gateway = connect(standin, oci_config_file)
    ok = gateway.create_instance(spec("probe-ok", {"CODE": "0"}))
    failing = gateway.create_instance(spec("probe-failing", {"CODE": "3"}))
    assert ok.state == "CREATING" and ok.freeform_tags == {"scaler-manager-id": "probe"}

    def state(instance_id: str) -> str:
        info = gateway.get_instance(instance_id)
        return info.state if info else "GONE"

    wait_until(lambda: state(ok.id) == "INACTIVE" and state(failing.id) == "FAILED", timeout=20)
    failed = gateway.get_instance(failing.id)
    assert failed is not None and "exited with code 3" in failed.details
    listed = {info.id: info.state for info in gateway.list_instances(COMPARTMENT_ID, AVAILABILITY_DOMAIN)}
    assert listed == {ok.id: "INACTIVE", failing.id: "FAILED"}
    assert gateway.delete_instance(ok.id) is True
    wait_until(lambda: state(ok.id) == "DELETED")
    assert gateway.delete_instance(ok.id) is False  # already deleted: not an error for the caller
    assert gateway.get_instance("ocid1.computecontainerinstance.oc1.iad.nope") is None


def test_resource_principal_inside_a_container_reaches_object_storage(standin: StandIn, oci_config_file: Path) -> None:
    standin.create_bucket("tasks")
    code = (
        "import os; from scaler.worker_manager_adapter.oci_common.gateway import OciGateway;"
        "from scaler.worker_manager_adapter.oci_common.models import OciConnection;"
        "g = OciGateway.connect(OciConnection(region='', auth_type='resource_principal', endpoint=os.environ['EP']));"
        "g.put_object(g.namespace(), 'tasks', 'from-container', b'signed by the instance')"
    )
    standin.runtime.images[PROBE_IMAGE] = [sys.executable, "-c", code]
    gateway = connect(standin, oci_config_file)
    instance = gateway.create_instance(spec("probe-rp", {"EP": standin.endpoint}))
    wait_until(lambda: standin.objects("tasks") == ["from-container"], timeout=30)
    info = gateway.get_instance(instance.id)
    assert info is not None and info.state in ("ACTIVE", "INACTIVE"), standin.log_of(standin.instances()[0])


def test_unknown_credentials_get_the_services_authentication_error(standin: StandIn, tmp_path: Path) -> None:
    untrusted = standin.write_oci_config(tmp_path / "other", trusted=False)
    with pytest.raises(OciError) as raised:
        connect(standin, untrusted).namespace()
    assert raised.value.status == 401 and not raised.value.transient
    assert "NotAuthenticated (HTTP 401" in str(raised.value) and "\n" not in str(raised.value)


def test_setup_errors_are_one_line(standin: StandIn, oci_config_file: Path, tmp_path: Path) -> None:
    with pytest.raises(OciSetupError, match=r"not found.*oci setup config"):
        connect(standin, tmp_path / "missing")
    with pytest.raises(OciSetupError, match="profile 'OTHER' not found"):
        connect(standin, oci_config_file, profile="OTHER")


def test_short_availability_domain_names_are_resolved(standin: StandIn, oci_config_file: Path) -> None:
    gateway = connect(standin, oci_config_file)
    assert gateway.resolve_availability_domain("AD-2") == "Uocm:US-ASHBURN-AD-2"
    assert gateway.resolve_availability_domain("ad-1") == "Uocm:US-ASHBURN-AD-1"
    assert gateway.resolve_availability_domain("Uocm:US-ASHBURN-AD-3") == "Uocm:US-ASHBURN-AD-3"
    assert gateway.resolve_availability_domain("AD-9") == "AD-9"  # no match: OCI will say what is wrong


def test_throttling_is_a_transient_error(standin: StandIn, oci_config_file: Path) -> None:
    standin.fail_next("GetNamespace", 429, "TooManyRequests", "Too many requests for the tenancy")
    gateway = connect(standin, oci_config_file)
    with pytest.raises(OciError) as raised:
        gateway.namespace()
    assert raised.value.transient and raised.value.code == "TooManyRequests"
    assert gateway.namespace() == standin.namespace  # no SDK-level retry: the caller paces retries


def test_unreachable_endpoint_is_transient(oci_config_file: Path, standin: StandIn) -> None:
    gateway = connect(standin, oci_config_file, endpoint="http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(OciError) as raised:
        gateway.namespace()
    assert raised.value.status == 0 and raised.value.transient and time.monotonic() - started < 15


def test_endpoint_overrides_and_backoff() -> None:
    assert endpoint_map("http://127.0.0.1:1/") == {"*": "http://127.0.0.1:1"}
    assert OciConnection("r", endpoint="object_storage=https://a.example,http://b").endpoint_for("identity") == (
        "http://b"
    )
    with pytest.raises(ValueError, match="unknown service"):
        endpoint_map("compute=https://x")
    backoff = Backoff(initial=1.0, maximum=5.0, jitter=lambda: 0.5)
    assert [backoff.failure(0.0) for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert not backoff.ready(4.9) and backoff.ready(5.0)
    backoff.success()
    assert backoff.ready(0.0) and backoff.failure(0.0) == 1.0
