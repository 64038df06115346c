"""The ``[[worker_manager]]`` options both OCI managers take: where instances go, how to authenticate, and size.

Each option also reads an ``OCI_*`` environment variable (see "Using Existing Infrastructure" in the oci_hpc
document), so a shell that exports them needs no flags for them.
"""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from scaler.config.checks import greater_than, non_empty
from scaler.config.options import Check, option
from scaler.config.sections.worker_manager import WorkerManagerConfig
from scaler.worker_manager_adapter.oci_common.models import ENDPOINT_SERVICES, InstanceSpec, parse_endpoints

AuthType = Literal["config_file", "instance_principal"]


def ocid(*resource_types: str) -> Check:
    """An OCID of one of ``resource_types``: ``ocid1.<type>.<realm>.[region].<unique id>``."""
    example = f"ocid1.{resource_types[0]}.oc1..<unique id>"

    def rule(value: Any) -> str | None:
        parts = str(value).split(".")
        if len(parts) >= 5 and parts[0] == "ocid1" and parts[1] in resource_types and parts[2] and parts[-1]:
            return None
        return f"must be a {' or '.join(resource_types)} OCID like {example}"

    return rule


@dataclasses.dataclass(frozen=True, kw_only=True)
class OciContainerInstanceConfig(WorkerManagerConfig):
    """Where container instances are launched and how this manager authenticates to OCI."""

    options_title: ClassVar[str] = "OCI container instance options"

    worker_manager_id: str = option(
        short="-wmi", check=non_empty, help="identifier of this manager; also names and tags its container instances"
    )
    oci_region: str = option("us-ashburn-1", env="OCI_REGION", check=non_empty, help="OCI region identifier")
    compartment_id: str = option(
        env="OCI_COMPARTMENT_ID", check=ocid("compartment", "tenancy"), help="compartment OCID for the instances"
    )
    availability_domain: str = option(
        env="OCI_AVAILABILITY_DOMAIN", check=non_empty, help="availability domain, e.g. AD-1 or Uocm:US-ASHBURN-AD-1"
    )
    subnet_id: str = option(env="OCI_SUBNET_ID", check=ocid("subnet"), help="subnet OCID for the instances' VNICs")
    container_image: str = option(
        env="OCI_CONTAINER_IMAGE", check=non_empty, help="image URI, e.g. us-ashburn-1.ocir.io/<ns>/<repo>:latest"
    )
    instance_shape: str = option("CI.Standard.E4.Flex", check=non_empty, help="container instance shape")
    auth_type: AuthType = option(
        "config_file", env="OCI_AUTH_TYPE", help="config_file: an OCI CLI config file; instance_principal: the "
        "identity of the OCI compute instance this manager runs on"
    )  # fmt: skip
    oci_profile: str = option("DEFAULT", env="OCI_CONFIG_PROFILE", check=non_empty, help="profile in the config file")
    oci_config_file: str = option(
        "~/.oci/config", env="OCI_CONFIG_FILE", check=non_empty, help="OCI config file (auth_type config_file)"
    )
    oci_endpoint: str | None = option(
        None,
        env="SCALER_OCI_ENDPOINT",
        parse=parse_endpoints,
        expected="a URL, or service=URL pairs",
        metavar="URL",
        help="send OCI API calls to this base URL instead of the region's public endpoints (a private endpoint, a "
        "proxy, a local stand-in); 'service=URL,...' sets it per service: " + ", ".join(ENDPOINT_SERVICES),
    )
    image_pull_username: str | None = option(
        None, env="OCI_IMAGE_PULL_USERNAME", help="registry user for a private image (with --image-pull-password)"
    )
    image_pull_password: str | None = option(
        None, env="OCI_IMAGE_PULL_PASSWORD", help="registry password or auth token for a private image"
    )
    instance_ocpus: float = option(4.0, check=greater_than(0), help="OCPUs per container instance")
    instance_memory_gb: float = option(30.0, check=greater_than(0), help="memory in GB per container instance")

    def check_consistency(self) -> None:
        super().check_consistency()
        from scaler.config.errors import ConfigError

        if (self.image_pull_username is None) != (self.image_pull_password is None):
            raise ConfigError("image_pull_username and image_pull_password go together: give both or neither")

    def instance_template(self, restart_policy: str) -> InstanceSpec:
        """The container instance every unit or job starts from; the caller fills in name, environment and tags."""
        user, password = self.image_pull_username, self.image_pull_password
        return InstanceSpec(
            display_name="",
            compartment_id=self.compartment_id,
            availability_domain=self.availability_domain,
            subnet_id=self.subnet_id,
            shape=self.instance_shape,
            ocpus=self.instance_ocpus,
            memory_gb=self.instance_memory_gb,
            image_url=self.container_image,
            environment={},
            freeform_tags={},
            restart_policy=restart_policy,
            pull_credentials=(user, password) if user is not None and password is not None else None,
        )
