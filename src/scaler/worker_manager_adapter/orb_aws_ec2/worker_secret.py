"""How the workers on ORB's instances get their credentials: from AWS Secrets Manager, never from the user data.

An EC2 instance has no per-instance environment to put them in, and its user data is no place for a secret
(anything on the instance reads it from the metadata service, and ``DescribeInstanceAttribute`` shows it in the
console). So a manager started with credentials stores their text as a secret of its own (tagged with its
host:pid, like its temporary key pair), and the user data only names it: at boot the instance reads it (with the
instance profile given by ``--instance-profile``, whose role needs ``secretsmanager:GetSecretValue`` on it) into
``SCALER_CREDENTIALS``, in the workers' environment only. The manager deletes the secret on exit; the next
manager on this host deletes one whose maker crashed.

``python -m scaler.worker_manager_adapter.orb_aws_ec2.worker_secret REGION NAME`` prints the secret's text: what
the boot script runs, with the Python that runs scaler on the instance.
"""

from __future__ import annotations

import logging
import shlex
import sys
import uuid
from typing import Protocol

from scaler.worker_manager_adapter.orb_aws_ec2.temporary import owner_gone, this_owner

logger = logging.getLogger("scaler.orb_aws_ec2")


class SecretApi(Protocol):
    def create_secret(self, name: str, text: str, owner: str) -> None: ...

    def temporary_secrets(self) -> dict[str, str]: ...

    def delete_secret(self, name: str) -> None: ...


class WorkerSecret:
    def __init__(self, api: SecretApi) -> None:
        self._api = api
        self.name: str | None = None

    def remove_leftovers(self) -> None:
        for name, owner in self._api.temporary_secrets().items():
            if owner_gone(owner):
                logger.info("deleting secret %s left by a manager that is gone (%s)", name, owner)
                self._try_delete(name)

    def create(self, text: str) -> str:
        self.name = f"scaler-worker-credentials-{uuid.uuid4().hex[:12]}"
        self._api.create_secret(self.name, text, this_owner())
        return self.name

    def delete(self) -> None:
        if self.name is not None:
            self._try_delete(self.name)
            self.name = None

    def _try_delete(self, name: str) -> None:
        try:
            self._api.delete_secret(name)
        except Exception as error:
            logger.warning("could not delete secret %s: %s", name, error)


def boot_lines(region: str, secret_name: str) -> str:
    """Bash that sets ``SCALER_CREDENTIALS`` from the secret (for the commands after it), or ends the boot script
    with the reason. The Python is the one of ``scaler_worker_manager`` (its script's first line)."""
    fetch = f'"$python" -m {__name__} {shlex.quote(region)} {shlex.quote(secret_name)}'
    return (
        'python="$(head -n 1 "$(command -v scaler_worker_manager)" | sed "s/^#!//")"\n'
        f'SCALER_CREDENTIALS="$({fetch})" || {{ echo "cannot read the workers\' credentials" >&2; exit 1; }}\n'
        "export SCALER_CREDENTIALS\n"
    )


def main(argv: list[str]) -> int:
    from scaler.worker_manager_adapter.aws_common.sdk import boto3_session

    region, name = argv
    client = boto3_session("orb_aws_ec2", region, extra="orb").client("secretsmanager")
    sys.stdout.write(client.get_secret_value(SecretId=name)["SecretString"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
