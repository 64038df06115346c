"""Temporary key pairs and security groups: made when the user gives none, deleted on exit, and deleted by
the next manager on this host when the one that made them crashed (each is tagged with its maker's host:pid)."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Protocol

logger = logging.getLogger("scaler.orb_aws_ec2")


class TemporaryApi(Protocol):
    def create_temporary_key_pair(self, name: str, owner: str) -> None: ...

    def create_temporary_security_group(self, name: str, subnet_id: str, owner: str) -> str: ...

    def temporary_resources(self) -> tuple[dict[str, str], dict[str, str]]: ...

    def delete_key_pair(self, name: str) -> None: ...

    def delete_security_group(self, group_id: str) -> None: ...


def this_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_gone(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's manager: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class TemporaryResources:
    def __init__(self, api: TemporaryApi) -> None:
        self._api = api
        self._owner = this_owner()
        self.key_name: str | None = None
        self.security_group_id: str | None = None

    def remove_leftovers(self) -> None:
        """Delete what managers on this host that no longer run left behind (they crashed)."""
        keys, groups = self._api.temporary_resources()
        for name, owner in keys.items():
            if owner_gone(owner):
                logger.info("deleting key pair %s left by a manager that is gone (%s)", name, owner)
                self._try(self._api.delete_key_pair, name)
        for group_id, owner in groups.items():
            if owner_gone(owner):
                logger.info("deleting security group %s left by a manager that is gone (%s)", group_id, owner)
                self._try(self._api.delete_security_group, group_id)

    def create_key_pair(self) -> str:
        self.key_name = f"scaler-{uuid.uuid4().hex[:12]}"
        self._api.create_temporary_key_pair(self.key_name, self._owner)
        return self.key_name

    def create_security_group(self, subnet_id: str) -> str:
        self.security_group_id = self._api.create_temporary_security_group(
            f"scaler-{uuid.uuid4().hex[:12]}", subnet_id, self._owner
        )
        return self.security_group_id

    def delete(self, attempts: int = 10) -> None:
        if self.key_name is not None:
            self._try(self._api.delete_key_pair, self.key_name)
            self.key_name = None
        # A group still attached to an instance that is shutting down cannot be deleted yet: retry for a while.
        for attempt in range(attempts):
            if self.security_group_id is None or self._try(self._api.delete_security_group, self.security_group_id):
                self.security_group_id = None
                return
            time.sleep(min(2.0 * (attempt + 1), 10.0))

    @staticmethod
    def _try(call: object, argument: str) -> bool:
        try:
            call(argument)  # type: ignore[operator]
        except Exception as error:
            logger.warning("could not delete %s: %s", argument, error)
            return False
        return True
