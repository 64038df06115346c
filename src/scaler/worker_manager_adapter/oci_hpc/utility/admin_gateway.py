"""The SDK calls of the provisioner: buckets and their lifecycle, dynamic groups, policies, OCIR repositories.

Like ``oci_common.gateway`` (whose session, error translation and object calls it reuses), it is the only place
the provisioner touches the ``oci`` SDK. Creates return the new resource's id, or ``None`` when a resource of that
name already exists (the provisioner then leaves it alone: it only ever removes what it created); deletes return
False when the resource was already gone, so that a second clean-up is harmless.
"""

from __future__ import annotations

from typing import Any

import oci

from scaler.worker_manager_adapter.oci_common.gateway import OciGateway, OciSession
from scaler.worker_manager_adapter.oci_common.models import OciError


class AdminGateway(OciGateway):
    def __init__(self, session: OciSession) -> None:
        super().__init__(session)

    @property
    def tenancy_id(self) -> str:
        return self.session.tenancy_id

    def _identity(self) -> Any:
        return self.session.client("identity", oci.identity.IdentityClient)

    def _artifacts(self) -> Any:
        return self.session.client("artifacts", oci.artifacts.ArtifactsClient)

    def _storage(self) -> Any:
        return self.session.client("object_storage", oci.object_storage.ObjectStorageClient)

    # --- object storage ----------------------------------------------------------------------------------------

    def create_bucket(self, namespace: str, name: str, compartment_id: str) -> bool:
        """Create a private bucket; False when one of that name already exists."""
        details = oci.object_storage.models.CreateBucketDetails(
            name=name, compartment_id=compartment_id, public_access_type="NoPublicAccess"
        )
        return _created(lambda: self.session.call("CreateBucket", self._storage().create_bucket, namespace, details))

    def expire_objects_after(self, namespace: str, bucket: str, prefix: str, days: int) -> None:
        """A lifecycle rule deleting objects under ``prefix`` ``days`` after their creation (replaces the policy)."""
        models = oci.object_storage.models
        rule = models.ObjectLifecycleRule(
            name="scaler-expire-task-objects",
            action="DELETE",
            time_amount=days,
            time_unit="DAYS",
            is_enabled=True,
            object_name_filter=models.ObjectNameFilter(inclusion_prefixes=[prefix]),
        )
        details = models.PutObjectLifecyclePolicyDetails(items=[rule])
        client = self._storage()
        self.session.call("PutObjectLifecyclePolicy", client.put_object_lifecycle_policy, namespace, bucket, details)

    def delete_bucket(self, namespace: str, name: str) -> bool:
        """Delete a bucket and every object in it; False when it was already gone."""
        try:
            for object_name in self.list_objects(namespace, name):
                self.delete_object(namespace, name, object_name)
            self.session.call("DeleteBucket", self._storage().delete_bucket, namespace, name)
        except OciError as error:
            if error.not_found:
                return False
            raise
        return True

    # --- identity ------------------------------------------------------------------------------------------------

    def create_dynamic_group(self, name: str, matching_rule: str, description: str) -> str | None:
        details = oci.identity.models.CreateDynamicGroupDetails(
            compartment_id=self.tenancy_id, name=name, matching_rule=matching_rule, description=description
        )
        return _created_id(lambda: self.session.call("CreateDynamicGroup", self._identity().create_dynamic_group,
                                                     details))  # fmt: skip

    def delete_dynamic_group(self, dynamic_group_id: str) -> bool:
        return _deleted(lambda: self.session.call("DeleteDynamicGroup", self._identity().delete_dynamic_group,
                                                  dynamic_group_id))  # fmt: skip

    def create_policy(self, compartment_id: str, name: str, statements: list[str], description: str) -> str | None:
        details = oci.identity.models.CreatePolicyDetails(
            compartment_id=compartment_id, name=name, statements=statements, description=description
        )
        return _created_id(lambda: self.session.call("CreatePolicy", self._identity().create_policy, details))

    def delete_policy(self, policy_id: str) -> bool:
        return _deleted(lambda: self.session.call("DeletePolicy", self._identity().delete_policy, policy_id))

    # --- artifacts (OCIR) ----------------------------------------------------------------------------------------

    def create_repository(self, compartment_id: str, name: str) -> str | None:
        details = oci.artifacts.models.CreateContainerRepositoryDetails(
            compartment_id=compartment_id, display_name=name, is_public=False
        )
        client = self._artifacts()
        return _created_id(lambda: self.session.call("CreateContainerRepository",
                                                     client.create_container_repository, details))  # fmt: skip

    def delete_repository(self, repository_id: str) -> bool:
        client = self._artifacts()
        return _deleted(lambda: self.session.call("DeleteContainerRepository", client.delete_container_repository,
                                                  repository_id))  # fmt: skip


def _already_exists(error: OciError) -> bool:
    # 409 is how every one of these services says "that name is taken" (BucketAlreadyExists,
    # NotAuthorizedOrResourceAlreadyExists, ...); the codes differ between services.
    return error.status == 409


def _created(call: Any) -> bool:
    try:
        call()
    except OciError as error:
        if _already_exists(error):
            return False
        raise
    return True


def _created_id(call: Any) -> str | None:
    try:
        return str(call().data.id)
    except OciError as error:
        if _already_exists(error):
            return None
        raise


def _deleted(call: Any) -> bool:
    try:
        call()
    except OciError as error:
        if error.not_found:
            return False
        raise
    return True
