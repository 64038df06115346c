"""The stand-in's HTTP front: the REST paths the ``oci`` SDK calls, routed to the in-memory cloud.

Container Instances (``/20210415``), Object Storage (``/n/...``), Identity and Artifacts (``/20160918``) share one
port; a client reaches it by passing ``service_endpoint`` (our adapters: ``--oci-endpoint``). Every request must
carry a valid signature (see keys.py). Errors are the service's JSON ``{"code", "message"}`` with its status.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from tests.worker_manager_adapter.oci_standin.keys import TENANCY_ID, Keyring, NotAuthenticated
from tests.worker_manager_adapter.oci_standin.model import ApiError, CloudState, not_found, timestamp

NOT_AUTHENTICATED = "The required information to complete authentication was not provided or was incorrect."
AVAILABILITY_DOMAINS = ("Uocm:US-ASHBURN-AD-1", "Uocm:US-ASHBURN-AD-2", "Uocm:US-ASHBURN-AD-3")


@dataclass
class Request:
    method: str
    path: list[str]  # unquoted segments
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON document, raw bytes, or None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    operation: str
    status: int
    code: str
    message: str
    remaining: int


Handler = Callable[[Request], Reply]


@dataclass(frozen=True)
class NamedKind:
    """A named identity or artifacts resource: dynamic groups, policies, container repositories."""

    operation: str  # "DynamicGroup"
    plural: str
    ocid_kind: str
    name_key: str
    required: tuple[str, ...]


DYNAMIC_GROUP = NamedKind("DynamicGroup", "DynamicGroups", "dynamicgroup", "name", ("compartmentId", "name",
                                                                                   "matchingRule"))  # fmt: skip
POLICY = NamedKind("Policy", "Policies", "policy", "name", ("compartmentId", "name", "statements"))
REPOSITORY = NamedKind("ContainerRepository", "ContainerRepositories", "containerrepo", "displayName",
                       ("compartmentId", "displayName"))  # fmt: skip


class Api:
    """Routes requests to the cloud state and records every call it answers."""

    def __init__(self, state: CloudState, keyring: Keyring, now: Callable[[], float]) -> None:
        self.state = state
        self.keyring = keyring
        self.now = now
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, int]] = []  # (operation, status), in order
        self._lock = threading.Lock()

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        path, _, query_text = target.partition("?")
        segments = [unquote(part) for part in path.strip("/").split("/")]
        request = Request(method, segments, dict(parse_qsl(query_text)), body, headers)
        operation, handler = self._route(method, segments)
        try:
            self.keyring.verify(method, target, headers)
            self._inject(operation)
            reply = handler(request)
        except NotAuthenticated:
            reply = _error(ApiError(401, "NotAuthenticated", NOT_AUTHENTICATED))
        except ApiError as error:
            reply = _error(error)
        except (KeyError, ValueError, TypeError) as error:
            reply = _error(ApiError(400, "InvalidParameter", f"invalid request: {error}"))
        with self._lock:
            self.calls.append((operation, reply.status))
        return reply

    def _inject(self, operation: str) -> None:
        with self._lock:
            for fault in self.faults:
                if fault.operation == operation and fault.remaining > 0:
                    fault.remaining -= 1
                    raise ApiError(fault.status, fault.code, fault.message)

    def _route(self, method: str, path: list[str]) -> tuple[str, Handler]:
        match (method, path):
            case ("POST", ["20210415", "containerInstances"]):
                return "CreateContainerInstance", self.create_instance
            case ("GET", ["20210415", "containerInstances"]):
                return "ListContainerInstances", self.list_instances
            case ("GET", ["20210415", "containerInstances", _]):
                return "GetContainerInstance", self.get_instance
            case ("DELETE", ["20210415", "containerInstances", _]):
                return "DeleteContainerInstance", self.delete_instance
            case ("GET", ["n"] | ["n", ""]):
                return "GetNamespace", lambda request: Reply(200, self.state.namespace)
            case ("POST", ["n", _, "b"] | ["n", _, "b", ""]):
                return "CreateBucket", self.create_bucket
            case ("GET" | "HEAD", ["n", _, "b", _]):
                return "GetBucket", self.get_bucket
            case ("DELETE", ["n", _, "b", _]):
                return "DeleteBucket", self.delete_bucket
            case ("PUT", ["n", _, "b", _, "l"]):
                return "PutObjectLifecyclePolicy", self.put_lifecycle
            case ("GET", ["n", _, "b", _, "l"]):
                return "GetObjectLifecyclePolicy", self.get_lifecycle
            case ("GET", ["n", _, "b", _, "o"]):
                return "ListObjects", self.list_objects
            case ("PUT", ["n", _, "b", _, "o", *_]):
                return "PutObject", self.put_object
            case ("GET" | "HEAD", ["n", _, "b", _, "o", *_]):
                return "GetObject", self.get_object
            case ("DELETE", ["n", _, "b", _, "o", *_]):
                return "DeleteObject", self.delete_object
            case ("GET", ["20160918", "availabilityDomains"]):
                return "ListAvailabilityDomains", self.list_availability_domains
            case (_, ["20160918", "dynamicGroups", *rest]):
                return self._named(method, rest, DYNAMIC_GROUP, self.state.dynamic_groups)
            case (_, ["20160918", "policies", *rest]):
                return self._named(method, rest, POLICY, self.state.policies)
            case (_, ["20160918", "container", "repositories", *rest]):
                return self._named(method, rest, REPOSITORY, self.state.repositories)
        return "Unknown", lambda request: _error(ApiError(404, "NotFound", f"no such path: {method} /{'/'.join(path)}"))

    # --- container instances -----------------------------------------------------------------------------------

    def create_instance(self, request: Request) -> Reply:
        instance = self.state.create_instance(request.json(), request.headers.get("opc-retry-token"), self.now())
        return Reply(200, instance.to_json(), {"etag": instance.id[-8:], "opc-work-request-id": str(uuid.uuid4())})

    def get_instance(self, request: Request) -> Reply:
        return Reply(200, self.state.get_instance(request.path[2]).to_json())

    def list_instances(self, request: Request) -> Reply:
        found = self.state.list_instances(request.query)
        start, limit = int(request.query.get("page") or 0), int(request.query.get("limit") or 100)
        more = {"opc-next-page": str(start + limit)} if start + limit < len(found) else {}
        return Reply(200, {"items": [i.to_json(summary=True) for i in found[start : start + limit]]}, more)

    def delete_instance(self, request: Request) -> Reply:
        self.state.delete_instance(request.path[2])
        return Reply(202, None, {"opc-work-request-id": str(uuid.uuid4())})

    # --- object storage ----------------------------------------------------------------------------------------

    def create_bucket(self, request: Request) -> Reply:
        return Reply(200, self.state.create_bucket(request.path[1], request.json()).to_json())

    def get_bucket(self, request: Request) -> Reply:
        return Reply(200, self.state.bucket(request.path[1], request.path[3]).to_json())

    def delete_bucket(self, request: Request) -> Reply:
        self.state.delete_bucket(request.path[1], request.path[3])
        return Reply(204)

    def put_lifecycle(self, request: Request) -> Reply:
        rules = request.json().get("items", [])
        for rule in rules:
            if rule.get("action") not in ("DELETE", "ARCHIVE", "INFREQUENT_ACCESS", "ABORT"):
                raise ApiError(400, "InvalidParameter", f"invalid lifecycle action {rule.get('action')!r}")
            if int(rule.get("timeAmount", 0)) <= 0 or rule.get("timeUnit") not in ("DAYS", "YEARS"):
                raise ApiError(400, "InvalidParameter", "a lifecycle rule needs timeAmount > 0 DAYS or YEARS")
        with self.state.lock:
            bucket = self.state.bucket(request.path[1], request.path[3])
            bucket.lifecycle = {"timeCreated": timestamp(), "items": rules}
            return Reply(200, bucket.lifecycle)

    def get_lifecycle(self, request: Request) -> Reply:
        lifecycle = self.state.bucket(request.path[1], request.path[3]).lifecycle
        if lifecycle is None:
            raise ApiError(404, "LifecyclePolicyNotFound", "There is no lifecycle policy for the bucket")
        return Reply(200, lifecycle)

    def list_objects(self, request: Request) -> Reply:
        with self.state.lock:
            names = sorted(self.state.bucket(request.path[1], request.path[3]).objects)
        query = request.query
        prefix, start, limit = query.get("prefix", ""), query.get("start", ""), int(query.get("limit") or 1000)
        names = [name for name in names if name.startswith(prefix) and name >= start]
        page, rest = names[:limit], names[limit:]
        document = {"objects": [{"name": name} for name in page], "prefixes": [], "nextStartWith": None}
        if rest:
            document["nextStartWith"] = rest[0]
        return Reply(200, document)

    def put_object(self, request: Request) -> Reply:
        path = request.path
        stored = self.state.put_object(path[1], path[3], "/".join(path[5:]), request.body)
        return Reply(200, None, {"etag": stored.etag, "last-modified": stored.time_created})

    def get_object(self, request: Request) -> Reply:
        path = request.path
        stored = self.state.get_object(path[1], path[3], "/".join(path[5:]))
        return Reply(200, stored.data, {"etag": stored.etag})

    def delete_object(self, request: Request) -> Reply:
        path = request.path
        self.state.delete_object(path[1], path[3], "/".join(path[5:]))
        return Reply(204)

    # --- identity and artifacts --------------------------------------------------------------------------------

    def list_availability_domains(self, request: Request) -> Reply:
        domains = [{"name": name, "id": f"ocid1.availabilitydomain.oc1..standin{i}", "compartmentId": TENANCY_ID}
                   for i, name in enumerate(AVAILABILITY_DOMAINS)]  # fmt: skip
        return Reply(200, domains)

    def _named(self, method: str, rest: list[str], kind: NamedKind, table: dict[str, dict[str, Any]]) -> tuple[
        str, Handler]:  # fmt: skip
        state = self.state

        def create(request: Request) -> Reply:
            body = request.json()
            if kind is DYNAMIC_GROUP and body.get("compartmentId") != TENANCY_ID:
                raise ApiError(400, "InvalidParameter", "dynamic groups are created in the tenancy (root compartment)")
            return Reply(200, _render(kind, state.create_named(table, kind.ocid_kind, body, kind.name_key,
                                                               kind.required)))  # fmt: skip

        def listing(request: Request) -> Reply:
            query = request.query
            wanted = query.get(kind.name_key, query.get("name"))
            with state.lock:
                found = [_render(kind, record) for record in table.values()
                         if record["compartmentId"] == query.get("compartmentId", record["compartmentId"])
                         and wanted in (None, record[kind.name_key])]  # fmt: skip
            if kind is REPOSITORY:
                return Reply(200, {"items": found, "repositoryCount": len(found), "imageCount": 0, "layerCount": 0,
                                   "layersSizeInBytes": 0, "remainingItemsCount": 0})  # fmt: skip
            return Reply(200, found)

        def get(request: Request) -> Reply:
            with state.lock:
                if rest[0] not in table:
                    raise not_found(rest[0])
                return Reply(200, _render(kind, table[rest[0]]))

        def delete(request: Request) -> Reply:
            state.delete_named(table, rest[0])
            return Reply(204)

        if not rest or rest == [""]:
            return (f"Create{kind.operation}", create) if method == "POST" else (f"List{kind.plural}", listing)
        return (f"Delete{kind.operation}", delete) if method == "DELETE" else (f"Get{kind.operation}", get)


def _render(kind: NamedKind, record: dict[str, Any]) -> dict[str, Any]:
    if kind is not REPOSITORY:
        return record
    return {"namespace": "standinns", "isPublic": False, "isImmutable": False, "imageCount": 0, "layerCount": 0,
            "layersSizeInBytes": 0, "billableSizeInGBs": 0, "createdBy": "stand-in", **record,
            "lifecycleState": "AVAILABLE"}  # fmt: skip


def _error(error: ApiError) -> Reply:
    return Reply(error.status, {"code": error.code, "message": error.message})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and the 100-continue the SDK asks for on object uploads
    api: Api

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.api.handle(self.command, self.path, headers, body)
        if isinstance(reply.body, bytes):
            payload, content_type = reply.body, "application/octet-stream"
        elif reply.body is None:
            payload, content_type = b"", "application/json"
        else:
            payload, content_type = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.send_header("opc-request-id", uuid.uuid4().hex.upper())
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the Api keeps its own record of calls


def serve(api: Api, port: int = 0) -> ThreadingHTTPServer:
    handler = type("StandInHandler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="oci-standin-http", daemon=True).start()
    return server
