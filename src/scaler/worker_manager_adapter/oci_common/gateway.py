"""Every call the OCI managers make to OCI, through the ``oci`` SDK: the one module that imports it.

``OciSession`` turns settings into credentials and SDK clients (one per thread and service: the SDK's clients
hold a ``requests`` session, which threads should not share). ``OciGateway`` offers the few Container Instances
and Object Storage operations the managers and the job runner need, with plain Python values in and out, and
every SDK failure translated into ``OciError`` (status, code, the service's message, and whether a retry can help).

The SDK's own retries and circuit breaker are turned off: callers pace retries themselves (see pacing.py), so
that a throttled manager backs off without blocking its event loop and logs the condition once.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import oci

from scaler.worker_manager_adapter.oci_common.models import (
    InstanceInfo,
    InstanceSpec,
    OciConnection,
    OciError,
    OciSetupError,
)

T = TypeVar("T")


class OciSession:
    def __init__(self, connection: OciConnection) -> None:
        self.connection = connection
        self.config, self.signer = _credentials(connection)
        self._local = threading.local()

    @property
    def tenancy_id(self) -> str:
        if self.signer is not None and hasattr(self.signer, "tenancy_id"):
            return str(self.signer.tenancy_id)
        return str(self.config.get("tenancy", ""))

    def client(self, service: str, client_class: Any) -> Any:
        clients: dict[str, Any] = self._local.__dict__.setdefault("clients", {})
        if service not in clients:
            options: dict[str, Any] = {
                "retry_strategy": oci.retry.NoneRetryStrategy(),
                "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
                "timeout": (10.0, 60.0),
            }
            endpoint = self.connection.endpoint_for(service)
            if endpoint:
                options["service_endpoint"] = endpoint
            if self.signer is not None:
                options["signer"] = self.signer
            clients[service] = client_class(self.config, **options)
        return clients[service]

    def call(self, operation: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` with every SDK failure raised as ``OciError``."""
        try:
            return function(*args, **kwargs)
        except oci.exceptions.ServiceError as error:
            request_id = str(getattr(error, "request_id", "") or "")
            message = str(error.message or "").strip()
            raise OciError(operation, int(error.status), str(error.code), message, request_id) from None
        except (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout, OSError) as error:
            raise OciError(operation, 0, type(error).__name__, _first_line(error)) from None
        except Exception as error:  # the SDK's other failures (requests' ConnectionError, a bad response)
            if type(error).__module__.startswith(("requests", "urllib3", "oci")):
                raise OciError(operation, 0, type(error).__name__, _first_line(error)) from None
            raise


class OciGateway:
    """Container Instances and Object Storage, as the OCI managers and the in-container job runner use them."""

    def __init__(self, session: OciSession) -> None:
        self.session = session

    @staticmethod
    def connect(connection: OciConnection) -> OciGateway:
        return OciGateway(OciSession(connection))

    def _containers(self) -> Any:
        return self.session.client("container_instances", oci.container_instances.ContainerInstanceClient)

    def _objects(self) -> Any:
        return self.session.client("object_storage", oci.object_storage.ObjectStorageClient)

    # --- identity ------------------------------------------------------------------------------------------------

    def resolve_availability_domain(self, name: str) -> str:
        """The full name of an availability domain given as ``AD-1`` (OCI's APIs want ``Uocm:US-ASHBURN-AD-1``);
        a full name, or a short one that matches nothing, is returned as it is."""
        if ":" in name:
            return name
        client = self.session.client("identity", oci.identity.IdentityClient)
        domains = self.session.call(
            "ListAvailabilityDomains", client.list_availability_domains, self.session.tenancy_id
        )
        matches = [str(d.name) for d in domains.data if str(d.name).upper().endswith(f":{name.upper()}")]
        if not matches:
            matches = [str(d.name) for d in domains.data if str(d.name).upper().endswith(name.upper())]
        return matches[0] if len(matches) == 1 else name

    # --- object storage ----------------------------------------------------------------------------------------

    def namespace(self) -> str:
        return str(self.session.call("GetNamespace", self._objects().get_namespace).data)

    def put_object(self, namespace: str, bucket: str, name: str, data: bytes) -> None:
        self.session.call("PutObject", self._objects().put_object, namespace, bucket, name, data)

    def get_object(self, namespace: str, bucket: str, name: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        try:
            response = self.session.call("GetObject", self._objects().get_object, namespace, bucket, name)
        except OciError as error:
            if error.not_found and error.code == "ObjectNotFound":
                return None
            raise
        return bytes(response.data.content)

    def delete_object(self, namespace: str, bucket: str, name: str) -> bool:
        """Delete an object; False when it was already gone."""
        try:
            self.session.call("DeleteObject", self._objects().delete_object, namespace, bucket, name)
        except OciError as error:
            if error.not_found and error.code == "ObjectNotFound":
                return False
            raise
        return True

    def list_objects(self, namespace: str, bucket: str, prefix: str = "", limit: int | None = None) -> list[str]:
        names: list[str] = []
        start: str | None = None
        while limit is None or len(names) < limit:
            options: dict[str, Any] = {"prefix": prefix, "limit": min(1000, limit or 1000)}
            if start:
                options["start"] = start
            page = self.session.call("ListObjects", self._objects().list_objects, namespace, bucket, **options).data
            names.extend(item.name for item in page.objects)
            start = page.next_start_with
            if not start:
                break
        return names if limit is None else names[:limit]

    # --- container instances -----------------------------------------------------------------------------------

    def create_instance(self, spec: InstanceSpec, retry_token: str | None = None) -> InstanceInfo:
        models = oci.container_instances.models
        container = models.CreateContainerDetails(
            display_name="main", image_url=spec.image_url, environment_variables=dict(spec.environment)
        )
        details = models.CreateContainerInstanceDetails(
            display_name=spec.display_name,
            compartment_id=spec.compartment_id,
            availability_domain=spec.availability_domain,
            shape=spec.shape,
            shape_config=models.CreateContainerInstanceShapeConfigDetails(
                ocpus=spec.ocpus, memory_in_gbs=spec.memory_gb
            ),
            containers=[container],
            vnics=[models.CreateContainerVnicDetails(subnet_id=spec.subnet_id)],
            container_restart_policy=spec.restart_policy,
            freeform_tags=dict(spec.freeform_tags),
            image_pull_secrets=_pull_secrets(spec),
        )
        options = {"opc_retry_token": retry_token} if retry_token else {}
        client = self._containers()
        response = self.session.call("CreateContainerInstance", client.create_container_instance, details, **options)
        return _instance_info(response.data)

    def get_instance(self, instance_id: str) -> InstanceInfo | None:
        try:
            response = self.session.call("GetContainerInstance", self._containers().get_container_instance, instance_id)
        except OciError as error:
            if error.not_found:
                return None
            raise
        return _instance_info(response.data)

    def list_instances(self, compartment_id: str, availability_domain: str | None = None) -> list[InstanceInfo]:
        """Every container instance in the compartment (and availability domain), all states, all pages."""
        options: dict[str, Any] = {"limit": 100}
        if availability_domain:
            options["availability_domain"] = availability_domain
        found: list[InstanceInfo] = []
        page: str | None = None
        client = self._containers()
        while True:
            if page:
                options["page"] = page
            response = self.session.call(
                "ListContainerInstances", client.list_container_instances, compartment_id, **options
            )
            found.extend(_instance_info(item) for item in response.data.items)
            page = response.headers.get("opc-next-page")
            if not page:
                return found

    def delete_instance(self, instance_id: str) -> bool:
        """Ask OCI to delete an instance; False when it was already gone or being deleted."""
        try:
            self.session.call("DeleteContainerInstance", self._containers().delete_container_instance, instance_id)
        except OciError as error:
            if error.not_found or error.status == 409:
                return False
            raise
        return True


def _instance_info(data: Any) -> InstanceInfo:
    return InstanceInfo(
        id=str(data.id),
        display_name=str(data.display_name or ""),
        state=str(data.lifecycle_state),
        details=str(data.lifecycle_details or ""),
        freeform_tags=dict(data.freeform_tags or {}),
    )


def _pull_secrets(spec: InstanceSpec) -> list[Any] | None:
    if spec.pull_credentials is None:
        return None
    username, password = spec.pull_credentials
    registry = spec.image_url.split("/", 1)[0]
    return [
        oci.container_instances.models.CreateBasicImagePullSecretDetails(
            registry_endpoint=registry,
            username=base64.b64encode(username.encode()).decode(),
            password=base64.b64encode(password.encode()).decode(),
        )
    ]


def _credentials(connection: OciConnection) -> tuple[dict[str, Any], Any]:
    """(SDK config, signer or None) for the connection's auth type; OciSetupError in one line when it cannot work."""
    if connection.auth_type == "resource_principal":
        try:
            signer = oci.auth.signers.get_resource_principals_signer()
        except Exception as error:  # what the SDK raises varies with the version of the environment
            raise OciSetupError(f"no resource principal in this environment: {_first_line(error)}") from None
        return {"region": connection.region or getattr(signer, "region", "")}, signer
    if connection.auth_type == "instance_principal":
        try:
            signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        except Exception as error:
            text = f"cannot get an instance principal (is this an OCI compute instance?): {_first_line(error)}"
            raise OciSetupError(text) from None
        return {"region": connection.region}, signer
    if connection.auth_type != "config_file":
        raise OciSetupError(f"unknown auth type {connection.auth_type!r}")
    path = os.path.expanduser(connection.config_file)
    try:
        config = dict(oci.config.from_file(file_location=path, profile_name=connection.profile))
        config["region"] = connection.region
        signer = oci.signer.Signer.from_config(config)  # loads the key now: a bad key fails here, in one line
    except oci.exceptions.ConfigFileNotFound:
        raise OciSetupError(
            f"OCI config file {path} not found (run 'oci setup config', or point --oci-config-file/OCI_CONFIG_FILE "
            "at one)"
        ) from None
    except oci.exceptions.ProfileNotFound:
        raise OciSetupError(f"profile {connection.profile!r} not found in the OCI config file {path}") from None
    except (oci.exceptions.InvalidConfig, oci.exceptions.InvalidKeyFilePath) as error:
        raise OciSetupError(f"invalid OCI config {path} [{connection.profile}]: {_first_line(error)}") from None
    except (oci.exceptions.InvalidPrivateKey, oci.exceptions.MissingPrivateKeyPassphrase, OSError) as error:
        raise OciSetupError(f"cannot use the API key of {path} [{connection.profile}]: {_first_line(error)}") from None
    return config, signer


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
