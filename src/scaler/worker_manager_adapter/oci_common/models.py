"""Plain values the OCI gateway takes and returns (no SDK import: the managers' logic and tests use them freely)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ENDPOINT_SERVICES = ("container_instances", "object_storage", "identity", "artifacts")
TRANSIENT_STATUSES = frozenset({0, 429, 500, 502, 503, 504})
TERMINAL_STATES = frozenset({"INACTIVE", "FAILED", "DELETING", "DELETED"})


def parse_endpoints(raw: object) -> str:
    """Validate ``--oci-endpoint`` and keep its text: one base URL for every service, or
    ``service=URL,...`` per service (services: container_instances, object_storage, identity, artifacts)."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("expected a URL, or service=URL pairs separated by commas")
    endpoint_map(raw)
    return raw.strip()


def endpoint_map(text: str) -> dict[str, str]:
    """``"http://h:1"`` -> ``{"*": "http://h:1"}``; ``"object_storage=https://a"`` -> ``{"object_storage": ...}``."""
    endpoints: dict[str, str] = {}
    for part in (piece.strip() for piece in text.split(",")):
        service, sep, url = part.partition("=")
        if not sep:
            service, url = "*", part
        elif service not in ENDPOINT_SERVICES:
            raise ValueError(f"unknown service {service!r} in {text!r} (services: {', '.join(ENDPOINT_SERVICES)})")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {url!r} must start with http:// or https://")
        endpoints[service] = url.rstrip("/")
    return endpoints


class OciSetupError(Exception):
    """Credentials or settings that cannot work (no config file, unknown profile, unreadable key)."""


class OciError(Exception):
    """A failed OCI call: ``status`` is the HTTP status (0: no answer), ``code`` and ``message`` the service's."""

    def __init__(self, operation: str, status: int, code: str, message: str, request_id: str = "") -> None:
        super().__init__(operation, status, code, message)
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id

    @property
    def transient(self) -> bool:
        """Throttling (429), a server error or no answer at all: the same call may succeed later."""
        return self.status in TRANSIENT_STATUSES

    @property
    def not_found(self) -> bool:
        return self.status == 404

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status else "no response"
        request = f", opc-request-id {self.request_id}" if self.request_id else ""
        return f"{self.operation}: {self.code} ({status}{request}): {self.message}"


@dataclass(frozen=True)
class OciConnection:
    """How to reach OCI: region, credentials (config_file, instance_principal, resource_principal), endpoints."""

    region: str
    auth_type: str = "config_file"
    profile: str = "DEFAULT"
    config_file: str = "~/.oci/config"
    endpoint: str | None = None  # see config.parse_endpoints

    def endpoint_for(self, service: str) -> str | None:
        if not self.endpoint:
            return None
        endpoints = endpoint_map(self.endpoint)
        return endpoints.get(service, endpoints.get("*"))


@dataclass(frozen=True)
class InstanceSpec:
    """One container instance with one container."""

    display_name: str
    compartment_id: str
    availability_domain: str
    subnet_id: str
    shape: str
    ocpus: float
    memory_gb: float
    image_url: str
    environment: Mapping[str, str]
    freeform_tags: Mapping[str, str]
    restart_policy: str = "NEVER"  # ALWAYS | NEVER | ON_FAILURE
    pull_credentials: tuple[str, str] | None = None  # (username, password) for a private registry


@dataclass(frozen=True)
class InstanceInfo:
    id: str
    display_name: str
    state: str  # CREATING | UPDATING | ACTIVE | INACTIVE | DELETING | DELETED | FAILED
    details: str
    freeform_tags: Mapping[str, str] = field(default_factory=dict)
