"""Validate an oci_hpc set-up, phase by phase, against the tenancy a provisioner config file describes.

    python tests/worker_manager_adapter/oci_hpc/oci_hpc_test_harness.py --config .scaler_oci_config.json

Phases (each prints PASS or FAIL with the reason; a failed phase skips the ones that depend on it):

    auth      the credentials work and the Object Storage namespace is the recorded one
    bucket    an object round trip (put, list, get, delete) under the task prefix
    instance  one container instance of the job runner image starts, runs a payload and ends INACTIVE
    task      one task end to end through the oci_hpc backend the manager uses (result and raised exception)
    cleanup   nothing this harness made is left: no instance of it alive, no object under its prefix

It talks to whatever the config file names, including an ``oci_endpoint`` override; the test suite runs it
against the local stand-in, and the same command validates a real tenancy. Exit status 0 when every phase passed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle

from scaler.worker_manager_adapter.job_proxy.payload import build_payload, parse_outcome
from scaler.worker_manager_adapter.oci_common.models import (
    TERMINAL_STATES,
    InstanceSpec,
    OciConnection,
    OciError,
    OciSetupError,
)

PHASES = ("auth", "bucket", "instance", "task", "cleanup")


def harness_square(x: int) -> int:
    return x * x


def harness_raise() -> None:
    raise ArithmeticError("raised inside the container on purpose")


def payload_of(function: Callable[..., Any], *args: Any) -> bytes:
    return build_payload(None, cloudpickle.dumps(function), [cloudpickle.dumps(arg) for arg in args], {})


class Harness:
    def __init__(self, config: dict[str, Any], timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        self.run_id = f"harness-{uuid.uuid4().hex[:8]}"
        self.prefix = f"{config['object_storage_prefix'].strip('/')}/{self.run_id}"
        self.gateway: Any = None
        self.instance_ids: list[str] = []

    # --- phases --------------------------------------------------------------------------------------------------

    def auth(self) -> str:
        from scaler.worker_manager_adapter.oci_common.gateway import OciGateway

        auth = self.config.get("auth", {})
        connection = OciConnection(
            region=self.config["region"], auth_type=auth.get("auth_type", "config_file"),
            profile=auth.get("profile", "DEFAULT"), config_file=auth.get("config_file", "~/.oci/config"),
            endpoint=self.config.get("oci_endpoint"),
        )  # fmt: skip
        self.gateway = OciGateway.connect(connection)
        namespace = self.gateway.namespace()
        if namespace != self.config["namespace"]:
            raise AssertionError(f"namespace is {namespace!r}, the config file records {self.config['namespace']!r}")
        return f"authenticated; namespace {namespace}"

    def bucket(self) -> str:
        namespace, bucket, name = self.config["namespace"], self.config["bucket"], f"{self.prefix}/probe"
        self.gateway.put_object(namespace, bucket, name, b"scaler harness probe")
        listed = self.gateway.list_objects(namespace, bucket, self.prefix)
        data = self.gateway.get_object(namespace, bucket, name)
        self.gateway.delete_object(namespace, bucket, name)
        if listed != [name] or data != b"scaler harness probe":
            raise AssertionError(f"round trip mismatch: listed {listed}, read {data!r}")
        return f"put, list, get and delete in {bucket}/{self.prefix}/"

    def instance(self) -> str:
        namespace, bucket = self.config["namespace"], self.config["bucket"]
        payload, result = f"{self.prefix}/instance/payload.pkl", f"{self.prefix}/instance/result.pkl"
        self.gateway.put_object(namespace, bucket, payload, payload_of(harness_square, 12))
        environment = {"SCALER_JOB_NAMESPACE": namespace, "SCALER_JOB_BUCKET": bucket,
                       "SCALER_JOB_PAYLOAD_OBJECT": payload, "SCALER_JOB_RESULT_OBJECT": result}  # fmt: skip
        endpoint = self._connection_endpoint()
        if endpoint:
            environment["SCALER_OCI_OBJECT_STORAGE_ENDPOINT"] = endpoint
        info = self.gateway.create_instance(self._spec(f"scaler-{self.run_id}", environment))
        self.instance_ids.append(info.id)
        states = [info.state]
        deadline = time.monotonic() + self.timeout
        while states[-1] not in TERMINAL_STATES:
            if time.monotonic() > deadline:
                raise AssertionError(f"instance {info.id} still {states[-1]} after {self.timeout:g}s")
            time.sleep(1.0)
            current = self.gateway.get_instance(info.id)
            state = current.state if current else "DELETED"
            if state != states[-1]:
                states.append(state)
        final = self.gateway.get_instance(info.id)
        self.gateway.delete_instance(info.id)
        output = self.gateway.get_object(namespace, bucket, result)
        for name in (payload, result):
            self.gateway.delete_object(namespace, bucket, name)
        if states[-1] != "INACTIVE" or output is None:
            details = final.details if final else ""
            raise AssertionError(
                f"instance went {' -> '.join(states)} ({details}); result object: {output is not None}"
            )
        succeeded, value = parse_outcome(output)
        if not succeeded or cloudpickle.loads(value) != 144:
            raise AssertionError("the job runner did not return 12 ** 2")
        return f"{' -> '.join(states)}; the job runner returned 12 ** 2 = 144"

    def task(self) -> str:
        from scaler.worker_manager_adapter.oci_hpc.backend import HpcJobSettings, OciHpcBackend

        endpoint = self._connection_endpoint()
        settings = HpcJobSettings(
            manager_id=self.run_id, namespace=self.config["namespace"], bucket=self.config["bucket"],
            prefix=self.config["object_storage_prefix"], instance=self._spec("", {}), max_instances=2,
            poll_interval_seconds=1.0,
            runner_environment={"SCALER_OCI_OBJECT_STORAGE_ENDPOINT": endpoint} if endpoint else {},
        )  # fmt: skip
        backend = OciHpcBackend(self.gateway, settings)
        try:
            backend.submit("square", payload_of(harness_square, 7))
            backend.submit("raise", payload_of(harness_raise))
            outcomes: dict[str, Any] = {}
            deadline = time.monotonic() + self.timeout
            while len(outcomes) < 2:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no outcome after {self.timeout:g}s (got {sorted(outcomes)})")
                outcomes.update((outcome.job_key, outcome) for outcome in backend.poll())
                time.sleep(0.2)
        finally:
            backend.close()
        for key, outcome in outcomes.items():
            if outcome.output is None:
                raise AssertionError(f"task {key} failed: {outcome.error}")
        ok, value = parse_outcome(outcomes["square"].output)
        raised_ok, error = parse_outcome(outcomes["raise"].output)
        if not ok or cloudpickle.loads(value) != 49:
            raise AssertionError("the square task did not return 49")
        if raised_ok or not isinstance(cloudpickle.loads(error), ArithmeticError):
            raise AssertionError("the raising task did not return its exception")
        return "a result (7 ** 2 = 49) and an exception (ArithmeticError) came back through Object Storage"

    def cleanup(self) -> str:
        namespace, bucket = self.config["namespace"], self.config["bucket"]
        for name in self.gateway.list_objects(namespace, bucket, self.prefix):
            self.gateway.delete_object(namespace, bucket, name)
        for instance_id in self.instance_ids:
            self.gateway.delete_instance(instance_id)
        deadline = time.monotonic() + self.timeout
        while True:
            alive = [i for i in self._own_instances() if i.state not in ("DELETING", "DELETED")]
            left = self.gateway.list_objects(namespace, bucket, self.prefix)
            if not alive and not left:
                return "no instance and no object of this run is left"
            if time.monotonic() > deadline:
                raise AssertionError(f"left behind: {len(alive)} instance(s), objects {left}")
            time.sleep(1.0)

    # --- helpers -------------------------------------------------------------------------------------------------

    def _own_instances(self) -> list[Any]:
        listed = self.gateway.list_instances(self.config["compartment_id"], self.config["availability_domain"])
        return [i for i in listed if i.id in self.instance_ids or i.freeform_tags.get("scaler-manager-id") ==
                self.run_id]  # fmt: skip

    def _connection_endpoint(self) -> str | None:
        endpoint: str | None = self.gateway.session.connection.endpoint_for("object_storage")
        return endpoint

    def _spec(self, name: str, environment: dict[str, str]) -> InstanceSpec:
        config = self.config
        return InstanceSpec(
            display_name=name, compartment_id=config["compartment_id"],
            availability_domain=config["availability_domain"], subnet_id=config["subnet_id"],
            shape=config.get("instance_shape", "CI.Standard.E4.Flex"), ocpus=config.get("instance_ocpus", 1.0),
            memory_gb=config.get("instance_memory_gb", 6.0), image_url=config["container_image"],
            environment=environment, freeform_tags={"scaler-manager-id": self.run_id}, restart_policy="NEVER",
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate an oci_hpc set-up against the tenancy of a config file.")
    parser.add_argument("--config", default=".scaler_oci_config.json", help="the provisioner's config file")
    parser.add_argument("--timeout-seconds", type=float, default=900.0, help="limit of each waiting phase")
    args = parser.parse_args(argv)
    try:
        config = json.loads(Path(args.config).read_text())
    except (OSError, ValueError) as error:
        print(f"harness: cannot read {args.config}: {error}", file=sys.stderr)
        return 2
    harness = Harness(config, args.timeout_seconds)
    failed = False
    for phase in PHASES:
        if failed and phase != "cleanup":
            print(f"SKIP {phase}")
            continue
        if phase == "cleanup" and harness.gateway is None:
            print("SKIP cleanup (no connection)")
            continue
        started = time.monotonic()
        try:
            detail = getattr(harness, phase)()
        except (OciError, OciSetupError, AssertionError, KeyError) as error:
            failed = True
            print(f"FAIL {phase}: {type(error).__name__ if isinstance(error, KeyError) else ''}{error}")
            continue
        print(f"PASS {phase} ({time.monotonic() - started:.1f}s): {detail}")
    print("all phases passed" if not failed else "some phases failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
