"""Create, remove and equip what oci_hpc needs in a tenancy.

    python -m scaler.worker_manager_adapter.oci_hpc.utility.provisioner provision \\
        --compartment-id ocid1.compartment.oc1..example --region us-ashburn-1 \\
        --availability-domain AD-1 --subnet-id ocid1.subnet.oc1..example
    python -m scaler.worker_manager_adapter.oci_hpc.utility.provisioner build-image --config .scaler_oci_config.json
    python -m scaler.worker_manager_adapter.oci_hpc.utility.provisioner cleanup --config .scaler_oci_config.json

``provision`` creates the bucket (with a lifecycle rule at least as long as the job timeout), a dynamic group of
the compartment's container instances, one policy (their Resource Principal may use the bucket, pull from OCIR,
and manage container-instances and virtual-network-family, as the document says; Object Storage may apply the
lifecycle rule) and the OCIR repository, and records them in the config file
as it goes. ``cleanup`` removes exactly what that file records, and nothing that existed before; a second run
finds nothing to do. ``build-image`` builds and pushes the job runner image with docker (see build_image.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from scaler.worker_manager_adapter.oci_common.config import ocid
from scaler.worker_manager_adapter.oci_common.models import OciConnection, OciError, OciSetupError, parse_endpoints

if TYPE_CHECKING:
    from scaler.worker_manager_adapter.oci_hpc.utility.admin_gateway import AdminGateway

PROG = "python -m scaler.worker_manager_adapter.oci_hpc.utility.provisioner"
DEFAULT_CONFIG = ".scaler_oci_config.json"
MINIMUM_LIFECYCLE_DAYS = 7


def fail(message: str) -> NoReturn:
    print(f"provisioner: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _checked(check: Any, kind: str) -> Any:
    def parse(text: str) -> str:
        problem = check(text)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem} (got {text!r})")
        return text

    parse.__name__ = kind  # argparse names the type in its messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Provision, clean up and build the image for oci_hpc.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    provision = commands.add_parser("provision", help="Create all OCI resources and generate config file")
    cleanup = commands.add_parser("cleanup", help="Tear down all OCI resources")
    build = commands.add_parser("build-image", help="Build and push job runner Docker image")
    env = os.environ.get
    provision.add_argument(
        "--compartment-id",
        required=env("OCI_COMPARTMENT_ID") is None,
        default=env("OCI_COMPARTMENT_ID"),
        type=_checked(ocid("compartment", "tenancy"), "OCID"),
        help="OCI Compartment OCID (env OCI_COMPARTMENT_ID)",
    )
    provision.add_argument("--region", default=env("OCI_REGION", "us-ashburn-1"), help="OCI region identifier")
    provision.add_argument(
        "--availability-domain",
        required=env("OCI_AVAILABILITY_DOMAIN") is None,
        default=env("OCI_AVAILABILITY_DOMAIN"),
        help="OCI Availability Domain",
    )
    provision.add_argument(
        "--subnet-id",
        required=env("OCI_SUBNET_ID") is None,
        default=env("OCI_SUBNET_ID"),
        type=_checked(ocid("subnet"), "OCID"),
        help="OCI Subnet OCID",
    )
    provision.add_argument(
        "--prefix",
        default="scaler-oci",
        help="name prefix of the dynamic group, policy and repository (default: scaler-oci)",
    )
    provision.add_argument("--bucket", default="scaler-tasks", help="bucket for task objects (default: scaler-tasks)")
    provision.add_argument("--object-storage-prefix", default="scaler-tasks", help="key prefix of task objects")
    provision.add_argument(
        "--job-timeout-seconds",
        type=float,
        default=3600.0,
        help="the managers' job timeout: objects must outlive it (default: 3600)",
    )
    provision.add_argument("--instance-shape", default="CI.Standard.E4.Flex")
    provision.add_argument("--instance-ocpus", type=float, default=1.0)
    provision.add_argument("--instance-memory-gb", type=float, default=6.0)
    for command in (provision, cleanup, build):
        command.add_argument("--config", default=DEFAULT_CONFIG, help=f"provisioner config file ({DEFAULT_CONFIG})")
    provision.add_argument("--profile", default=env("OCI_CONFIG_PROFILE", "DEFAULT"), help="OCI config profile")
    provision.add_argument("--auth-type", choices=("config_file", "instance_principal"), default="config_file")
    provision.add_argument("--oci-config-file", default=env("OCI_CONFIG_FILE", "~/.oci/config"))
    provision.add_argument(
        "--oci-endpoint",
        type=_checked(_endpoint_problem, "endpoint"),
        default=env("SCALER_OCI_ENDPOINT"),
        help="OCI API endpoint override (see the managers)",
    )
    build.add_argument("--image", help="image to build and push (default: the repository the config file records)")
    build.add_argument(
        "--python-version",
        default=f"{sys.version_info.major}.{sys.version_info.minor}",
        help="Python of the image; must match the clients' (default: this Python's)",
    )
    build.add_argument("--extra-packages", default="", help="pip packages the tasks need, space-separated")
    build.add_argument("--docker", default="docker", help="the docker command (default: docker)")
    build.add_argument("--no-push", action="store_true", help="build only")
    return parser  # fmt: skip


def _endpoint_problem(text: str) -> str | None:
    try:
        parse_endpoints(text)
    except ValueError as error:
        return str(error)
    return None


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    path = Path(args.config)
    if args.command == "provision":
        provision(args, path)
    elif args.command == "cleanup":
        cleanup(path)
    else:
        from scaler.worker_manager_adapter.oci_hpc.utility.build_image import build_image

        build_image(args, path)


# --- the config file ---------------------------------------------------------------------------------------------


def read_config(path: Path) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        fail(f"cannot read {path}: {error}")
    return document


def write_config(path: Path, document: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)  # never a half-written record of what exists


def connection_of(document: dict[str, Any]) -> OciConnection:
    auth = document.get("auth", {})
    return OciConnection(
        region=document["region"],
        auth_type=auth.get("auth_type", "config_file"),
        profile=auth.get("profile", "DEFAULT"),
        config_file=auth.get("config_file", "~/.oci/config"),
        endpoint=document.get("oci_endpoint"),
    )


def admin_gateway(connection: OciConnection) -> AdminGateway:
    try:
        import oci  # noqa: F401
    except ImportError as error:
        fail(f"the provisioner needs the OCI SDK ({error}): pip install 'scaler[oci]'")
    from scaler.worker_manager_adapter.oci_common.gateway import OciSession
    from scaler.worker_manager_adapter.oci_hpc.utility.admin_gateway import AdminGateway

    try:
        return AdminGateway(OciSession(connection))
    except OciSetupError as error:
        fail(str(error))


# --- provision ---------------------------------------------------------------------------------------------------


def lifecycle_days(job_timeout_seconds: float) -> int:
    """Result objects must outlive the longest job by a margin: at least a week, and a day more than the timeout."""
    return max(MINIMUM_LIFECYCLE_DAYS, math.ceil(job_timeout_seconds / 86400) + 1)


def provision(args: argparse.Namespace, path: Path) -> None:
    if path.exists() and read_config(path).get("created"):
        fail(f"{path} already records provisioned resources; run cleanup first, or pass another --config")
    document: dict[str, Any] = {
        "version": 1, "region": args.region, "compartment_id": args.compartment_id,
        "availability_domain": args.availability_domain, "subnet_id": args.subnet_id,
        "bucket": args.bucket, "object_storage_prefix": args.object_storage_prefix,
        "instance_shape": args.instance_shape, "instance_ocpus": args.instance_ocpus,
        "instance_memory_gb": args.instance_memory_gb, "job_timeout_seconds": args.job_timeout_seconds,
        "lifecycle_days": lifecycle_days(args.job_timeout_seconds),
        "auth": {"auth_type": args.auth_type, "profile": args.profile, "config_file": args.oci_config_file},
        "oci_endpoint": args.oci_endpoint, "created": {},
    }  # fmt: skip
    gateway = admin_gateway(connection_of(document))
    try:
        _provision(gateway, document, args.prefix, path)
    except OciError as error:
        what = "authenticate" if error.status == 401 else "provision"
        if not document["created"]:
            fail(f"could not {what}: {error}")
        write_config(path, document)
        fail(f"could not {what}: {error}; what was created is recorded in {path}: run cleanup to remove it")
    print(f"wrote {path}")
    print("next: build and push the job runner image:")
    print(f"  {PROG} build-image --config {path}")


def _provision(gateway: AdminGateway, document: dict[str, Any], prefix: str, path: Path) -> None:
    created: dict[str, Any] = document["created"]
    compartment, region, bucket = document["compartment_id"], document["region"], document["bucket"]
    namespace = document["namespace"] = gateway.namespace()
    document["tenancy_id"] = gateway.tenancy_id
    document["availability_domain"] = gateway.resolve_availability_domain(document["availability_domain"])

    group = f"{prefix}-container-instances"
    rule = f"ALL {{resource.type = 'computecontainerinstance', resource.compartment.id = '{compartment}'}}"
    group_id = gateway.create_dynamic_group(group, rule, "scaler oci_hpc job runners (container instances)")
    _record(path, document, "dynamic group", group, group_id, "dynamic_group")

    statements = [
        f"Allow dynamic-group {group} to manage objects in compartment id {compartment} "
        f"where target.bucket.name = '{bucket}'",
        f"Allow dynamic-group {group} to read repos in compartment id {compartment}",
        # What the oci_hpc document says the provisioner grants: launching container instances and their VNICs.
        f"Allow dynamic-group {group} to manage container-instances in compartment id {compartment}",
        f"Allow dynamic-group {group} to manage virtual-network-family in compartment id {compartment}",
        # Object Storage itself applies lifecycle rules, and needs leave to delete objects for them.
        f"Allow service objectstorage-{region} to manage object-family in compartment id {compartment}",
    ]
    policy = f"{prefix}-policy"
    policy_id = gateway.create_policy(compartment, policy, statements, "scaler oci_hpc: job runners and lifecycle")
    _record(path, document, "policy", policy, policy_id, "policy")

    days = document["lifecycle_days"]
    if gateway.create_bucket(namespace, bucket, compartment):
        created["bucket"] = {"name": bucket}
        write_config(path, document)
        gateway.expire_objects_after(namespace, bucket, document["object_storage_prefix"], days)
        print(f"created bucket {bucket} (objects under {document['object_storage_prefix']}/ expire after {days} days)")
    else:
        print(f"bucket {bucket} already exists: kept as it is (not removed by cleanup); its lifecycle policy is "
              f"unchanged: make sure task objects live longer than the job timeout")  # fmt: skip

    repository = f"{prefix}/job-runner"
    repository_id = gateway.create_repository(compartment, repository)
    _record(path, document, "OCIR repository", repository, repository_id, "repository")
    document["container_image"] = f"{region}.ocir.io/{namespace}/{repository}:latest"
    write_config(path, document)


def _record(path: Path, document: dict[str, Any], kind: str, name: str, resource_id: str | None, key: str) -> None:
    if resource_id is None:
        print(f"{kind} {name} already exists: kept as it is (not removed by cleanup)")
        return
    document["created"][key] = {"name": name, "id": resource_id}
    write_config(path, document)
    print(f"created {kind} {name} ({resource_id})")


# --- cleanup -----------------------------------------------------------------------------------------------------


CLEANUP_ORDER = (("repository", "OCIR repository"), ("bucket", "bucket"), ("policy", "policy"),
                 ("dynamic_group", "dynamic group"))  # fmt: skip


def cleanup(path: Path) -> None:
    if not path.exists():
        print(f"nothing to clean up: {path} does not exist")
        return
    document = read_config(path)
    created: dict[str, Any] = document.get("created", {})
    gateway = admin_gateway(connection_of(document)) if created else None
    for key, kind in CLEANUP_ORDER:
        record = created.get(key)
        if record is None or gateway is None:
            continue
        try:
            existed = _delete(gateway, document, key, record)
        except OciError as error:
            fail(f"could not delete {kind} {record['name']}: {error} (run cleanup again once it is fixed)")
        print(f"{'deleted' if existed else 'already gone:'} {kind} {record['name']}")
        del created[key]
        write_config(path, document)
    path.unlink()
    print(f"removed {path}: everything the provisioner created is gone")


def _delete(gateway: AdminGateway, document: dict[str, Any], key: str, record: dict[str, str]) -> bool:
    if key == "repository":
        return gateway.delete_repository(record["id"])
    if key == "bucket":
        return gateway.delete_bucket(document["namespace"], record["name"])
    if key == "policy":
        return gateway.delete_policy(record["id"])
    return gateway.delete_dynamic_group(record["id"])


if __name__ == "__main__":
    main()
