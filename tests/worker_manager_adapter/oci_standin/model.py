"""The stand-in's in-memory cloud: container instances, buckets and objects, dynamic groups, policies, repositories.

Every operation takes the state lock, validates its input the way the service does (what our adapters could get
wrong), and raises ``ApiError`` with the service's status, code and message. Shapes of the JSON documents are
those the real SDK parses (camelCase, RFC 3339 times).
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

LIVE_STATES = ("CREATING", "ACTIVE", "UPDATING", "INACTIVE", "FAILED")  # exists and counts against limits
_serial = itertools.count(1)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def not_found(what: str) -> ApiError:
    return ApiError(404, "NotAuthorizedOrNotFound", f"Authorization failed or requested resource not found: {what}")


def new_ocid(kind: str) -> str:
    return f"ocid1.{kind}.oc1.iad.standin{next(_serial):05d}{secrets.token_hex(4)}"


def timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Instance:
    id: str
    request: dict[str, Any]  # the CreateContainerInstanceDetails as sent: what the runtime runs
    state: str = "CREATING"
    details: str = "Creating container instance"
    time_created: str = field(default_factory=timestamp)
    time_updated: str = field(default_factory=timestamp)
    created_at: float = 0.0  # monotonic
    container_ids: list[str] = field(default_factory=list)

    def set_state(self, state: str, details: str) -> None:
        self.state, self.details, self.time_updated = state, details, timestamp()

    def to_json(self, summary: bool = False) -> dict[str, Any]:
        request = self.request
        document: dict[str, Any] = {
            "id": self.id,
            "displayName": request.get("displayName") or self.id,
            "compartmentId": request["compartmentId"],
            "availabilityDomain": request["availabilityDomain"],
            "faultDomain": "FAULT-DOMAIN-1",
            "lifecycleState": self.state,
            "lifecycleDetails": self.details,
            "containerCount": len(request["containers"]),
            "volumeCount": 0,
            "shape": request["shape"],
            "shapeConfig": {
                "ocpus": request["shapeConfig"]["ocpus"],
                "memoryInGBs": request["shapeConfig"].get("memoryInGBs", 16.0),
                "processorDescription": "stand-in (local processes)",
                "networkingBandwidthInGbps": 1.0,
            },
            "containerRestartPolicy": request.get("containerRestartPolicy", "ALWAYS"),
            "timeCreated": self.time_created,
            "timeUpdated": self.time_updated,
            "freeformTags": request.get("freeformTags", {}),
            "definedTags": request.get("definedTags", {}),
            "systemTags": {},
        }
        if not summary:
            document["containers"] = [
                {"containerId": cid, "displayName": c.get("displayName", f"container-{i}")}
                for i, (cid, c) in enumerate(zip(self.container_ids, request["containers"], strict=True))
            ]
            document["volumes"] = []
            document["vnics"] = [{"vnicId": f"ocid1.vnic.oc1.iad.standin-{self.id[-8:]}"}]
            document["gracefulShutdownTimeoutInSeconds"] = request.get("gracefulShutdownTimeoutInSeconds", 0)
        return document


@dataclass
class StoredObject:
    data: bytes
    etag: str
    time_created: str = field(default_factory=timestamp)


@dataclass
class Bucket:
    name: str
    namespace: str
    compartment_id: str
    time_created: str = field(default_factory=timestamp)
    objects: dict[str, StoredObject] = field(default_factory=dict)
    lifecycle: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "compartmentId": self.compartment_id,
                "createdBy": "stand-in", "timeCreated": self.time_created, "etag": f"bucket-{self.name}",
                "publicAccessType": "NoPublicAccess", "storageTier": "Standard", "id": f"bucket-{self.name}",
                "approximateCount": len(self.objects)}  # fmt: skip


def _require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, "", [], {}):
            raise ApiError(400, "InvalidParameter", f"{name} is required")


class CloudState:
    """Everything the stand-in knows, behind one lock."""

    def __init__(self, namespace: str) -> None:
        self.lock = threading.RLock()
        self.namespace = namespace
        self.instances: dict[str, Instance] = {}
        self.retry_tokens: dict[str, str] = {}
        self.buckets: dict[str, Bucket] = {}
        self.dynamic_groups: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.repositories: dict[str, dict[str, Any]] = {}
        self.peak_live_instances = 0
        self.instances_created = 0
        self.lost_object_markers: list[str] = []  # objects whose name contains one of these vanish once written

    # --- container instances -----------------------------------------------------------------------------------

    def create_instance(self, body: dict[str, Any], retry_token: str | None, now: float) -> Instance:
        _require(body, "compartmentId", "availabilityDomain", "shape", "shapeConfig", "containers", "vnics")
        for container in body["containers"]:
            _require(container, "imageUrl")
        if not body["vnics"][0].get("subnetId", "").startswith("ocid1.subnet."):
            raise ApiError(400, "InvalidParameter", "vnics[0].subnetId must be a subnet OCID")
        if float(body["shapeConfig"].get("ocpus", 0)) <= 0:
            raise ApiError(400, "InvalidParameter", "shapeConfig.ocpus must be > 0")
        with self.lock:
            if retry_token and retry_token in self.retry_tokens:  # a retried create: same answer
                return self.instances[self.retry_tokens[retry_token]]
            instance = Instance(new_ocid("computecontainerinstance"), body, created_at=now)
            instance.container_ids = [new_ocid("computecontainer") for _ in body["containers"]]
            self.instances[instance.id] = instance
            if retry_token:
                self.retry_tokens[retry_token] = instance.id
            self.instances_created += 1
            self.note_live()
            return instance

    def get_instance(self, instance_id: str) -> Instance:
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise not_found(instance_id)
            return instance

    def list_instances(self, query: dict[str, str]) -> list[Instance]:
        _require(query, "compartmentId")
        with self.lock:
            found = [i for i in self.instances.values() if i.request["compartmentId"] == query["compartmentId"]]
        for key, attribute in (("availabilityDomain", "availabilityDomain"), ("displayName", "displayName")):
            if key in query:
                found = [i for i in found if i.request.get(attribute) == query[key]]
        if "lifecycleState" in query:
            found = [i for i in found if i.state == query["lifecycleState"]]
        return found

    def delete_instance(self, instance_id: str) -> Instance:
        with self.lock:
            instance = self.get_instance(instance_id)
            if instance.state in ("DELETING", "DELETED"):
                raise ApiError(409, "Conflict", f"container instance {instance_id} is already {instance.state}")
            instance.set_state("DELETING", "Deleting container instance")
            return instance

    def live_instances(self) -> list[Instance]:
        with self.lock:
            return [i for i in self.instances.values() if i.state in LIVE_STATES]

    def note_live(self) -> None:
        self.peak_live_instances = max(self.peak_live_instances, len(self.live_instances()))

    # --- object storage ----------------------------------------------------------------------------------------

    def bucket(self, namespace: str, name: str) -> Bucket:
        if namespace != self.namespace:
            raise ApiError(404, "NamespaceNotFound", f"Either the namespace {namespace} does not exist or you are "
                           "not authorized to view it")  # fmt: skip
        bucket = self.buckets.get(name)
        if bucket is None:
            raise ApiError(404, "BucketNotFound", f"Either the bucket named '{name}' does not exist in the "
                           f"namespace '{namespace}' or you are not authorized to access it")  # fmt: skip
        return bucket

    def create_bucket(self, namespace: str, body: dict[str, Any]) -> Bucket:
        _require(body, "name", "compartmentId")
        with self.lock:
            self.bucket_namespace_check(namespace)
            if body["name"] in self.buckets:
                raise ApiError(409, "BucketAlreadyExists", f"Either the bucket '{body['name']}' in namespace "
                               f"'{namespace}' already exists or you are not authorized to create it")  # fmt: skip
            bucket = self.buckets[body["name"]] = Bucket(body["name"], namespace, body["compartmentId"])
            return bucket

    def bucket_namespace_check(self, namespace: str) -> None:
        if namespace != self.namespace:
            raise ApiError(404, "NamespaceNotFound", f"namespace {namespace} not found")

    def delete_bucket(self, namespace: str, name: str) -> None:
        with self.lock:
            bucket = self.bucket(namespace, name)
            if bucket.objects:
                raise ApiError(409, "BucketNotEmpty", f"Bucket named '{name}' is not empty. Delete all objects first.")
            del self.buckets[name]

    def put_object(self, namespace: str, bucket_name: str, name: str, data: bytes) -> StoredObject:
        with self.lock:
            bucket = self.bucket(namespace, bucket_name)
            stored = StoredObject(data, hashlib.md5(data).hexdigest())
            if not any(marker in name for marker in self.lost_object_markers):
                bucket.objects[name] = stored
            return stored

    def get_object(self, namespace: str, bucket_name: str, name: str) -> StoredObject:
        with self.lock:
            stored = self.bucket(namespace, bucket_name).objects.get(name)
            if stored is None:
                raise ApiError(404, "ObjectNotFound", f"The object '{name}' was not found in the bucket "
                               f"'{bucket_name}'")  # fmt: skip
            return stored

    def delete_object(self, namespace: str, bucket_name: str, name: str) -> None:
        with self.lock:
            self.get_object(namespace, bucket_name, name)
            del self.buckets[bucket_name].objects[name]

    # --- identity and artifacts --------------------------------------------------------------------------------

    def create_named(self, table: dict[str, dict[str, Any]], kind: str, body: dict[str, Any],
                     name_key: str, required: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
        _require(body, *required)
        with self.lock:
            if any(r[name_key] == body[name_key] and r["compartmentId"] == body["compartmentId"]
                   for r in table.values()):  # fmt: skip
                raise ApiError(409, "NotAuthorizedOrResourceAlreadyExists", f"{kind} '{body[name_key]}' already exists")
            record = {**body, "id": new_ocid(kind), "lifecycleState": "ACTIVE", "timeCreated": timestamp()}
            table[record["id"]] = record
            return record

    def delete_named(self, table: dict[str, dict[str, Any]], record_id: str) -> None:
        with self.lock:
            if table.pop(record_id, None) is None:
                raise not_found(record_id)
